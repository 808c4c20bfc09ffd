"""Notebook 07 (comparing complexity): its reference nets against torchvision's figures, its graded checks
against the usual mistakes, and the claims its charts and its diagrams make, computed from the same facts.

The graded checks run in-process on the solution's code, with one mistake put in at a time: the mistakes are data,
in mistakes.toml beside this file.
"""

from __future__ import annotations

import sys

import nbformat
import pytest
import torch
from course import SOLUTIONS, solution_code
from fair_grading import *  # noqa: F403  (the tests every unit runs, on this unit's mistakes.toml)
from shown_cells import cell_calling, index_of, run_cell, text_before

from cnnlab import summarize

ASSIGNMENT = SOLUTIONS / "07_complexity"
NOTEBOOK = "07_complexity/complexity.ipynb"
sys.path.insert(0, str(ASSIGNMENT))  # the notebook imports reference_nets and latency_probes from its folder

import reference_nets  # noqa: E402

# torchvision's parameter counts (torchvision.models, num_classes=1000; GoogLeNet without its auxiliary heads)
PARAMS = {
    "AlexNet": 61_100_840,
    "VGG-16": 138_357_544,
    "VGG-19": 143_667_240,
    "GoogLeNet": 6_624_904,
    "ResNet-18": 11_689_512,
    "ResNet-34": 21_797_672,
    "ResNet-50": 25_557_032,
    "ResNet-101": 44_549_160,
    "ResNet-152": 60_192_808,
}
# MACs per 224×224 image, as cnnlab's summarize counts them (torchvision documents 0.71, 15.47, 19.63, 1.5, 1.81,
# 3.66, 4.09, 7.8 and 11.51 GFLOPS, meaning MACs, for these models)
MACS = {
    "AlexNet": 714_188_480,
    "VGG-16": 15_470_264_320,
    "VGG-19": 19_632_062_464,
    "GoogLeNet": 1_498_376_192,
    "ResNet-18": 1_814_073_344,
    "ResNet-34": 3_663_761_408,
    "ResNet-50": 4_089_184_256,
    "ResNet-101": 7_801_405_440,
    "ResNet-152": 11_513_626_624,
}
# ImageNet-1k top-1 (%): the table is reference_nets.PUBLISHED_TOP1, which the notebook plots. It is written once,
# there; this test checks it against a few values of torchvision's model documentation (IMAGENET1K_V1 weights),
# one per family, stated here independently. The lecture's comparison (Canziani et al. 2016) as far as notebooks
# 02-06 built it: DenseNet and SqueezeNet are graded exercises of notebook 08, which compares them itself
# (08_beyond/test_beyond.py holds their facts).
TOP1 = reference_nets.PUBLISHED_TOP1
TOP1_SPOT_CHECKS = {"AlexNet": 56.522, "VGG-19": 72.376, "GoogLeNet": 69.778, "ResNet-50": 76.130}


@pytest.fixture(scope="module")
def summaries():
    def on_meta(build):
        with torch.device("meta"):
            return summarize(build(), (3, 224, 224))

    return {name: on_meta(build) for name, build in reference_nets.NETWORKS.items()}


def test_reference_nets_have_torchvisions_parameter_counts(summaries):
    assert {name: s.total_params for name, s in summaries.items()} == PARAMS


def test_reference_nets_have_the_expected_macs(summaries):
    assert {name: s.total_macs for name, s in summaries.items()} == MACS


def test_published_accuracies_and_their_source():
    assert set(TOP1) == set(PARAMS), "one published accuracy per reference net"
    assert {name: TOP1[name] for name in TOP1_SPOT_CHECKS} == TOP1_SPOT_CHECKS
    # deeper ResNets are more accurate, and every figure is a percentage of the 1000-class task
    assert [TOP1[f"ResNet-{depth}"] for depth in (18, 34, 50, 101, 152)] == sorted(
        TOP1[f"ResNet-{depth}"] for depth in (18, 34, 50, 101, 152)
    )
    assert all(0.1 < top1 < 100 for top1 in TOP1.values())
    assert "torchvision" in reference_nets.TOP1_SOURCE


def test_the_data_shows_vgg_is_heavy_and_googlenet_is_efficient():
    """The claims of the notebook's prose, from the facts its charts are drawn from."""
    by_params = sorted(PARAMS, key=PARAMS.get, reverse=True)
    by_macs = sorted(MACS, key=MACS.get, reverse=True)
    assert set(by_params[:2]) == set(by_macs[:2]) == {"VGG-16", "VGG-19"}
    density = sorted(TOP1, key=lambda n: TOP1[n] / PARAMS[n], reverse=True)
    assert density[0] == "GoogLeNet" and set(density[-2:]) == {"VGG-16", "VGG-19"}
    front = [n for n in TOP1 if not any(MACS[o] <= MACS[n] and TOP1[o] > TOP1[n] for o in TOP1)]
    assert "GoogLeNet" in front and "VGG-16" not in front and "VGG-19" not in front


def test_a_small_net_runs_for_real():
    """The meta-device summaries check shapes; one real forward pass checks that the blocks compute."""
    out = reference_nets.resnet18().eval()(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 1000) and torch.isfinite(out).all()


# --- the graded checks against the usual mistakes: mistakes.toml, run by fair_grading.py ---------------------------


# --- the measurement's budget ----------------------------------------------------------------------------------
def test_the_measurement_reads_its_budget_from_one_place_and_says_what_it_skipped(capsys):
    """With no time left, every (network, batch) pair is skipped, and each skip is printed with its reason."""
    cells = [c for c in nbformat.read(SOLUTIONS / NOTEBOOK, as_version=4).cells if c.cell_type == "code"]
    measuring = next(c.source for c in cells if "MEASUREMENT_BUDGET_S" in c.source and "time_one" in c.source)
    sizes = next(c.source for c in cells if "def summary_of" in c.source)
    namespace = solution_code(NOTEBOOK)
    namespace["NETWORKS"] = {"AlexNet": reference_nets.alexnet, "VGG-16": reference_nets.vgg16}
    exec(compile(sizes, "sizes", "exec"), namespace)
    namespace["MEASUREMENT_BUDGET_S"] = {"cpu": 0.0}
    namespace["device"] = torch.device("cpu")
    namespace["measure_latency"] = lambda *args, **kwargs: pytest.fail("timed a pass with no budget left")
    capsys.readouterr()
    exec(compile(measuring, "measuring", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "measured 0 of 6" in printed and "budget 0 s" in printed
    assert len(namespace["skipped"]) == 6
    assert "skipped VGG-16 at batch 64: over 1 G MACs per image" in printed
    assert "skipped AlexNet at batch 1: needs about" in printed


def test_the_compared_nets_are_drawn_side_by_side_on_one_scale_of_macs():
    index, source = cell_calling(NOTEBOOK, "draw_side_by_side")
    assert index < index_of(NOTEBOOK, "latency_function")  # with the sizes, before any timing
    text = text_before(NOTEBOOK, index)
    assert "one scale serves all nine" in text and "×35" in text
    namespace = {"NETWORKS": reference_nets.NETWORKS, "IMAGE_SHAPE": (3, 224, 224)}
    row = run_cell(source, namespace)
    assert list(row.diagrams) == list(reference_nets.NETWORKS) == list(PARAMS)  # every compared net, in order
    macs = {name: [(node.macs or 0) * node.repeat for node in d.nodes] for name, d in row.diagrams.items()}
    assert row.scale == max(max(values) for values in macs.values())
    assert all(diagram.scale == row.scale and diagram.colour == "macs" for diagram in row.diagrams.values())
    assert all(d.summary.total_macs == MACS[name] for name, d in row.diagrams.items())
    # what the text says: the hottest node is ResNet-152's third-stage 3×3 conv, drawn once ×35
    hottest = max(row.diagrams["ResNet-152"].nodes, key=lambda node: (node.macs or 0) * node.repeat)
    assert hottest.macs * hottest.repeat == row.scale and hottest.repeat == 35 and "3×3" in hottest.config
    # AlexNet and every fully connected layer pale on this scale; VGG's convs several times hotter than AlexNet's
    assert max(macs["AlexNet"]) < 0.06 * row.scale and max(macs["VGG-16"]) > 8 * max(macs["AlexNet"])
    linear = [node for d in row.diagrams.values() for node in d.nodes if node.kind == "Linear"]
    assert linear and all(node.macs < 0.03 * row.scale for node in linear)
    assert max(row.diagrams, key=lambda name: len(row.diagrams[name].nodes)) == "GoogLeNet"
    svg = row.svg
    assert all(f"{name} on 3×224×224" in svg for name in PARAMS)
