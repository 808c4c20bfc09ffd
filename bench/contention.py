"""Training speed on a shared CPU: the course's kernel settings against torch's defaults, side by side in one run.

    .venv/bin/python bench/contention.py                 # about 2 minutes on a 2-core CPU
    .venv/bin/python bench/contention.py --steps 40 --repeats 5

A student's laptop runs a browser beside the kernel; an instructor grades with several workers. With torch's
default OpenMP wait policy, a thread that waits for a descheduled one spins, and training slows many-fold. The
course starts every kernel with cnnlab/kernel_env.py's KERNEL_ENV (OMP_WAIT_POLICY=PASSIVE), which OpenMP reads
once, when torch loads: so each configuration runs in a fresh Python process.

course    KERNEL_ENV on top of this environment, as every course kernel starts;
default   this environment without KERNEL_ENV's settings (and without OMP_NUM_THREADS): torch's defaults.

Both use every core this process may use (as ``fit`` does) and train the same small conv net on the same random
images, with plain SGD steps. Each runs once on the machine as it is ("idle") and once while another process keeps
one core busy (a Python loop that never sleeps, "busy"); configurations alternate, ``--repeats`` times each, and the
median steps/s counts. The last line printed holds

    contention_ratio   course / default steps per second, with the busy core (target ≥ 2);
    idle_cost          how much slower the course's settings are without it, a fraction (target ≤ 0.05).

An "idle" phase is only as idle as the machine: the load average before each phase is printed with the results.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from release import kernel_env_module  # noqa: E402  (loads cnnlab/kernel_env.py without importing torch here)

KERNEL_ENV = kernel_env_module().KERNEL_ENV
CONFIGURATIONS = ("course", "default")
TARGET_RATIO = 2.0
TARGET_IDLE_COST = 0.05


def environment(configuration: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in KERNEL_ENV and k != "OMP_NUM_THREADS"}
    return {**base, **KERNEL_ENV} if configuration == "course" else base


def child(steps: int, batch_size: int) -> None:
    """Runs in the fresh process: trains the net and prints its steps per second."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.set_num_threads(
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    )
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, 10),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    images, labels = torch.randn(batch_size, 3, 32, 32), torch.randint(0, 10, (batch_size,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()

    for _ in range(5):  # warm-up: allocations, thread pool start
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    print(f"steps_per_s={steps / (time.perf_counter() - started):.4f} threads={torch.get_num_threads()}")


def measure(configuration: str, steps: int, batch_size: int) -> tuple[float, int]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", "--steps", str(steps), "--batch-size", str(batch_size)],
        env=environment(configuration),
        capture_output=True,
        text=True,
        check=True,
    )
    fields = dict(item.split("=") for item in result.stdout.split())
    return float(fields["steps_per_s"]), int(fields["threads"])


def phase(name: str, steps: int, batch_size: int, repeats: int) -> tuple[dict[str, float], float, int]:
    load = os.getloadavg()[0]
    rates: dict[str, list[float]] = {c: [] for c in CONFIGURATIONS}
    threads = 0
    for _ in range(repeats):
        for configuration in CONFIGURATIONS:
            rate, threads = measure(configuration, steps, batch_size)
            rates[configuration].append(rate)
    medians = {c: statistics.median(r) for c, r in rates.items()}
    for configuration, runs in rates.items():
        listed = ", ".join(f"{r:.2f}" for r in runs)
        print(f"{name:5} {configuration:8} {medians[configuration]:7.2f} steps/s (median of {listed})")
    return medians, load, threads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per run (default 30)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each configuration per phase (default 3)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.steps, args.batch_size)
        return 0

    settings = " ".join(f"{k}={v}" for k, v in KERNEL_ENV.items())
    print(
        f"course: {settings}; default: torch's defaults. {args.steps} steps of {args.batch_size} images a run."
    )
    idle, idle_load, threads = phase("idle", args.steps, args.batch_size, args.repeats)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1)  # let it take its core
        busy, busy_load, _ = phase("busy", args.steps, args.batch_size, args.repeats)
    finally:
        spinner.kill()
        spinner.wait()

    ratio = busy["course"] / busy["default"]
    idle_cost = idle["default"] / idle["course"] - 1
    print(f"load average before: idle phase {idle_load:.2f}, busy phase {busy_load:.2f}; {threads} threads")
    print(
        f"with a busy core the course's settings train {ratio:.2f}x as fast as torch's defaults "
        f"(target >= {TARGET_RATIO:g}x: {'met' if ratio >= TARGET_RATIO else 'NOT met'}); without it their steps "
        f"take {100 * idle_cost:+.1f}% time against the defaults' "
        f"(target <= +{100 * TARGET_IDLE_COST:g}%: {'met' if idle_cost <= TARGET_IDLE_COST else 'NOT met'})"
    )
    print(
        f"contention_ratio={ratio:.2f} idle_cost={idle_cost:.3f} "
        f"course_idle_steps_s={idle['course']:.2f} default_idle_steps_s={idle['default']:.2f} "
        f"course_busy_steps_s={busy['course']:.2f} default_busy_steps_s={busy['default']:.2f} "
        f"threads={threads} load_idle={idle_load:.2f} load_busy={busy_load:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
