"""Latency of one explorer update, against doing the same with a real forward pass: VGG-16 at 224×224,
notebook 03's ZFNet explorer (its own explore cell, over the reference AlexNetFamily) at 227×227, notebook 04's
VGG explorer (its own explore cell, over the reference VGG) at 224×224, notebook 05's Inception-module explorer
at 28×28, notebook 06's ResNet explorer (from ResNet-50, over the reference blocks and builder) at 224×224,
and notebook 08's dense-block explorer (growth rate, layers, map size) at 56×56.

    .venv/bin/python bench/widget_latency.py [--updates 100] [--forward-reps 5]

One update is ``explorer.move(...)``: rebuild the model on the meta device, summarise it, and
re-render the table, the chart and the difference, and, with the diagram on (explore's default), trace the model and
redraw its diagram against the baseline's. Each explorer is made twice from its notebook cell, with the diagram on
and with ``diagram=False``, and the two are timed in turns, update by update, so that both see the same load. The comparison builds the same model for real
on the CPU (allocating and initialising its weights: 138M for VGG-16, 108M for ZFNet) and runs one
image through it, which is what an explorer without the meta device would have to do.
Each explorer is timed twice: cycling through its steps (after one cycle it replays blocks met before, as when a
student moves a slider back and forth), and with its memory of blocks emptied before each update ("first visits").
Targets: p95 ≤ 30 ms without the diagram, ≤ 50 ms with it (2-core CPU). Prints the load average, and ends with one
line of key=value pairs: ``<explorer>_p95_ms`` without the diagram, ``<explorer>_diagram_p95_ms`` with it, and
``<explorer>_diagram_ratio``, the second over the first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnlab import explore, summarize
from cnnlab.summary import BlockMemory
from cnnlab.widgets import Explorer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from course import explorer_cell, solution_code  # noqa: E402  (reads the notebook's own cells)

ZFNET_NOTEBOOK = "03_zfnet/zfnet.ipynb"
GOOGLENET_NOTEBOOK = "05_googlenet/googlenet.ipynb"
# Notebook 05's Inception-module explorer: naive against bottleneck, then widths and the input depth.
INCEPTION_STEPS = [
    dict(design="naive"),
    dict(design="bottleneck", ch3x3_reduce=128, ch5x5_reduce=32),
    dict(in_channels=832, pool_proj=128),
    dict(in_channels=256, ch3x3_reduce=64, ch5x5_reduce=64, pool_proj=64),
]
RESNET_NOTEBOOK = "06_resnet/resnet.ipynb"
# Notebook 06's moves from ResNet-50: ResNet-34, ResNet-101, a narrower ResNet-50, and back.
RESNET_STEPS = [
    dict(block="basic"),
    dict(block="bottleneck", stage3=23),
    dict(stage3=6, width=32),
    dict(width=64),
]
# Notebook 03's steps from AlexNet to ZFNet, and back: every update changes the table.
ZFNET_STEPS = [
    dict(conv1_kernel=7, conv1_stride=2),
    dict(conv2_stride=2),
    dict(conv3_filters=512, conv4_filters=1024, conv5_filters=512),
    dict(
        conv1_kernel=11,
        conv1_stride=4,
        conv2_stride=1,
        conv3_filters=384,
        conv4_filters=384,
        conv5_filters=256,
    ),
]

VGG_NOTEBOOK = "04_vgg/vgg.ipynb"
# Notebook 04's explorer, through VGG-19, a narrower VGG-16, batch norm and a 32×32 input, and back to VGG-16
VGG_STEPS = [
    dict(stage3_convs=4, stage4_convs=4, stage5_convs=4),
    dict(stage3_convs=3, stage4_convs=3, stage5_convs=3, base_width=32),
    dict(base_width=64, batch_norm=True),
    dict(batch_norm=False, input_size=32),
    dict(input_size=224),
]

BEYOND_NOTEBOOK = "08_beyond/beyond.ipynb"
# Notebook 08's dense-block explorer: the growth rate, the block size up to the slider's end (16), the map size
DENSE_STEPS = [
    dict(growth_rate=12),
    dict(growth_rate=32, num_layers=12),
    dict(num_layers=16),
    dict(num_layers=16, input_size=7),
    dict(num_layers=6, input_size=56),
]

# VGG-16 (configuration D): conv widths, "M" for a 2×2 max pool
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def vgg(conv1_kernel: int = 3, width: int = 64, input_size: int = 224) -> nn.Sequential:
    """VGG-16 as in the lecture; ``width`` scales every conv (64 is the original), conv1 may be larger."""
    layers: list[nn.Module] = []
    channels = 3
    for i, spec in enumerate(_VGG16):
        if spec == "M":
            layers.append(nn.MaxPool2d(2))
            continue
        out = spec * width // 64
        kernel = conv1_kernel if i == 0 else 3
        layers += [nn.Conv2d(channels, out, kernel, padding=kernel // 2), nn.ReLU(inplace=True)]
        channels = out
    side = input_size // 32
    return nn.Sequential(
        *layers,
        nn.Flatten(),
        nn.Linear(channels * side * side, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(),
        nn.Linear(4096, 1000),
    )


def time_updates(
    explorers: list[Explorer], steps: list[dict], n: int, warmup: int = 10, first_visits: bool = False
) -> list[list[float]]:
    """Milliseconds of each explorer's updates, cycling through ``steps``: a change every time. The explorers
    take turns at each step, so that a burst of load on the machine falls on all of them alike.

    An explorer remembers the blocks it has summarised (``BlockMemory``), so after one cycle every update replays
    blocks met before, as when a student moves a slider back and forth. With ``first_visits`` that memory is
    emptied before each update (outside the timing): every update is the first of its configuration.
    """
    times: list[list[float]] = [[] for _ in explorers]
    for i in range(warmup + n):
        for explorer, timed in zip(explorers, times):
            if first_visits:
                explorer._blocks = BlockMemory()
            start = time.perf_counter()
            explorer.move(**steps[i % len(steps)])
            elapsed = (time.perf_counter() - start) * 1e3
            assert explorer.summary is not None and not explorer.message, explorer.message
            if i >= warmup:
                timed.append(elapsed)
    return times


def time_real_forward(build, input_size: int, reps: int, in_channels: int = 3) -> list[float]:
    """Milliseconds to build the model for real on the CPU and run one image through it."""
    times = []
    for _ in range(reps + 1):  # the first is a warm-up
        start = time.perf_counter()
        model = build().eval()
        with torch.no_grad():
            model(torch.randn(1, in_channels, input_size, input_size))
        times.append((time.perf_counter() - start) * 1e3)
        del model
    return times[1:]


@dataclass(frozen=True)
class Timed:
    """One explorer's latencies, in ms: updates (p50, p95) and first visits (p95) without the diagram and with it,
    and a real build and forward."""

    p50: float
    p95: float
    first_p95: float
    diagram_p50: float
    diagram_p95: float
    diagram_first_p95: float
    forward: float


def report(what: str, times: list[float]) -> None:
    print(f"{what}, {len(times)} updates: ", end="")
    print(f"p50 {percentile(times, 50):.1f} ms, p95 {percentile(times, 95):.1f} ms, max {max(times):.1f} ms")


def measure(
    name: str,
    explorers: tuple[Explorer, Explorer],
    steps: list[dict],
    build,
    input_size: int,
    args,
    in_channels=3,
) -> Timed:
    """Prints one explorer's update latency, without and with the diagram, beside a real build and forward, after
    checking its numbers. ``explorers``: the same explorer with the diagram off and on."""
    plain, drawn = explorers
    assert plain.diagram is None and drawn.diagram is not None
    updates, with_diagram = time_updates([plain, drawn], steps, args.updates)
    report(f"{name} explorer update (meta build + summarize + render)", updates)
    report(f"{name}   with the diagram (+ trace + graph + SVG)", with_diagram)
    first, first_diagram = time_updates([plain, drawn], steps, max(20, args.updates // 2), first_visits=True)
    report(f"{name} first visits (no block met before)", first)
    report(f"{name}   with the diagram", first_diagram)
    check_against_fresh_summaries(drawn, steps)
    print(f"{name}: every step's table and diagram have the numbers of a fresh summary")
    forward = time_real_forward(build, input_size, args.forward_reps, in_channels)
    forward_ms = statistics.median(forward)
    print(
        f"{name} real build + forward on the CPU ({torch.get_num_threads()} threads), {len(forward)} reps: ",
        end="",
    )
    print(f"median {forward_ms:.0f} ms, min {min(forward):.0f} ms")
    return Timed(
        percentile(updates, 50),
        percentile(updates, 95),
        percentile(first, 95),
        percentile(with_diagram, 50),
        percentile(with_diagram, 95),
        percentile(first_diagram, 95),
        forward_ms,
    )


def check_against_fresh_summaries(explorer, steps: list[dict]) -> None:
    """Each step's table is the one a fresh summary gives: the model built anew on the meta device as torch builds
    it (initialisers run), and summarised with no memory of blocks met before."""
    setup = explorer._setup
    for step in steps:
        explorer.set(**step)
        with torch.device("meta"):
            model = setup.build(**setup.build_kwargs(explorer.config))
        fresh = summarize(model, setup.input_shape_of(explorer.config))
        assert explorer.summary == fresh, f"{step}: the explorer's table is not a fresh summary's"
        diagram = explorer.diagram
        assert diagram.summary is explorer.summary and diagram.totals == {
            "macs": fresh.total_macs,
            "params": fresh.total_params,
            "memory": fresh.activation_bytes,
        }, f"{step}: the explorer's diagram is not drawn from a fresh summary's numbers"
        layers = [n for n in diagram.nodes if n.is_layer]
        assert sum(n.macs * n.repeat for n in layers) == fresh.total_macs - _functional_macs(fresh), step


def _functional_macs(summary) -> int:
    """MACs of the summary's "(functional ops)" row: counted in its totals, drawn on no layer."""
    return sum(row.macs for row in summary.rows if row.name.startswith("("))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class NotebookCells(dict):
    """The names a notebook's solution cells define, and the explorer its own explore cell makes over them, with
    the diagram off and on: ``explorers``."""

    def __init__(self, notebook: str, *cells: str):
        super().__init__(solution_code(notebook, *cells))
        cell = explorer_cell(notebook)
        plain = eval(cell, {**self, "explore": lambda *a, **k: explore(*a, diagram=False, **k)})
        self.explorers = (plain, eval(cell, dict(self)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=100)
    parser.add_argument("--forward-reps", type=int, default=5)
    args = parser.parse_args()

    timed: dict[str, Timed] = {}  # key prefix of the last line → the explorer's latencies

    print(f"load average {_load()} on {os.cpu_count()} CPUs; torch threads {torch.get_num_threads()}")
    vgg_explorers = tuple(
        explore(vgg, conv1_kernel=(1, 11, 2), width=[32, 64, 128], diagram=on) for on in (False, True)
    )
    kernels = [dict(conv1_kernel=k) for k in (3, 5, 7)]
    timed[""] = measure("VGG-16", vgg_explorers, kernels, lambda: vgg(conv1_kernel=5), 224, args)

    family = NotebookCells(ZFNET_NOTEBOOK, "family_class")
    zfnet = dict(ZFNET_STEPS[0], **ZFNET_STEPS[1], **ZFNET_STEPS[2])
    timed["zfnet_"] = measure(
        "ZFNet (notebook 03)",
        family.explorers,
        ZFNET_STEPS,
        lambda: family["AlexNetFamily"](**zfnet),
        227,
        args,
    )
    vgg_cells = NotebookCells(
        VGG_NOTEBOOK, "vgg_configurations", "conv3x3_function", "vgg_stage_function", "vgg_class",
        "vgg_explorer_function",
    )  # fmt: skip
    timed["vgg04_"] = measure(
        "VGG (notebook 04)", vgg_cells.explorers, VGG_STEPS, lambda: vgg_cells["VGG"](), 224, args
    )
    inception = NotebookCells(
        GOOGLENET_NOTEBOOK, "naive_module", "conv_bn", "inception_module", "explorer_builder"
    )
    build_inception = lambda: inception["inception_module"](in_channels=832)  # noqa: E731
    timed["inception_"] = measure(
        "Inception module (notebook 05)",
        inception.explorers,
        INCEPTION_STEPS,
        build_inception,
        28,
        args,
        in_channels=1,
    )
    resnets = NotebookCells(
        RESNET_NOTEBOOK, "basic_block", "bottleneck_block", "resnet_builder", "explorer_build"
    )
    timed["resnet_"] = measure(
        "ResNet-50 (notebook 06)", resnets.explorers, RESNET_STEPS, lambda: resnets["resnet"](50), 224, args
    )
    dense = NotebookCells(
        BEYOND_NOTEBOOK,
        "dense_layer_class",
        "dense_block_class",
        "transition_class",
        "dense_explorer_builder",
    )
    build_dense = lambda: dense["dense_block_and_transition"](num_layers=16)  # noqa: E731
    timed["dense_"] = measure(
        "Dense block (notebook 08)", dense.explorers, DENSE_STEPS, build_dense, 56, args, in_channels=64
    )

    worst = max(t.p95 for t in timed.values())
    worst_first = max(t.first_p95 for t in timed.values())
    worst_diagram = max(t.diagram_p95 for t in timed.values())
    worst_diagram_first = max(t.diagram_first_p95 for t in timed.values())
    print(
        f"target p95 <= 30 ms: {'met' if worst <= 30 else 'MISSED'} (worst p95 {worst:.1f} ms); first visits "
        f"{'within' if worst_first <= 30 else 'over'} it (worst p95 {worst_first:.1f} ms)"
    )
    print(
        f"with the diagram, target p95 <= 50 ms: {'met' if worst_diagram <= 50 else 'MISSED'} (worst p95 "
        f"{worst_diagram:.1f} ms); first visits {'within' if worst_diagram_first <= 50 else 'over'} it (worst p95 "
        f"{worst_diagram_first:.1f} ms); load average at the end {_load()}"
    )
    pairs = [
        f"{key}p50_ms={t.p50:.1f} {key}p95_ms={t.p95:.1f} {key}first_p95_ms={t.first_p95:.1f} "
        f"{key}diagram_p50_ms={t.diagram_p50:.1f} {key}diagram_p95_ms={t.diagram_p95:.1f} "
        f"{key}diagram_first_p95_ms={t.diagram_first_p95:.1f} {key}diagram_ratio={t.diagram_p95 / t.p95:.2f} "
        f"{key}forward_ms={t.forward:.1f} {key}ratio={t.forward / t.p95:.1f}"
        for key, t in timed.items()
    ]
    print(
        " ".join(
            [
                *pairs,
                f"worst_p95_ms={worst:.1f} worst_first_p95_ms={worst_first:.1f}",
                f"worst_diagram_p95_ms={worst_diagram:.1f} worst_diagram_first_p95_ms={worst_diagram_first:.1f}",
                f"load1={os.getloadavg()[0]:.2f}",
            ]
        )
    )


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
