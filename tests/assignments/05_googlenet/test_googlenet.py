"""Notebook 05's checks catch the usual mistakes, each in its own step, with a message naming the layer.

Each test runs the notebook's check cells in-process (hidden tests included) on the reference solution with one
mistake written into it, and asserts which checks fail and what the failure says. No kernel, no training.
"""

from __future__ import annotations

import nbformat
import pytest
from course import HIDDEN_REGION, SOLUTION_REGION, SOLUTIONS, nbgrader_meta

# Each case runs the notebook's check cells (GoogLeNet at 224² included): seconds each, so not in the fast tier.
pytestmark = pytest.mark.slow

NOTEBOOK = "05_googlenet/googlenet.ipynb"
# The cells these checks need: the set-up cell comes first; then solutions, helpers and checks in notebook order.
NEEDED = {
    "check_helper",
    "naive_arithmetic",
    "naive_module",
    "as_linear",
    "conv_bn",
    "inception_module",
    "slide_module",
    "inception_aux",
    "googlenet_class",
}
CHECKS = [
    "naive_arithmetic_check",
    "naive_module_check",
    "as_linear_check",
    "conv_bn_check",
    "inception_check",
    "aux_check",
    "googlenet_check",
]


def _source(cell) -> str:
    source = SOLUTION_REGION.sub(lambda m: m.group(1), cell.source)
    return HIDDEN_REGION.sub(lambda m: m.group(1), source)  # the hidden tests run too, as at grading time


@pytest.fixture(scope="module")
def cells():
    code = [c for c in nbformat.read(SOLUTIONS / NOTEBOOK, as_version=4).cells if c.cell_type == "code"]
    wanted = [c for c in code if nbgrader_meta(c).get("grade_id") in NEEDED | set(CHECKS)]
    assert {nbgrader_meta(c)["grade_id"] for c in wanted} == NEEDED | set(CHECKS)
    setup: dict = {}
    exec(compile(code[0].source.replace("device = setup_notebook(seed=0)", ""), NOTEBOOK, "exec"), setup)
    return setup, [(nbgrader_meta(c)["grade_id"], _source(c)) for c in wanted]


def failures(cells, mistake: tuple[str, str, str] | None = None) -> dict[str, str]:
    """{check cell: its failure message} for the solution with ``mistake`` = (cell, old text, new text)."""
    setup, sources = cells
    namespace = dict(setup)
    failed = {}
    for grade_id, source in sources:
        if mistake and grade_id == mistake[0]:
            assert mistake[1] in source, f"the mistake's text is not in {grade_id}"
            source = source.replace(mistake[1], mistake[2])
        try:
            exec(compile(source, f"{NOTEBOOK}:{grade_id}", "exec"), namespace)
        except Exception as error:  # noqa: BLE001 - a failing check cell, as nbgrader would record it
            assert grade_id in CHECKS, f"{grade_id} raised {type(error).__name__}: {error}"
            failed[grade_id] = f"{type(error).__name__}: {error}"
    return failed


def test_the_solution_passes_every_check(cells):
    assert failures(cells) == {}


MISTAKES = {
    "naive 5×5 padding 1": (
        (
            "naive_module",
            "nn.Conv2d(in_channels, ch5x5, 5, padding=2)",
            "nn.Conv2d(in_channels, ch5x5, 5, padding=1)",
        ),
        {"naive_module_check": ["NaiveInception branch3", "(2, 96, 26, 26)"]},
    ),
    "naive 5×5 kernel written 3": (
        (
            "naive_module",
            "nn.Conv2d(in_channels, ch5x5, 5, padding=2)",
            "nn.Conv2d(in_channels, ch5x5, 3, padding=2)",
        ),
        {"naive_module_check": ["NaiveInception branch3", "(2, 96, 30, 30)"]},
    ),
    "naive convs without bias": (
        ("naive_module", "nn.Conv2d(in_channels, ch1x1, 1)", "nn.Conv2d(in_channels, ch1x1, 1, bias=False)"),
        {"naive_module_check": ["naive module's parameters", "bias"]},
    ),
    "ConvBN without batch norm": (
        ("conv_bn", "return self.relu(self.bn(self.conv(x)))", "return self.relu(self.conv(x))"),
        {"conv_bn_check": ["the batch norm runs once in forward"]},
    ),
    "ConvBN without bn layer": (
        ("conv_bn", "self.bn = nn.BatchNorm2d(out_channels, eps=0.001)", "self.bn = nn.Identity()"),
        {
            "conv_bn_check": ["ConvBN(3, 64, 7, 2, 3) parameters", "batch norm"],
            "googlenet_check": ["6,624,904"],
        },
    ),
    "ConvBN with a bias": (
        ("conv_bn", "stride, padding, bias=False)", "stride, padding)"),
        {"conv_bn_check": ["ConvBN(3, 64, 7, 2, 3) parameters", "no bias"], "googlenet_check": ["6,624,904"]},
    ),
    "ConvBN with torch's default eps": (
        ("conv_bn", "nn.BatchNorm2d(out_channels, eps=0.001)", "nn.BatchNorm2d(out_channels)"),
        {"conv_bn_check": ["eps", "0.001"]},
    ),
    "Inception 3×3 without padding": (
        ("inception_module", "ConvBN(ch3x3_reduce, ch3x3, 3, padding=1)", "ConvBN(ch3x3_reduce, ch3x3, 3)"),
        {"inception_check": ["Inception branch2", "(2, 192, 26, 26)"], "googlenet_check": ["inception3a"]},
    ),
    "Inception branch 2 with the reduction's width": (
        (
            "inception_module",
            "ConvBN(ch3x3_reduce, ch3x3, 3, padding=1)",
            "ConvBN(ch3x3_reduce, ch3x3_reduce, 3, padding=1)",
        ),
        {"inception_check": ["Inception branch2", "(2, 64, 28, 28)"], "googlenet_check": ["inception3a"]},
    ),
    "Inception ignores ch5x5_kernel": (
        (
            "inception_module",
            "ConvBN(ch5x5_reduce, ch5x5, ch5x5_kernel, padding=ch5x5_kernel // 2)",
            "ConvBN(ch5x5_reduce, ch5x5, 5, padding=2)",
        ),
        {"inception_check": ["ch5x5_kernel=3"], "googlenet_check": ["6,624,904"]},
    ),
    "aux without its 1×1 conv's width": (
        (
            "inception_aux",
            "self.conv = ConvBN(in_channels, conv_channels, 1)",
            "self.conv = ConvBN(in_channels, 2 * conv_channels, 1)",
        ),
        {"aux_check": ["InceptionAux(512, 1000)"], "googlenet_check": ["with its auxiliary heads"]},
    ),
    "GoogLeNet conv1 at stride 1": (
        ("googlenet_class", "ConvBN(3, 64, 7, stride=2, padding=3)", "ConvBN(3, 64, 7, stride=1, padding=3)"),
        {"googlenet_check": ["conv1 output shape", "(2, 64, 224, 224)"]},
    ),
    "GoogLeNet inception4c with a wrong width": (
        (
            "googlenet_class",
            "Inception(512, 128, 128, 256, 24, 64, 64",
            "Inception(512, 128, 128, 265, 24, 64, 64",
        ),
        {"googlenet_check": ["inception4c output shape", "(2, 521, 14, 14)"]},
    ),
    "GoogLeNet maxpool3 without ceil_mode": (
        (
            "googlenet_class",
            "self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)",
            "self.maxpool4 = nn.MaxPool2d(3, stride=2)",
        ),
        {"googlenet_check": ["maxpool4 output shape", "(2, 832, 6, 6)"]},
    ),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_a_mistake_loses_only_its_own_step(cells, name):
    mistake, expected = MISTAKES[name]
    failed = failures(cells, mistake)
    assert set(failed) == set(expected), (
        f"{name}: failed {sorted(failed)}, expected {sorted(expected)}: {failed}"
    )
    for grade_id, words in expected.items():
        for word in words:
            assert word in failed[grade_id], (
                f"{name}: {grade_id}'s message lacks {word!r}: {failed[grade_id]}"
            )
        assert "Traceback" not in failed[grade_id]
