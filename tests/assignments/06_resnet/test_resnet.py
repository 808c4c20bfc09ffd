"""Notebook 06 (ResNet), in-process and fast: the identity-block property, the explorer's logic, and the usual
mistakes, each of which must lose its own block's points (and the whole-network check's, where the network repeats
it) and no others, with a message that names the block.

The notebook's own cells run here, with the solutions filled in (tests/course.py), on mutated copies of the
reference blocks. The exact parameter and MAC counts of ResNet-18 to -152 are in tests/test_reference_numbers.py.
"""

from __future__ import annotations

import contextlib
import io

import nbformat
import pytest
import torch
from course import SOLUTION_REGION, SOLUTIONS, explorer_cell, nbgrader_meta, solution_code
from torch import nn

from cnnlab import summarize
from cnnlab.errors import CheckFailed

NOTEBOOK = "06_resnet/resnet.ipynb"
BUILD_CELLS = ("basic_block", "bottleneck_block", "identity_helpers", "resnet_builder")
CHECK_CELLS = (
    "basic_block_check",
    "basic_identity_check",
    "bottleneck_check",
    "bottleneck_identity_check",
    "resnet_basic_check",
    "resnet_bottleneck_check",
)
BASIC_CHECKS = {"basic_block_check", "basic_identity_check"}
BOTTLENECK_CHECKS = {"bottleneck_check", "bottleneck_identity_check"}
# Whole-network checks only count: they run on the meta device, which counts exactly the same, without
# initialising 60M weights.
COUNTING_CELLS = {"resnet_basic_check", "resnet_bottleneck_check"}


def cells_by_id() -> dict[str, str]:
    """{grade id: source with the solutions filled in}, plus "imports" for the first code cell."""
    cells = [c for c in nbformat.read(SOLUTIONS / NOTEBOOK, as_version=4).cells if c.cell_type == "code"]
    sources = {"imports": cells[0].source}
    for cell in cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id:
            sources[grade_id] = SOLUTION_REGION.sub(lambda m: m.group(1), cell.source)
    return sources


CELLS = cells_by_id()


def mutate(source: str, old: str, new: str) -> str:
    assert source.count(old) == 1, f"the reference solution no longer holds {old!r}: update this test"
    return source.replace(old, new)


def grade(mutations: dict[str, list[tuple[str, str]]]) -> dict[str, str | None]:
    """Runs the build cells (mutated) and every check cell, hidden tests included, as nbgrader would: {check: None
    if it passed, else its failure message}."""
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(CELLS["imports"], namespace)
        for grade_id in BUILD_CELLS:
            source = CELLS[grade_id]
            for old, new in mutations.get(grade_id, []):
                source = mutate(source, old, new)
            exec(compile(source, grade_id, "exec"), namespace)
        results = {}
        for grade_id in CHECK_CELLS:
            device = torch.device("meta") if grade_id in COUNTING_CELLS else contextlib.nullcontext()
            try:
                with device:
                    exec(compile(CELLS[grade_id], grade_id, "exec"), dict(namespace))
            except CheckFailed as failure:
                results[grade_id] = str(failure)
            else:
                results[grade_id] = None
    return results


def failed(results: dict[str, str | None]) -> set[str]:
    return {grade_id for grade_id, message in results.items() if message is not None}


def test_the_reference_solution_passes_every_check():
    assert failed(grade({})) == set()


# Each mistake: where it is made, the edit that makes it, the checks it must fail (all others must pass), and the
# words its first failure must contain.
MISTAKES = {
    "basic block without its shortcut": (
        "basic_block",
        [("            out = out + self.shortcut(x)\n", "            pass\n")],
        BASIC_CHECKS | {"resnet_basic_check"},
        "BasicBlock(",
    ),
    "basic block: identity shortcut where a projection is needed": (
        "basic_block",
        [("            if stride != 1 or in_channels != out_channels:", "            if False:")],
        {"basic_block_check", "resnet_basic_check"},
        "BasicBlock(64, 128, stride=2) failed",
    ),
    "basic block: stride on the second conv": (
        "basic_block",
        [
            ("3, stride=stride, padding=1, bias=False)", "3, padding=1, bias=False)"),
            (
                "out_channels, 3, padding=1, bias=False)",
                "out_channels, 3, stride=stride, padding=1, bias=False)",
            ),
        ],
        {"basic_block_check", "resnet_basic_check"},
        "BasicBlock(64, 128, stride=2) MACs",
    ),
    "basic block: ReLU before the addition": (
        "basic_block",
        [
            ("out = self.bn2(self.conv2(out))", "out = self.relu(self.bn2(self.conv2(out)))"),
            ("        return self.relu(out)\n", "        return out\n"),
        ],
        {"basic_identity_check"},
        "BasicBlock(64, 64)",
    ),
    "basic block: ReLU before the addition and after it": (
        "basic_block",
        [("out = self.bn2(self.conv2(out))", "out = self.relu(self.bn2(self.conv2(out)))")],
        {"basic_identity_check"},
        "BasicBlock(32, 32) with F(x) = -1",
    ),
    "bottleneck without its shortcut": (
        "bottleneck_block",
        [("            out = out + self.shortcut(x)\n", "            pass\n")],
        BOTTLENECK_CHECKS | {"resnet_bottleneck_check"},
        "Bottleneck(",
    ),
    "bottleneck: identity shortcut where a projection is needed": (
        "bottleneck_block",
        [("            if stride != 1 or in_channels != out_channels:", "            if False:")],
        {"bottleneck_check", "resnet_bottleneck_check"},
        "Bottleneck(64, 64) failed",
    ),
    "bottleneck: stride on the first 1×1 conv (the paper's v1)": (
        "bottleneck_block",
        [
            (
                "nn.Conv2d(in_channels, channels, 1, bias=False)",
                "nn.Conv2d(in_channels, channels, 1, stride, bias=False)",
            ),
            ("channels, 3, stride=stride, padding=1, bias=False)", "channels, 3, padding=1, bias=False)"),
        ],
        {"bottleneck_check", "resnet_bottleneck_check"},
        "Bottleneck(256, 128, stride=2) MACs",
    ),
    "bottleneck: ReLU before the addition": (
        "bottleneck_block",
        [
            ("out = self.bn3(self.conv3(out))", "out = self.relu(self.bn3(self.conv3(out)))"),
            ("        return self.relu(out)\n", "        return out\n"),
        ],
        {"bottleneck_identity_check"},
        "Bottleneck(256, 64)",
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_usual_mistake_loses_its_own_points_and_names_the_block(mistake):
    cell, edits, must_fail, words = MISTAKES[mistake]
    results = grade({cell: edits})
    assert failed(results) == must_fail, {k: v for k, v in results.items() if v}
    first = results[next(c for c in CHECK_CELLS if c in must_fail)]
    assert words in first, first
    assert "Traceback" not in first


@pytest.fixture(scope="module")
def blocks():
    return solution_code(NOTEBOOK, *BUILD_CELLS)


@pytest.mark.parametrize(
    "make, shape", [("BasicBlock(64, 64)", (64, 7, 7)), ("Bottleneck(256, 64)", (256, 7, 7))]
)
def test_a_zeroed_last_batch_norm_makes_the_block_the_identity(blocks, make, shape):
    block = eval(make, blocks)
    x = torch.rand(4, *shape)
    assert not torch.equal(block.eval()(x), x)  # an untouched block is not the identity
    blocks["zero_last_batch_norm"](block, shape)
    assert torch.equal(block(x), x)  # exactly, on a non-negative input
    negative = -torch.rand(4, *shape)
    assert torch.count_nonzero(block(negative)) == 0  # the last ReLU follows the addition
    # training mode too: the batch norm's output is then beta = 0 whatever the batch's statistics
    assert torch.equal(block.train()(x), x)


def test_a_plain_block_is_not_the_identity(blocks):
    block = blocks["zero_last_batch_norm"](blocks["BasicBlock"](16, 16, residual=False), (16, 5, 5))
    assert torch.count_nonzero(block(torch.rand(2, 16, 5, 5))) == 0


class RegisteredBackwards(nn.Module):
    """Its last batch norm in the forward pass is the first one registered."""

    def __init__(self):
        super().__init__()
        self.late = nn.BatchNorm2d(8)
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.early = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.late(self.conv(self.early(x)))


def test_the_last_batch_norm_is_found_by_running_order_not_by_name(blocks):
    block = RegisteredBackwards()
    assert blocks["last_batch_norm"](block, (8, 5, 5)) is block.late


# --- the explorer: the notebook's own cell, over the reference classes ------------------------------------------
@pytest.fixture(scope="module")
def family(blocks):
    return solution_code(NOTEBOOK, *BUILD_CELLS, "explorer_build")


@pytest.fixture
def explorer(family):
    return eval(explorer_cell(NOTEBOOK), dict(family))


def test_the_explorer_starts_at_resnet50(explorer, family):
    assert explorer.values["block"] == "bottleneck"
    assert explorer.summary.total_params == 25_557_032 and explorer.summary.total_macs == 4_089_184_256
    assert "25,557,032" in explorer.table_html and explorer.message == ""
    assert set(explorer.controls) == {"block", "stage1", "stage2", "stage3", "stage4", "width", "input_size"}


def test_the_explorer_moves_between_the_resnets_and_shows_the_difference_to_resnet50(explorer, family):
    explorer.controls["block"].value = "basic"  # as a student picks it
    assert explorer.summary.total_params == 21_797_672  # ResNet-34
    diff = explorer.diff
    assert (diff.params.before, diff.params.after) == (25_557_032, 21_797_672)
    assert (diff.macs.before, diff.macs.after) == (4_089_184_256, 3_663_761_408)
    assert "25.6M → 21.8M" in explorer.diff_html

    explorer.set(block="bottleneck", stage2=8, stage3=36)  # ResNet-152
    assert explorer.summary.total_params == 60_192_808
    explorer.set(stage2=4, stage3=6, width=32)
    resnet = family["ResNet"]
    assert explorer.summary == summarize(resnet(family["Bottleneck"], (3, 4, 6, 3), width=32), (3, 224, 224))
    explorer.set(width=64, input_size=320)  # the input changes the MACs and the memory, not the parameters
    assert explorer.summary.total_params == 25_557_032
    assert explorer.summary.total_macs == summarize(family["resnet"](50), (3, 320, 320)).total_macs
    assert explorer.diff.params.delta == 0 and explorer.diff.macs.delta > 0
