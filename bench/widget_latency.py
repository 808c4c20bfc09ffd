"""Latency of one explorer update on VGG-16 at 224×224, against doing the same with a real forward pass.

    .venv/bin/python bench/widget_latency.py [--updates 100] [--forward-reps 5]

One update is ``explorer.set(conv1_kernel=...)``: rebuild VGG-16 on the meta device, summarise it,
and re-render the table, the chart and the difference. The comparison builds the same model for
real on the CPU (allocating and initialising its 138M weights) and runs one 224×224 image through
it, which is what an explorer without the meta device would have to do. Target: p95 ≤ 30 ms.
Ends with one line of key=value pairs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from cnnlab import explore

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


def time_updates(n: int, warmup: int = 10) -> list[float]:
    """Milliseconds of each explorer update, a control changing every time."""
    explorer = explore(vgg, conv1_kernel=(1, 11, 2), width=[32, 64, 128])
    kernels = (3, 5, 7)
    times = []
    for i in range(warmup + n):
        start = time.perf_counter()
        explorer.set(conv1_kernel=kernels[i % 3])
        elapsed = (time.perf_counter() - start) * 1e3
        assert explorer.summary is not None and not explorer.message, explorer.message
        if i >= warmup:
            times.append(elapsed)
    return times


def time_real_forward(reps: int) -> list[float]:
    """Milliseconds to build VGG-16 for real on the CPU and run one 224×224 image through it."""
    times = []
    for _ in range(reps + 1):  # the first is a warm-up
        start = time.perf_counter()
        model = vgg(conv1_kernel=5).eval()
        with torch.no_grad():
            model(torch.randn(1, 3, 224, 224))
        times.append((time.perf_counter() - start) * 1e3)
        del model
    return times[1:]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=100)
    parser.add_argument("--forward-reps", type=int, default=5)
    args = parser.parse_args()

    updates = time_updates(args.updates)
    p50, p95 = percentile(updates, 50), percentile(updates, 95)
    print(f"explorer update (meta build + summarize + render), {len(updates)} updates: ", end="")
    print(f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(updates):.1f} ms")
    forward = time_real_forward(args.forward_reps)
    forward_ms = statistics.median(forward)
    print(
        f"real build + forward on the CPU ({torch.get_num_threads()} threads), {len(forward)} reps: ", end=""
    )
    print(f"median {forward_ms:.0f} ms, min {min(forward):.0f} ms")
    print(f"target p95 <= 30 ms: {'met' if p95 <= 30 else 'MISSED'}")
    print(f"p50_ms={p50:.1f} p95_ms={p95:.1f} forward_ms={forward_ms:.1f} ratio={forward_ms / p95:.1f}")


if __name__ == "__main__":
    main()
