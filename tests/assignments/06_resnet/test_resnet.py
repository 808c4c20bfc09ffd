"""Notebook 06 (ResNet), in-process and fast: the identity-block property, the explorer's logic and its moves in
code, the diagram of ResNet-50 and the trained mini's feature maps, and what their text says; the whole-network
checks, which count the assembly with stand-in blocks; the degradation experiment's seed record and the verdict it
prints; and the usual mistakes, each of which must lose its own step's points and no others (a block's mistake its
block's checks, the builder's the whole-network checks), with a message that names the step.

The notebook's own cells run here, with the solutions filled in (tests/course.py). The usual mistakes are data, in
mistakes.toml beside this file (fair_grading.py runs them). The exact parameter and MAC counts of ResNet-18 to -152
are in tests/test_reference_numbers.py.
"""

from __future__ import annotations

import json
import re

import pytest
import torch
from course import ROOT, explorer_cell, solution_code
from fair_grading import *  # noqa: F403  (the tests every unit runs, on this unit's mistakes.toml)
from harness import Mistake, tomllib, unit
from shown_cells import cell_calling, first_explorer, index_of, move_cell, run_cell, source_of, text_before
from torch import nn

from cnnlab import load_course_data, summarize
from cnnlab.history import History

NOTEBOOK = "06_resnet/resnet.ipynb"
BUILD_CELLS = ("basic_block", "bottleneck_block", "identity_helpers", "resnet_builder")


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


def test_the_authoring_guide_shows_a_real_mistake_of_this_unit():
    """docs/authoring.md adds a one-mistake case with an entry of this unit's mistakes.toml: the same entry."""
    guide = (ROOT / "docs" / "authoring.md").read_text()
    (example,) = re.findall(r"```toml\n(.*?)```", guide, re.S)
    (entry,) = tomllib.loads(example)["mistake"]
    assert Mistake.from_entry(entry) in unit("06_resnet").mistakes


# --- what the ungraded cells show ----------------------------------------------------------------------------------


def test_the_diagram_of_resnet50_follows_its_checks_and_shows_every_shortcut_and_its_projections(blocks):
    index, source = cell_calling(NOTEBOOK, "draw")
    assert index_of(NOTEBOOK, "resnet_bottleneck_check") < index < first_explorer(NOTEBOOK)
    text = text_before(NOTEBOOK, index)
    assert "3, 4, 6 and 3 bottlenecks, 16 blocks in all" in text and "(×2, ×3, ×5 and ×2)" in text
    assert "into four stage boxes, `stage1` to `stage4`" in text
    diagram = run_cell(source, dict(blocks))
    # the flat list of 16 blocks is drawn as the lecture's 4 stages: 4 stage boxes of 3, 4, 6 and 3 blocks, each
    # its first block and one box ×N for the others
    stages = [diagram.boxes[child] for child in diagram.box("stages").children]
    assert [(stage.name, stage.kind, stage.blocks) for stage in stages] == [
        ("stages.stage1", "stage", 3),
        ("stages.stage2", "stage", 4),
        ("stages.stage3", "stage", 6),
        ("stages.stage4", "stage", 3),
    ]
    for stage, blocks_in_stage in zip(stages, (3, 4, 6, 3)):
        assert [diagram.boxes[child].repeat for child in stage.children] == [1, blocks_in_stage - 1]
    adds = [node for node in diagram.nodes if node.kind == "add"]
    assert sum(add.repeat for add in adds) == 16  # one addition per block; a run drawn ×N counts its N
    assert sorted(add.repeat for add in adds if add.repeat > 1) == [
        2,
        2,
        3,
        5,
    ]  # each stage's blocks after its first
    projected = []
    for add in adds:
        block = add.name.removesuffix("/add")  # "stages.3/add": the block that adds
        conv1 = diagram.node(f"{block}.conv1")
        (block_input,) = diagram.inputs_of(conv1)
        # two inputs: the last batch norm and the shortcut, which arrives as a skip
        (shortcut,) = [node for node in diagram.inputs_of(add) if node.name != f"{block}.bn3"]
        assert shortcut.name.startswith(f"{block}.shortcut")
        (skip,) = [edge for edge in diagram.edges if edge.target == add.id and edge.skip]
        assert (
            diagram.nodes[skip.source] == shortcut
        )  # the dashed edge is the shortcut's, not the main path's
        projection = [n.kind for n in diagram.nodes if n.name.startswith(f"{block}.shortcut.")]
        if block_input.shape != add.shape:  # the shape changes: a 1×1 conv and its batch norm
            assert (
                projection == ["Conv2d", "BatchNorm2d"]
                and "1×1" in diagram.node(f"{block}.shortcut.0").config
            )
            projected.append(block)
        else:
            assert projection == [] and shortcut.kind == "Identity"
    assert projected == ["stages.0", "stages.3", "stages.7", "stages.13"]  # the first block of each stage
    assert diagram.node("stem.3").shape == (64, 56, 56) and diagram.node("head.0").shape[0] == 2048
    assert diagram.inputs_of(diagram.node("head.0"))[0].shape == (2048, 7, 7)
    hottest = max(diagram.nodes, key=diagram.share)  # as the text says
    assert hottest.kind == "Conv2d" and "3×3" in hottest.config and hottest.repeat > 1


def test_the_feature_maps_follow_the_training_run_and_show_the_trained_minis_three_map_sizes(blocks):
    index, source = cell_calling(NOTEBOOK, "show_feature_maps")
    assert index_of(NOTEBOOK, "resnet_training_check") < index
    assert "16×16 after the stride-2 stem and the first block, then 8×8 and 4×4" in text_before(
        NOTEBOOK, index
    )
    namespace = solution_code(NOTEBOOK, *BUILD_CELLS, "mini_models")
    torch.manual_seed(0)
    resnet_mini = namespace["ResNet"](**namespace["RESNET_MINI"])
    weights = {name: tensor.clone() for name, tensor in resnet_mini.state_dict().items()}
    # what fit returns: the History of the run, holding the model it trained (no training here: its maps' layout)
    history = History("ResNet", "cpu", "resnet-mini", epochs=6, batch_size=128, seed=0, model=resnet_mini)
    namespace.update(history=history, data=load_course_data())
    figure = run_cell(source, namespace)
    # the image, then each map size's maps after its last block (16×16, 8×8, 4×4), six channels each
    assert figure.axes[0].get_subplotspec().get_gridspec().get_geometry() == (1 + 3, 1 + 6)
    assert "a test " + namespace["image_class"] in figure._suptitle.get_text()
    assert resnet_mini.training and all(
        torch.equal(t, weights[n]) for n, t in resnet_mini.state_dict().items()
    )


def test_each_move_in_code_starts_from_resnet50_and_a_refused_one_prints_why(family, capsys):
    index, source = move_cell(NOTEBOOK)
    assert first_explorer(NOTEBOOK) < index < index_of(NOTEBOOK, "mini_models")  # after the build, untrained
    assert "Each move starts from ResNet-50" in text_before(NOTEBOOK, index)
    namespace = dict(family)
    run_cell(source, namespace)
    printed = capsys.readouterr().out.splitlines()
    resnet = family["resnet"]
    headlines = [
        summarize(resnet(34), (3, 224, 224)),
        summarize(resnet(101), (3, 224, 224)),
        summarize(resnet(152), (3, 224, 224)),
        summarize(family["ResNet"](family["Bottleneck"], (3, 4, 6, 3), width=32), (3, 224, 224)),
        summarize(resnet(50), (3, 320, 320)),
    ]
    labels = [label for label, _ in namespace["moves"]]
    assert [line for line in printed if not line.startswith(" ")] == [
        f"{label}: {summary.headline()}" for label, summary in zip(labels, headlines)
    ]
    # a student's basic block without its projection: the ResNet-34 move cannot work, says why, and the cell goes on
    basic = family["BasicBlock"]

    class WithoutProjection(basic):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.shortcut = nn.Identity()

    namespace = dict(family, BasicBlock=WithoutProjection)
    run_cell(source_of(NOTEBOOK, index_of(NOTEBOOK, "explorer_build")), namespace)  # the builder, over it
    run_cell(source, namespace)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("ResNet-34 (basic blocks): cannot work: ")
    assert [line.split(":")[0] for line in printed if not line.startswith(" ")] == labels


# --- the whole-network checks count the assembly, with stand-in blocks ----------------------------------------------


@pytest.mark.parametrize(
    "check, depths", [("resnet_basic_check", (18, 34)), ("resnet_bottleneck_check", (50, 101, 152))]
)
def test_the_assembly_checks_hold_the_reference_builders_counts_with_the_same_stand_ins(check, depths):
    """The counts in the check cells are facts about the reference ResNet built with the notebook's stand-ins."""
    namespace = solution_code(NOTEBOOK, *BUILD_CELLS, "assembly_helpers")
    source = source_of(NOTEBOOK, index_of(NOTEBOOK, check))
    for depth in depths:
        with torch.device("meta"):
            model = namespace["resnet_of_stand_ins"](depth)
        summary = summarize(model, (3, 224, 224))
        expected = f'"ResNet-{depth}", params={summary.total_params:_}, macs={summary.total_macs:_})'
        assert expected in source, f"{check}: the counts of ResNet-{depth} with stand-ins are {expected}"
    # a stand-in holds nothing of the block: one 1×1 conv, so the counts differ from the real net's
    real = summarize(namespace["resnet"](depths[0]), (3, 224, 224))
    assert f"params={real.total_params:_}" not in source


def test_the_assembly_is_built_from_stand_ins_and_the_real_blocks_are_restored(blocks):
    namespace = solution_code(NOTEBOOK, *BUILD_CELLS, "assembly_helpers")
    basic, stages = namespace["BasicBlock"], namespace["RESNET_STAGES"]
    with torch.device("meta"):
        model = namespace["resnet_of_stand_ins"](18)
    built = [module.call for module in model.modules() if hasattr(module, "call")]
    assert built[:3] == ["BasicBlock(64, 64)", "BasicBlock(64, 64)", "BasicBlock(64, 128, stride=2)"]
    assert namespace["BasicBlock"] is basic and namespace["RESNET_STAGES"] is stages


# --- the degradation experiment: its record, and what it prints -----------------------------------------------------


def test_the_degradation_record_matches_the_notebook_and_shows_the_degradation_on_9_of_10_seeds():
    import degradation_sweep as sweep

    command = ".venv/bin/python tests/degradation_sweep.py --seeds 0-9 --threads 1"
    assert sweep.RECORD.exists(), f"notebook 06's degradation experiment has no seed record: run {command}"
    record = json.loads(sweep.RECORD.read_text())
    assert record["fingerprint"] == sweep.fingerprint(), (
        f"the degradation experiment's cells (or the block or builder it trains) changed since its record: {command}"
    )
    seeds = record["seeds"]
    assert sorted(map(int, seeds)) == list(range(sweep.RECORD_SEEDS))
    shown = [seed for seed, result in seeds.items() if sweep.shown(result)]
    assert len(shown) >= sweep.SHOWN_AT_LEAST, f"the degradation shows on seeds {shown} only"
    assert record["shown"] == len(shown)
    for seed, result in seeds.items():
        budget = result["budget"]
        assert budget["device"] == "cpu" and budget["steps"] > 100, f"seed {seed} ran a test budget: {budget}"
        # at one thread, each net within 45 s of CPU, and the run cell well within nbgrader's 300 s cell limit
        assert record["threads"] == 1 and max(result["cpu_seconds"].values()) <= 45, result["cpu_seconds"]
        assert sum(result["cpu_seconds"].values()) <= 0.6 * 300, result["cpu_seconds"]
        # what the cell printed says what the numbers say
        final = result["final_loss"]
        (plain_shallow, plain_deep), (residual_shallow, residual_deep) = (
            [final[f"{kind}-{depth}"] for depth in budget["depths"]] for kind in ("plain", "ResNet")
        )
        assert result["plain_degrades"] == (plain_deep > plain_shallow)
        assert result["residual_holds"] == (residual_deep <= residual_shallow)
        verdict = result["printed"][-1]
        assert verdict.startswith("The degradation shows") == sweep.shown(result), verdict


@pytest.fixture
def verdict_cell():
    import matplotlib

    matplotlib.use("Agg")
    return source_of(NOTEBOOK, index_of(NOTEBOOK, "degradation_verdict"))


@pytest.mark.parametrize(
    "plain, residual, says",
    [
        ((1.60, 1.80), (1.55, 1.45), "The degradation shows: more layers leave the plain net with a higher"),
        ((1.60, 1.80), (1.55, 1.65), "but so does the deeper residual net: this run does not tell"),
        ((1.60, 1.50), (1.55, 1.45), "The deeper plain net does not end above the shallow one in this run"),
        ((2.29, 2.31), (2.28, 2.30), "steps are too few for any net to learn"),
    ],
)
def test_the_degradation_verdict_is_chosen_from_the_runs_numbers(verdict_cell, capsys, plain, residual, says):
    import matplotlib.pyplot as plt

    steps = 40
    curves = {
        f"{kind}-{depth}": [2.3] * (steps - 4) + [end] * 4
        for kind, ends in (("plain", plain), ("ResNet", residual))
        for depth, end in zip((8, 20), ends)
    }
    data = type("Data", (), {"num_classes": 10})()
    namespace = {
        "plt": plt,
        "curves": curves,
        "STEPS": steps,
        "DEPTHS": (8, 20),
        "BATCH_SIZE": 64,
        "data": data,
    }
    run_cell(verdict_cell, namespace)
    plt.close("all")
    printed = capsys.readouterr().out
    assert says in printed
    gap = abs(plain[1] - plain[0])
    assert f"plain-20 ends {gap:.3f} " in printed  # the gap it printed is the run's


def test_the_degradation_text_and_answer_claim_no_outcome_the_cells_do_not_print():
    index = index_of(NOTEBOOK, "degradation_setup")
    text = text_before(NOTEBOOK, index)
    assert "8 against 26 layers" in text and "docs/" not in text
    setup = source_of(NOTEBOOK, index)
    assert "((8, 26), 8, 2)" in setup and "(20, 56), 16, 1)" in setup  # the pairs the text names
    answer = source_of(NOTEBOOK, index_of(NOTEBOOK, "q_degradation"))
    assert "printed" in answer and "docs/" not in answer
