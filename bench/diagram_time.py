"""Time of ``cnnlab.draw`` on ResNet-152 at 224×224 (target ≤ 250 ms), beside ``summarize`` of the same net in
the same run, and the same for GoogLeNet, ResNet-50 and VGG-16. The model is built on the meta device once; a
diagram is its graph (summary, forward trace, ×N runs) plus its SVG (layout and drawing), timed in parts, each
time laid out anew. Then the updates of a ResNet explorer with the diagram on: there the same graph keeps its
layout, and the summary the explorer made is passed in.

    .venv/bin/python bench/diagram_time.py [--repeats 15]

Prints the median and the best of ``--repeats`` runs of each, the machine's load average, and ends with one line
of key=value pairs (medians, in milliseconds).
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from cnnlab import draw, summarize
from cnnlab.diagram.layout import forget_placements

ROOT = Path(__file__).resolve().parents[1]
NETS = ("resnet152", "resnet50", "googlenet", "vgg16")
TARGET_MS = 250.0


def reference_nets():
    """Notebook 07's reference nets, imported from their folder as the notebook does."""
    sys.path.insert(0, str(ROOT / "solutions" / "07_complexity"))
    return importlib.import_module("reference_nets")


def explorer_updates(nets, shape, repeats: int) -> dict[str, float]:
    """What a ResNet explorer's update adds with the diagram on: the model moves between ResNet-34, -50, -101 and
    -152 (built on meta, summarised, as an explorer does), and is drawn from that summary against the last one."""
    builders = [nets.resnet50, nets.resnet101, nets.resnet152, nets.resnet34]
    summaries, diagrams, previous = [], [], None
    for step in range(4 * max(repeats, 5)):
        with torch.device("meta"):
            model = builders[step % len(builders)]()
        start = time.perf_counter()
        summary = summarize(model, shape)
        summarized = time.perf_counter()
        previous = draw(model, shape, summary=summary, baseline=previous)
        assert previous.svg
        summaries.append(1000 * (summarized - start))
        diagrams.append(1000 * (time.perf_counter() - summarized))
    p95 = statistics.quantiles(diagrams, n=20)[-1]
    print(
        f"ResNet explorer-like updates ({len(diagrams)}): summarize median {statistics.median(summaries):.0f} ms; "
        f"the diagram from that summary, with a baseline: median {statistics.median(diagrams):.0f} ms, p95 {p95:.0f} ms"
    )
    return {"resnet_update_diagram_ms": statistics.median(diagrams), "resnet_update_diagram_p95_ms": p95}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    nets = reference_nets()
    shape = (3, 224, 224)
    medians: dict[str, float] = {}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()}")
    for name in NETS:
        with torch.device("meta"):
            model = getattr(nets, name)()
        diagram = draw(model, shape)
        assert diagram.svg  # the first meta ops of a process are slow: warm up once
        times: dict[str, list[float]] = {"summarize": [], "graph": [], "svg": [], "diagram": []}
        for _ in range(args.repeats):  # side by side, so that both see the same load
            start = time.perf_counter()
            summarize(model, shape)
            summarized = time.perf_counter()
            forget_placements()  # a first drawing of this net: its layout is computed, not remembered
            diagram = draw(model, shape)
            drawn = time.perf_counter()
            assert diagram.svg
            rendered = time.perf_counter()
            times["summarize"].append(1000 * (summarized - start))
            times["graph"].append(1000 * (drawn - summarized))
            times["svg"].append(1000 * (rendered - drawn))
            times["diagram"].append(1000 * (rendered - summarized))
        parts = ", ".join(
            f"{part} {statistics.median(values):.0f} (best {min(values):.0f})"
            for part, values in times.items()
        )
        print(f"{name}: {len(diagram.nodes)} nodes, {len(diagram.boxes)} boxes; ms: {parts}")
        medians[f"{name}_diagram_ms"] = statistics.median(times["diagram"])
        medians[f"{name}_summarize_ms"] = statistics.median(times["summarize"])
    medians.update(explorer_updates(nets, shape, args.repeats))
    verdict = "within" if medians["resnet152_diagram_ms"] <= TARGET_MS else "OVER"
    print(
        f"ResNet-152's diagram: {medians['resnet152_diagram_ms']:.0f} ms, {verdict} the {TARGET_MS:.0f} ms target"
    )
    print(f"load average after: {os.getloadavg()}")
    print(" ".join(f"{key}={value:.1f}" for key, value in medians.items()))


if __name__ == "__main__":
    main()
