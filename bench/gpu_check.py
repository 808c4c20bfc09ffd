"""The whole course on this machine's device: every solution notebook top to bottom, and fit's throughput.

    python bench/gpu_check.py --out gpu-check.md             # the real run (CUDA if there is one, else "cpu")
    python bench/gpu_check.py --tiny --out /tmp/rehearsal.md  # a rehearsal: every training run at a tiny budget

For each solutions/<id>/*.ipynb, in order, it executes the notebook with nbclient (kernel ``python3`` unless
``--kernel``), records every ``fit(...)`` run (its cell's grade id, the model, the device, fit's own time, the cell's
wall time and the final test accuracy), and asserts that every graded cell passed (no error output) and that no other
cell raised. Then it runs bench/train_throughput.py (ResNet-18; ``--tiny`` makes it a few steps of the small net) and
keeps its key=value line. It writes one Markdown file: the machine, the versions, a table per run and per notebook,
the throughput and the total wall time; the last line printed is one line of key=value pairs. Exit status 1 when a
cell failed.

On the GPU machine (see ../shared/device/README.md: nbclient comes as wheels there, the kernel is ``python3``, and
the repository root must be on PYTHONPATH so that ``import cnnlab`` works in the kernel):

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \\
        .device-wheels/*.whl && export PYTHONPATH=/tmp/site:$PWD
    python3 -m cnnlab.data build && python3 bench/gpu_check.py --out "$OUT/gpu-check.md"

Targets (issue 15): each graded training run ≤ 10 s on a GPU; the whole series ≤ 90 s on an H100 or H200; fit's
throughput ≥ 2.6× the naive loop's for the CIFAR ResNet-18. The table marks each against its target.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
MARKER = "GPU_CHECK_RUN "
RUN_TARGET_S = 10.0  # each graded training run, on a GPU
SERIES_TARGET_S = 90.0  # every notebook, on an H100 or H200
RATIO_TARGET = 2.6  # fit's loop against the naive loop, ResNet-18

# The first cell of every notebook run here: it reports each fit() call on one line that this script reads back.
RECORDER = f"""\
# Added by bench/gpu_check.py, not part of the notebook: one line per fit() run, read back by the script.
import json as _json

import cnnlab as _cnnlab
import cnnlab.train as _train

_recorded_inner_fit = _train.fit


def _recorded_fit(model, data, **options):
    history = _recorded_inner_fit(model, data, **options)
    record = dict(
        model=history.model_name, device=str(history.device), seconds=history.total_seconds,
        test_acc=history.final_test_acc, epochs=history.epochs, budget=history.budget_name,
    )
    print({MARKER!r} + _json.dumps(record))
    return history


_cnnlab.fit = _train.fit = _recorded_fit
"""


@dataclass
class Run:
    notebook: str
    cell: str  # the cell's grade id, or its index
    graded: bool  # a graded training run (grade id ``*_training_run``)
    model: str
    device: str
    seconds: float
    cell_seconds: float | None
    test_acc: float
    check: str = "-"  # the matching ``*_training_check`` cell: passed / FAILED


@dataclass
class NotebookResult:
    notebook: str
    seconds: float
    cells: int
    graded_passed: int
    graded_total: int
    errors: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)


def solution_notebooks(only: list[str]) -> list[Path]:
    folders = sorted(p for p in SOLUTIONS.iterdir() if p.is_dir() and not p.name.startswith("."))
    notebooks = [nb for folder in folders for nb in sorted(folder.glob("*.ipynb"))]
    if only:
        notebooks = [nb for nb in notebooks if any(o in str(nb.relative_to(SOLUTIONS)) for o in only)]
    return notebooks


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def cell_seconds(cell) -> float | None:
    """The cell's wall time, from the timestamps nbclient records."""
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = datetime.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def text_of(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    return ""


def run_notebook(path: Path, kernel: str, tiny: bool, timeout: int) -> NotebookResult:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    added = [nbformat.v4.new_code_cell(RECORDER)]
    if tiny:
        sys.path.insert(0, str(ROOT / "tests" / "browser"))
        from tiny_budget import SOURCE as TINY_BUDGET  # the browser tests' tiny-budget cell

        added.insert(0, nbformat.v4.new_code_cell(TINY_BUDGET))
    nb.cells[0:0] = added
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel,
        allow_errors=True,  # run every cell, then report each failure
        resources={"metadata": {"path": str(path.parent)}},
    )
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started

    name = str(path.relative_to(SOLUTIONS))
    result = NotebookResult(name, seconds, len(nb.cells) - len(added), 0, 0)
    checks = {}
    for index, cell in enumerate(nb.cells[len(added) :]):
        if cell.cell_type != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        label = grade_id(cell) or f"cell {index}"
        if meta.get("grade"):
            result.graded_total += 1
            result.graded_passed += not errors
        checks[label] = "passed" if not errors else "FAILED"
        for error in errors:
            result.errors.append(f"{label}: {error.get('ename')}: {error.get('evalue', '')[:200]}")
        for output in cell.get("outputs", []):
            for line in text_of(output).splitlines():
                if line.startswith(MARKER):
                    record = json.loads(line[len(MARKER) :])
                    result.runs.append(
                        Run(
                            notebook=name,
                            cell=label,
                            graded=label.endswith("_training_run"),
                            model=record["model"],
                            device=record["device"],
                            seconds=record["seconds"],
                            cell_seconds=cell_seconds(cell),
                            test_acc=record["test_acc"],
                        )
                    )
    for run in result.runs:  # the check that goes with the run: zfnet_training_run -> zfnet_training_check
        if run.cell.endswith("_run"):
            run.check = checks.get(re.sub(r"_run$", "_check", run.cell), "-")
    return result


def throughput(tiny: bool) -> dict[str, str]:
    """bench/train_throughput.py's key=value line (ResNet-18; a few steps of the small net with --tiny)."""
    command = [sys.executable, str(ROOT / "bench" / "train_throughput.py")]
    if tiny:
        command += ["--model", "small", "--steps", "5", "--warmup", "1"]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    print(completed.stdout, end="")
    if completed.returncode != 0:
        return {"error": (completed.stderr.strip().splitlines() or ["failed"])[-1]}
    last = completed.stdout.strip().splitlines()[-1]
    return dict(pair.split("=", 1) for pair in last.split())


def machine() -> dict[str, str]:
    import torch

    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": "cpu",
    }
    if torch.cuda.is_available():
        info["device"] = f"cuda: {torch.cuda.get_device_name(0)}"
        info["cuda"] = str(torch.version.cuda)
        info["cudnn"] = str(torch.backends.cudnn.version())
    else:
        info["cpu"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    for package in ("nbclient", "ipykernel", "ipywidgets"):
        try:
            info[package] = __import__(package).__version__
        except Exception:
            info[package] = "?"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        )
        info["commit"] = commit.stdout.strip() or "?"
    except OSError:
        info["commit"] = "?"
    return info


def markdown(
    info, results: list[NotebookResult], speed: dict, total_s: float, tiny: bool, on_gpu: bool
) -> str:
    def mark(ok: bool) -> str:
        return "✓" if ok else "✗"

    lines = [
        "# The course on " + info["device"],
        "",
        ("**Rehearsal at a tiny training budget** (tests/browser/tiny_budget.py): times and accuracies say nothing "
         "about the real budgets.\n" if tiny else ""),
        " · ".join(f"{k} {v}" for k, v in info.items()),
        "",
        "## Training runs",
        "",
        "| notebook | run | graded | model | device | fit s | cell s | test acc | check |"
        + (" ≤ 10 s |" if on_gpu else ""),
        "|---|---|---|---|---|---:|---:|---:|---|" + ("---|" if on_gpu else ""),
    ]  # fmt: skip
    for r in (run for result in results for run in result.runs):
        cell_s = f"{r.cell_seconds:.1f}" if r.cell_seconds is not None else "?"
        row = (
            f"| {r.notebook} | {r.cell} | {'yes' if r.graded else 'no'} | {r.model} | {r.device} | {r.seconds:.1f} | "
            f"{cell_s} | {r.test_acc:.1%} | {r.check} |"
        )
        lines.append(row + (f" {mark(r.seconds <= RUN_TARGET_S)} |" if on_gpu else ""))
    lines += [
        "",
        "## Notebooks",
        "",
        "| notebook | wall s | cells | graded cells passed | errors |",
        "|---|---:|---:|---|---|",
    ]
    for r in results:
        errors = "; ".join(r.errors) if r.errors else "none"
        lines.append(
            f"| {r.notebook} | {r.seconds:.1f} | {r.cells} | {r.graded_passed}/{r.graded_total} | {errors} |"
        )
    series = sum(r.seconds for r in results)
    ratio = speed.get("ratio")
    lines += [
        "",
        "## fit's throughput (bench/train_throughput.py)",
        "",
        " ".join(f"{k}={v}" for k, v in speed.items()),
        "",
        "## Totals",
        "",
        f"- notebooks, one after the other: {series:.1f} s" + (f" (target ≤ {SERIES_TARGET_S:.0f} s on an H100/H200: "
                                                               f"{mark(series <= SERIES_TARGET_S)})" if on_gpu else ""),
        f"- fit against the naive loop: {ratio}×" + (f" (target ≥ {RATIO_TARGET}: "
                                                     f"{mark(float(ratio) >= RATIO_TARGET)})" if on_gpu and ratio else ""),
        f"- total wall time of this check: {total_s:.1f} s",
        "",
    ]  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-check.md"), help="the Markdown file to write")
    parser.add_argument("--kernel", default="python3", help="the Jupyter kernel to run the notebooks with")
    parser.add_argument("--tiny", action="store_true", help="rehearsal: every training run at a tiny budget")
    parser.add_argument(
        "--only", nargs="*", default=[], help="only notebooks whose path contains one of these"
    )
    parser.add_argument("--timeout", type=int, default=900, help="per-cell limit, in seconds")
    args = parser.parse_args()

    started = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    from cnnlab.data import load_course_data
    from cnnlab.kernel_env import KERNEL_ENV

    os.environ.update(KERNEL_ENV)  # the kernels inherit it
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    load_course_data()  # built once before the clock of any notebook starts
    info = machine()
    on_gpu = info["device"].startswith("cuda")
    print(f"gpu_check on {info['device']}{' (tiny budget rehearsal)' if args.tiny else ''}", flush=True)

    results = []
    for path in solution_notebooks(args.only):
        result = run_notebook(path, args.kernel, args.tiny, args.timeout)
        results.append(result)
        runs = ", ".join(f"{r.cell} {r.seconds:.1f}s {r.test_acc:.1%} on {r.device}" for r in result.runs)
        status = "ok" if not result.errors else f"{len(result.errors)} FAILED: {result.errors}"
        print(f"  {result.notebook}: {result.seconds:.1f} s, graded {result.graded_passed}/{result.graded_total}, "
              f"{status}; runs: {runs or 'none'}", flush=True)  # fmt: skip
    speed = throughput(args.tiny)
    total = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(info, results, speed, total, args.tiny, on_gpu))

    failed = sum(len(r.errors) for r in results)
    graded = [run for r in results for run in r.runs if run.graded]
    print(f"wrote {args.out}")
    print(
        f"device={'cuda' if on_gpu else 'cpu'} tiny={int(args.tiny)} notebooks={len(results)} failed_cells={failed} "
        f"graded_runs={len(graded)} slowest_graded_run_s={max((r.seconds for r in graded), default=0):.1f} "
        f"series_s={sum(r.seconds for r in results):.1f} ratio={speed.get('ratio', '?')} total_s={total:.1f}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
