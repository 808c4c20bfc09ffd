"""Notebook 07's latency study, run many times on one machine, and kept as a record: its seed record.

The study is not a training run, so it has no seeds to sweep; what varies between two runs is the machine (other
programs, the OS, the CPU's clock). The record is the smallest honest equivalent of a graded run's sweep.json: the
study run ``--runs`` times one after the other, each as the notebook runs it (its own cells: the imports, the sizes,
``measure_latency``'s solution and the study's three cells), and for each run how many rounds it made, whether every
(network, batch) pair was measured in every round, how long it took, and the conclusions its code printed.

The record, ``tests/assignments/07_complexity/latency_record.json``, holds a fingerprint of what decides the study (the
cells it runs, solutions filled in, and ``LATENCY_STUDY``'s values), the machine, torch's version and the runs.
tests/assignments/07_complexity/test_complexity.py fails when the fingerprint no longer matches the notebook, so a
changed study is run again before it lands:

    nice -n 19 .venv/bin/python tests/latency_record.py --runs 10 --record    # CNNLAB_THREADS picks the threads
    .venv/bin/python tests/latency_record.py --runs 2 --threads 1 --beside    # kept beside the record's runs
    .venv/bin/python tests/latency_record.py --runs 1 --threads 1             # one run, printed, no record

``--beside`` adds its runs to the current record's ``runs_beside`` (what the study takes at another thread count),
not to its ``runs``; a new ``--record`` starts without them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cnnlab.kernel_env import KERNEL_ENV  # noqa: E402  (before torch loads: OpenMP reads it once)

for _key, _value in KERNEL_ENV.items():
    os.environ.setdefault(_key, _value)

import nbformat  # noqa: E402
from course import HIDDEN_REGION, SOLUTION_REGION, SOLUTIONS, nbgrader_meta  # noqa: E402

NOTEBOOK = SOLUTIONS / "07_complexity" / "complexity.ipynb"
RECORD = Path(__file__).resolve().parent / "assignments" / "07_complexity" / "latency_record.json"
# the cells a run executes, each found by a text only it holds (the first code cell, the imports, always runs)
STUDY_CELLS = {
    "sizes": "def summary_of(name):",
    "latency_function": "def measure_latency(",
    "settings": "study = LATENCY_STUDY.get(",
    "measurement": "def time_every_pair_once(",
    "conclusions": "def faster_in_every_round(",
}
# the lines the conclusions cell prints, by the form of the sentence that its code chose
RANKED, TOO_CLOSE_TO_RANK = "  ranked: ", "  the spread is too large to rank "
FELL, ROSE, TOO_NOISY = "it fell in every round", "it rose in every round", "the spread is too large to say"


def _unmarked(source: str) -> str:
    source = SOLUTION_REGION.sub(lambda m: m.group(1), source)
    return HIDDEN_REGION.sub(lambda m: m.group(1), source)


def study_cells(notebook: Path = NOTEBOOK) -> dict[str, str]:
    """{"imports" and each STUDY_CELLS name: the cell's source, solutions filled in}."""
    code = [c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    found = {"imports": _unmarked(code[0].source)}
    for name, marker in STUDY_CELLS.items():
        hits = [c for c in code if marker in c.source]
        assert len(hits) == 1, f"{notebook.name}: {len(hits)} code cells hold {marker!r}, expected one"
        found[name] = _unmarked(hits[0].source)
    assert nbgrader_meta(next(c for c in code if STUDY_CELLS["latency_function"] in c.source)).get("grade_id")
    return found


def latency_study_settings() -> str:
    """LATENCY_STUDY's values, as the notebook imports them from reference_nets.py."""
    sys.path.insert(0, str(NOTEBOOK.parent))
    try:
        from reference_nets import LATENCY_STUDY
    finally:
        sys.path.remove(str(NOTEBOOK.parent))
    return repr(sorted(LATENCY_STUDY.items()))


def fingerprint(notebook: Path = NOTEBOOK) -> str:
    """SHA-256 of what decides the study: its cells and its settings (not the rest of the notebook)."""
    text = json.dumps({"cells": study_cells(notebook), "settings": latency_study_settings()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def run_study(threads: int | None = None) -> dict:
    """One run of the study, as the notebook runs it; returns what the record keeps of it."""
    import torch

    cells = study_cells()
    namespace: dict = {"__name__": "__main__"}
    printed = io.StringIO()
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    sys.path.insert(0, str(NOTEBOOK.parent))
    try:
        for name, source in cells.items():
            if name == "conclusions":
                printed = io.StringIO()  # keep what the conclusions cell prints, and only that
            with contextlib.redirect_stdout(printed):
                exec(compile(source, f"07:{name}", "exec"), namespace)
            if name == "imports" and threads:
                torch.set_num_threads(threads)
    finally:
        sys.path.remove(str(NOTEBOOK.parent))
    rounds = len(namespace["round_seconds"])
    readings = namespace["readings"]
    return {
        "threads": torch.get_num_threads(),
        "load_before": round(load_before, 2),
        "rounds": rounds,
        "pairs": len(readings),
        "readings_per_pair": sorted({len(seconds) for seconds in readings.values()}),
        "study_s": round(sum(namespace["round_seconds"]), 1),
        "run_s": round(time.perf_counter() - started, 1),
        "conclusions": printed.getvalue().splitlines(),
    }


def tally(runs: list[dict]) -> dict[str, int]:
    """How often each form of conclusion was printed, over all the runs."""
    lines = [line for run in runs for line in run["conclusions"]]
    return {
        "ranked": sum(line.startswith(RANKED) for line in lines),
        "too close to rank": sum(line.startswith(TOO_CLOSE_TO_RANK) for line in lines),
        "fell": sum(FELL in line for line in lines),
        "rose": sum(ROSE in line for line in lines),
        "too noisy to say": sum(TOO_NOISY in line for line in lines),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, help="torch's CPU threads (default: the notebook's)")
    parser.add_argument("--record", action="store_true", help=f"write the runs to {RECORD.name}")
    parser.add_argument("--beside", action="store_true", help=f"add the runs to {RECORD.name}'s runs_beside")
    args = parser.parse_args()
    import torch

    runs = []
    for index in range(args.runs):
        run = run_study(args.threads)
        runs.append(run)
        print(f"run {index}: {json.dumps({k: v for k, v in run.items() if k != 'conclusions'})}", flush=True)
        print("\n".join(run["conclusions"]), flush=True)
        if args.record:  # after every run: a run cut short keeps the runs it made
            write_record(runs, torch.__version__)
        elif args.beside:
            record = json.loads(RECORD.read_text())
            assert record["fingerprint"] == fingerprint(), (
                "the record is not the current study's: --record first"
            )
            record.setdefault("runs_beside", []).append(run)
            RECORD.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    print("conclusions over all runs:", tally(runs))


def write_record(runs: list[dict], torch_version: str) -> None:
    cpuinfo = Path("/proc/cpuinfo")
    models = [
        line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line
    ]
    cpu = models[0] if models else platform.processor()
    record = {
        "fingerprint": fingerprint(),
        "recorded": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": f"cpu: {cpu}, {os.cpu_count()} cores",
        "torch": torch_version,
        "settings": latency_study_settings(),
        "tally": tally(runs),
        "runs": runs,
    }
    RECORD.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
