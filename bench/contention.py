"""Training speed on a shared CPU: the course's kernel settings against torch's defaults, side by side in one run.

    .venv/bin/python bench/contention.py                 # about 5 minutes on a 2-core CPU
    .venv/bin/python bench/contention.py --steps 40 --repeats 5

A student's laptop runs a browser beside the kernel; an instructor grades with several workers. With torch's
default OpenMP wait policy, a thread that waits for a descheduled one spins, and training slows many-fold. The
course starts every kernel with cnnlab/kernel_env.py's KERNEL_ENV (OMP_WAIT_POLICY=PASSIVE), which OpenMP reads
once, when torch loads: so each configuration runs in a fresh Python process.

course    KERNEL_ENV on top of this environment, as every course kernel starts;
default   this environment without KERNEL_ENV's settings (and without OMP_NUM_THREADS): torch's defaults.

Both use every core this process may use (as ``fit`` does) and train the same small conv net on the same random
images, with plain SGD steps, in three phases:

idle      the machine as it is;
spin      one core kept busy by a Python loop that never sleeps (a browser tab, an editor's indexer);
kernel    one other training process, started the same way as the one measured (two notebooks at once, or an
          instructor's grading workers: every kernel on the machine starts either the course's way or torch's).

Configurations alternate, ``--repeats`` times each (``--idle-repeats`` on the idle machine, where a 5% target needs more
runs), and the median steps/s counts. The last line printed holds

    contention_ratio   course / default steps per second beside another kernel (target ≥ 2);
    spin_ratio         the same beside the Python loop (reported; a loop that never waits leaves the default's
                       spinning thread less to steal, so the gain is smaller);
    idle_cost          how much slower the course's settings are on the idle machine, a fraction (target ≤ 0.05).

An "idle" phase is only as idle as the machine: the load average before each phase is printed with the results.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
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


def phase(
    name: str, steps: int, batch_size: int, repeats: int, neighbour: str | None = None
) -> tuple[dict[str, float], float, int]:
    """Median steps/s of each configuration; ``neighbour`` is "spin" or "kernel" for a busy core, None for idle."""
    load = os.getloadavg()[0]
    rates: dict[str, list[float]] = {c: [] for c in CONFIGURATIONS}
    threads = 0
    for _ in range(repeats):
        for configuration in CONFIGURATIONS:
            with busy_core(neighbour, configuration, batch_size):
                rate, threads = measure(configuration, steps, batch_size)
            rates[configuration].append(rate)
    medians = {c: statistics.median(r) for c, r in rates.items()}
    for configuration, runs in rates.items():
        listed = ", ".join(f"{r:.2f}" for r in runs)
        print(f"{name:6} {configuration:8} {medians[configuration]:7.2f} steps/s (median of {listed})")
    return medians, load, threads


@contextmanager
def busy_core(neighbour: str | None, configuration: str, batch_size: int):
    """Another process for the length of one measurement: a Python loop, or a training process started the same
    way as the one measured (its own settings: a kernel beside a kernel)."""
    if neighbour is None:
        yield
        return
    if neighbour == "spin":
        command, env = [sys.executable, "-c", "while True: pass"], None
    else:
        command = [sys.executable, __file__, "--child", "--steps", "1000000", "--batch-size", str(batch_size)]
        env = environment(configuration)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1 if neighbour == "spin" else 4)  # let it take its core (a kernel: import torch, warm up)
        yield
    finally:
        process.kill()
        process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="timed steps per run (default 60)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--repeats", type=int, default=5, help="runs of each configuration per phase (default 5)"
    )
    parser.add_argument(
        "--idle-repeats",
        type=int,
        default=11,
        help="runs of each configuration on the idle machine (default 11: a run varies by ±15%% there, and the "
        "idle target is 5%%)",
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
    idle, idle_load, threads = phase("idle", args.steps, args.batch_size, args.idle_repeats)
    spin, spin_load, _ = phase("spin", args.steps, args.batch_size, args.repeats, neighbour="spin")
    kernel, kernel_load, _ = phase("kernel", args.steps, args.batch_size, args.repeats, neighbour="kernel")

    ratio = kernel["course"] / kernel["default"]
    spin_ratio = spin["course"] / spin["default"]
    idle_cost = idle["default"] / idle["course"] - 1
    print(
        f"load average before: idle phase {idle_load:.2f}, spin phase {spin_load:.2f}, kernel phase "
        f"{kernel_load:.2f}; {threads} threads"
    )
    print(
        f"beside another kernel the course's settings train {ratio:.2f}x as fast as torch's defaults "
        f"(target >= {TARGET_RATIO:g}x: {'met' if ratio >= TARGET_RATIO else 'NOT met'}); beside a Python loop "
        f"{spin_ratio:.2f}x; on the idle machine their steps take {100 * idle_cost:+.1f}% time against the "
        f"defaults' (target <= +{100 * TARGET_IDLE_COST:g}%: {'met' if idle_cost <= TARGET_IDLE_COST else 'NOT met'})"
    )
    print(
        f"contention_ratio={ratio:.2f} spin_ratio={spin_ratio:.2f} idle_cost={idle_cost:.3f} "
        f"course_idle_steps_s={idle['course']:.2f} default_idle_steps_s={idle['default']:.2f} "
        f"course_spin_steps_s={spin['course']:.2f} default_spin_steps_s={spin['default']:.2f} "
        f"course_kernel_steps_s={kernel['course']:.2f} default_kernel_steps_s={kernel['default']:.2f} "
        f"threads={threads} load_idle={idle_load:.2f} load_spin={spin_load:.2f} load_kernel={kernel_load:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
