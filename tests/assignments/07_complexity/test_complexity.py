"""Notebook 07 (comparing complexity): its reference nets against torchvision's figures, its graded checks
against the usual mistakes, and the claims its charts and its diagrams make, computed from the same facts.

The graded checks run in-process on the solution's code, with one mistake put in at a time: the mistakes are data,
in mistakes.toml beside this file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
import statistics
import sys
import time
import types

import latency_record
import nbformat
import pytest
import torch
from course import SOLUTIONS
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


# --- the latency study: every charted pair in every round, conclusions only where the spread allows -----------
def _study_namespace(study, measure_latency):
    """What the study's cells read, with ``study`` as this device's LATENCY_STUDY entry."""
    sizes = {name: types.SimpleNamespace(total_macs=MACS[name]) for name in PARAMS}
    return {
        "LATENCY_STUDY": {"cpu": study},
        "NETWORKS": {
            name: torch.nn.Identity for name in PARAMS
        },  # nothing real to time: measure_latency is a stub
        "sizes": sizes,
        "device": torch.device("cpu"),
        "DEVICE_NAME": "cpu",
        "measure_latency": measure_latency,
        "statistics": statistics,
        "time": time,
        "torch": torch,
    }


def _run_study(study, measure_latency, *cells):
    namespace = _study_namespace(study, measure_latency)
    sources = latency_record.study_cells()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for cell in ("settings", "measurement", *cells):
            exec(compile(sources[cell], cell, "exec"), namespace)
    return namespace, printed.getvalue()


SMALL_STUDY = reference_nets.LatencyStudy(
    networks=("ResNet-50", "AlexNet"),
    image_side=64,
    batch_sizes=(1, 4),
    min_rounds=3,
    max_rounds=6,
    budget_s=0.0,
    why="a test",
)


def test_the_study_measures_every_charted_pair_in_every_round():
    timed = []
    namespace, printed = _run_study(
        SMALL_STUDY, lambda model, inputs, **_: timed.append(len(inputs)) or 0.001
    )
    # no budget at all: still the minimum of rounds, each over every (network, batch) pair, cheapest net first
    assert namespace["studied"] == ["AlexNet", "ResNet-50"]
    assert len(namespace["round_seconds"]) == 3 and len(timed) == 3 * 4
    assert (
        all(len(seconds) == 3 for seconds in namespace["readings"].values())
        and len(namespace["readings"]) == 4
    )
    assert namespace["latency"]["VGG-16"] == {} and set(namespace["latency"]["AlexNet"]) == {1, 4}
    assert "3 rounds in 0 s" in printed and "all 4 (network, batch) pairs" in printed
    assert (
        "on 3×64×64 random images, at batch sizes 1, 4" in printed and "not timed on this device" in printed
    )
    # a budget that allows it: up to the maximum
    roomy = dataclasses.replace(SMALL_STUDY, budget_s=60.0)
    namespace, _ = _run_study(roomy, lambda model, inputs, **_: 0.001)
    assert len(namespace["round_seconds"]) == roomy.max_rounds


def _conclusions(rounds_by_pair):
    """What the conclusions cell prints for these readings: {(name, batch): seconds of each round}."""
    study = dataclasses.replace(
        SMALL_STUDY, networks=("AlexNet", "GoogLeNet", "ResNet-18"), batch_sizes=(1, 16)
    )
    one_round = [(name, batch) for batch in (1, 16) for name in ("AlexNet", "GoogLeNet", "ResNet-18")]
    answers = iter(
        [rounds_by_pair[pair][index] for index in range(3) for pair in one_round]
    )  # the cell's order

    def replay(model, inputs, **_):
        return next(answers)

    _, printed = _run_study(study, replay, "conclusions")
    return printed[printed.index("at batch 1, fastest") :]


def test_the_conclusions_rank_only_where_the_rounds_do_not_overlap():
    printed = _conclusions(
        {
            ("AlexNet", 1): [0.010, 0.011, 0.012],
            ("GoogLeNet", 1): [0.020, 0.030, 0.050],  # overlaps ResNet-18's rounds
            ("ResNet-18", 1): [0.025, 0.026, 0.027],
            ("AlexNet", 16): [0.016, 0.016, 0.016],  # 1 ms per image: fell
            ("GoogLeNet", 16): [0.30, 0.90, 0.31],  # 19-56 ms per image: overlaps batch 1's 20-50
            ("ResNet-18", 16): [0.80, 0.85, 0.90],  # 50 ms per image: rose
        }
    )
    assert (
        "ranked: AlexNet before ResNet-18, faster in every round (10.0-12.0 ms against 25.0-27.0 ms)"
        in printed
    )
    assert (
        "the spread is too large to rank ResNet-18 against GoogLeNet: 25.0-27.0 ms against 20.0-50.0 ms"
        in printed
    )
    assert "AlexNet: it fell in every round" in printed and "ResNet-18: it rose in every round" in printed
    assert "GoogLeNet: the spread is too large to say whether it fell" in printed
    assert "fell for 1 of 3 networks, rose for 1; for 1 the spread was too large to say" in printed


def test_the_page_says_what_the_study_measures_on_a_cpu_and_q3_holds_whatever_it_shows():
    cpu, gpu = reference_nets.LATENCY_STUDY["cpu"], reference_nets.LATENCY_STUDY["cuda"]
    assert set(cpu.networks) < set(gpu.networks) == set(PARAMS) and cpu.image_side < gpu.image_side == 224
    assert gpu.batch_sizes == (1, 16, 64) and len(cpu.batch_sizes) == 3 and cpu.min_rounds >= 3

    # the CPU study costs a fraction of the paper's: MACs of one round, against the GPU's, at the same passes
    def work(study):
        scale = (study.image_side / 224) ** 2
        return sum(MACS[name] * scale for name in study.networks) * sum(study.batch_sizes)

    assert work(cpu) < work(gpu) / 30
    nb = nbformat.read(SOLUTIONS / NOTEBOOK, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "on smaller\nimages" in text and "every pair the chart draws is measured in every round" in text
    q3 = next(c.source for c in nb.cells if c.source.startswith("**Q3.**"))
    assert "for which was the spread too large to say" in q3


# --- the latency study's record: the study run many times on a CPU, as graded runs have their sweep ----------
RECORD_RUNS = 10


def test_the_latency_record_is_current_and_every_run_measured_every_pair():
    record = json.loads(latency_record.RECORD.read_text())
    assert record["fingerprint"] == latency_record.fingerprint(), (
        "the latency study changed since its record: run `nice .venv/bin/python tests/latency_record.py --runs 10 "
        "--record` and commit tests/assignments/07_complexity/latency_record.json"
    )
    cpu = reference_nets.LATENCY_STUDY["cpu"]
    pairs = len(cpu.networks) * len(cpu.batch_sizes)
    runs = record["runs"]
    assert len(runs) >= RECORD_RUNS and len({run["threads"] for run in runs}) == 1
    for run in runs + record.get("runs_beside", []):  # beside: the same study at another thread count
        assert run["pairs"] == pairs and run["readings_per_pair"] == [run["rounds"]]
        assert cpu.min_rounds <= run["rounds"] <= cpu.max_rounds
        # every line is one of the forms the cell chooses from, and says what its ranges allow
        ranking = [
            line
            for line in run["conclusions"]
            if line.startswith((latency_record.RANKED, latency_record.TOO_CLOSE_TO_RANK))
        ]
        trends = [
            line
            for line in run["conclusions"]
            if any(
                form in line for form in (latency_record.FELL, latency_record.ROSE, latency_record.TOO_NOISY)
            )
        ]
        assert len(ranking) == len(cpu.networks) - 1 and len(trends) == len(cpu.networks)
        for line in (
            ranking + trends
        ):  # the (fastest-slowest round) ranges the line compares; printed to 0.1 ms
            (a_fastest, a_slowest), (b_fastest, b_slowest) = [
                (float(low), float(high)) for low, high in re.findall(r"(\d+\.\d)-(\d+\.\d) ms", line)
            ]
            if line.startswith(latency_record.RANKED):
                assert a_slowest <= b_fastest, line
            elif latency_record.FELL in line:
                assert b_slowest <= a_fastest, line
            elif latency_record.ROSE in line:
                assert a_slowest <= b_fastest, line
            else:  # the ranges overlap: no conclusion
                assert a_slowest >= b_fastest - 0.1 and b_slowest >= a_fastest - 0.1, line
    assert record["tally"] == latency_record.tally(runs)


# --- which AlexNet ---------------------------------------------------------------------------------------------
def test_the_table_counts_torchvisions_alexnet_and_tells_it_from_the_papers():
    """Notebook 02 builds both: the paper's (62,378,344 parameters, one tower, 227×227) and torchvision's
    (61,100,840 at 224×224, whose published top-1 the table quotes)."""
    with torch.device("meta"):
        paper = summarize(reference_nets.paper_alexnet(), (3, 227, 227))
    assert paper.total_params == 62_378_344 and PARAMS["AlexNet"] == 61_100_840
    nb = nbformat.read(SOLUTIONS / NOTEBOOK, as_version=4)
    cell = next(c.source for c in nb.cells if "paper_alexnet()" in c.source and c.cell_type == "code")
    namespace = {"torch": torch, "summarize": summarize, "paper_alexnet": reference_nets.paper_alexnet}
    namespace |= {"PUBLISHED_TOP1": TOP1, "sizes": {"AlexNet": _meta_summary(reference_nets.alexnet)}}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(cell, "which_alexnet", "exec"), namespace)
    lines = printed.getvalue().splitlines()
    assert "61,100,840 parameters" in lines[0] and "62,378,344 parameters" in lines[1]
    differences = [
        int(line.rsplit(":", 1)[1].split()[0].replace(",", "")) for line in lines if "here:" in line
    ]
    assert (
        sum(differences) == 62_378_344 - 61_100_840 and len(differences) == 5
    )  # the five convs, not the FCs
    assert "torchvision's trained weights" in lines[-1] and "56.522%" in lines[-1]


def _meta_summary(build):
    with torch.device("meta"):
        return summarize(build(), (3, 224, 224))


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
