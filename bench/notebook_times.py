"""How long each solution notebook takes, top to bottom, and each graded training run in it.

    .venv/bin/python bench/notebook_times.py                     # every notebook in solutions/
    .venv/bin/python bench/notebook_times.py --threads 1         # the same at one thread (CNNLAB_THREADS=1)
    .venv/bin/python bench/notebook_times.py --only 01_lenet     # one assignment (repeat --only for more)

Each notebook of solutions/ runs as the instructor wrote it, solutions and hidden tests included (as an autograde
of a perfect submission runs it), in a fresh kernel started the course's way: the ``cnnlab`` kernel spec where it
is installed, else ``python3``, with cnnlab/kernel_env.py's environment either way; in the notebook's folder.
Nothing is written back. The cells' times come from the kernel's own timestamps (nbclient records them); a graded
run is a cell whose grade id ends in ``_training_run``, and its device and accuracy are read from what ``fit``
printed. Other training runs (a ``fit`` in an ungraded cell) are listed too, not counted in the maximum.

Targets (docs/benchmarks.md): every graded run ≤ 60 s on the 2-core CPU, ≤ 120 s at one thread, ≤ 10 s on a GPU.
The last line printed is one line of key=value pairs, with ``max_graded_run_s`` and ``total_s``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
sys.path.insert(0, str(ROOT / "tools"))
from release import kernel_env_module  # noqa: E402  (loads cnnlab/kernel_env.py without importing torch here)

KERNEL_ENV = kernel_env_module()
GRADED_RUN = re.compile(r"_training_run$")
# What fit prints (cnnlab/train.py): "Training <name> (<n> parameters) on <device>, budget ..." and
# "Finished in 12.3 s (4,567 img/s): test accuracy 47.0% after 12 epochs."
HEADER = re.compile(r"^Training (?P<name>.+?) \(.*? parameters\) on (?P<device>.+?), budget ", re.M)
FINISHED = re.compile(r"^Finished in (?P<seconds>[\d.]+) s .*?test accuracy (?P<acc>[\d.]+)%", re.M)


@dataclass
class Run:
    cell: str  # grade id, or "cell <n>" for an ungraded cell
    graded: bool
    cell_s: float  # the whole cell, as the kernel timed it
    # (name, device, seconds fit reported, test accuracy %) of each fit in the cell
    fits: list[tuple[str, str, float, float]] = field(default_factory=list)


@dataclass
class Result:
    notebook: str
    wall_s: float
    runs: list[Run]
    error: str = ""


def cell_seconds(cell) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        start = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return float("nan")
    return (end - start).total_seconds()


def stdout_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def training_runs(nb) -> list[Run]:
    runs = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        graded = bool(GRADED_RUN.search(grade_id))
        text = stdout_of(cell)
        headers, finishes = list(HEADER.finditer(text)), list(FINISHED.finditer(text))
        if not graded and not headers:
            continue
        fits = [
            (h["name"], h["device"], float(f["seconds"]), float(f["acc"])) for h, f in zip(headers, finishes)
        ]
        runs.append(Run(grade_id or f"cell {index}", graded, cell_seconds(cell), fits))
    return runs


def execute(path: Path, env: dict[str, str], timeout: float) -> Result:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=KERNEL_ENV.kernel_name(),
        resources={"metadata": {"path": str(path.parent)}},
    )
    started = time.perf_counter()
    error = ""
    try:
        client.execute(env=env)
    except CellExecutionError as failure:
        error = str(failure).strip().splitlines()[-1][:300]
    except Exception as failure:  # a timeout, a dead kernel: report it and go on with the next notebook
        error = f"{type(failure).__name__}: {failure}"[:300]
    wall = time.perf_counter() - started
    return Result(str(path.relative_to(SOLUTIONS)), wall, training_runs(nb), error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, help="CNNLAB_THREADS for the kernels (default: every core)")
    parser.add_argument("--only", action="append", default=[], help="an assignment id, e.g. 01_lenet")
    parser.add_argument("--timeout", type=float, default=900, help="per-cell limit in seconds (default 900)")
    args = parser.parse_args(argv)

    assignments = sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [a for a in args.only if a not in assignments]
    if unknown:
        print(f"notebook_times.py: no solutions/{unknown[0]}; the assignments are {', '.join(assignments)}")
        return 2
    notebooks = [nb for a in (args.only or assignments) for nb in sorted((SOLUTIONS / a).glob("*.ipynb"))]

    env = KERNEL_ENV.kernel_environment()
    env.pop("CNNLAB_THREADS", None)
    if args.threads:
        env["CNNLAB_THREADS"] = str(args.threads)
    threads = str(args.threads) if args.threads else "all"
    load = os.getloadavg()[0]
    print(
        f"kernel {KERNEL_ENV.kernel_name()!r}, CNNLAB_THREADS={env.get('CNNLAB_THREADS', '(unset: every core)')}, "
        f"{os.cpu_count()} CPUs, load average {load:.2f} before"
    )

    results = []
    for path in notebooks:
        result = execute(path, env, args.timeout)
        results.append(result)
        status = f"FAILED: {result.error}" if result.error else "ok"
        print(f"{result.notebook:34} {result.wall_s:7.1f} s  {status}")
        for run in result.runs:
            kind = "graded run" if run.graded else "other run "
            fits = "; ".join(
                f"{name} on {device}: fit {s:.1f} s, test acc {acc:.1f}%" for name, device, s, acc in run.fits
            )
            print(f"    {kind} {run.cell:28} {run.cell_s:7.1f} s  {fits or '(no fit output)'}")
        sys.stdout.flush()

    graded = [run for result in results for run in result.runs if run.graded]
    total = sum(result.wall_s for result in results)
    max_graded = max((run.cell_s for run in graded), default=0.0)
    devices = sorted({device.split(":")[0] for run in graded for _, device, _, _ in run.fits}) or ["none"]
    failed = [result.notebook for result in results if result.error]
    per_notebook = " ".join(f"{Path(r.notebook).parent}_s={r.wall_s:.1f}" for r in results)
    per_run = " ".join(f"{run.cell}_s={run.cell_s:.1f}" for run in graded)
    print(
        f"max_graded_run_s={max_graded:.1f} total_s={total:.1f} notebooks={len(results)} graded_runs={len(graded)} "
        f"failed={len(failed)} threads={threads} device={'+'.join(devices)} load_before={load:.2f} "
        f"{per_notebook} {per_run}".rstrip()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
