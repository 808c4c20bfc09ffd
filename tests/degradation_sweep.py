"""Notebook 06's degradation experiment on many seeds, and its record.

The notebook's ungraded experiment (cells ``degradation_setup``, ``degradation_run``, ``degradation_verdict``) trains
a shallow and a deep plain net and their residual twins, and prints whether the deep plain net ends with the higher
training loss while the deep residual net does not. Its claim holds only if it holds on most seeds, so this runs the
notebook's own cells (solutions filled in) with ``EXPERIMENT_SEED`` = each seed, at the budget the notebook picks for
the device, and keeps what each seed printed in ``tests/assignments/06_resnet/degradation.json``, with a fingerprint
of the cells that decide it. tests/assignments/06_resnet/test_resnet.py fails when the fingerprint no longer matches
or when fewer than 9 of the 10 recorded seeds show the degradation:

    .venv/bin/python tests/degradation_sweep.py --seeds 0-9 --threads 1
    .venv/bin/python tests/degradation_sweep.py --seeds 0-4 --threads 1 &   # several processes may share the record
    .venv/bin/python tests/degradation_sweep.py --seeds 5-9 --threads 1 &
    .venv/bin/python tests/degradation_sweep.py --table     # the record as docs/degradation.md's table

Each net's CPU time (the process's, at one thread: about its time on an idle core) is kept beside its wall time,
which a loaded machine inflates.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cnnlab.kernel_env import KERNEL_ENV  # noqa: E402  (before torch loads: OpenMP reads it once)

for _key, _value in KERNEL_ENV.items():
    os.environ.setdefault(_key, _value)

import nbformat  # noqa: E402
from course import SOLUTIONS, nbgrader_meta  # noqa: E402
from training_sweep import _digest, _processor, _seeds, _unmarked  # noqa: E402

NOTEBOOK = "06_resnet/resnet.ipynb"
RECORD = Path(__file__).resolve().parent / "assignments" / "06_resnet" / "degradation.json"
# the cells that decide the experiment: the block and the builder it trains, and its own three cells
DECIDING = ("basic_block", "resnet_builder", "degradation_setup", "degradation_run", "degradation_verdict")
NEEDED = ("bottleneck_block",)  # run, since the builder's table names it, but it decides nothing here
SEED_LINE = re.compile(r"^EXPERIMENT_SEED = 0\b", re.M)
RECORD_SEEDS = 10
SHOWN_AT_LEAST = 9  # of the RECORD_SEEDS


def cells() -> dict[str, str]:
    """{grade id: source, solutions filled in} of the notebook's code cells, and its first code cell as ``imports``."""
    code = [c for c in nbformat.read(SOLUTIONS / NOTEBOOK, as_version=4).cells if c.cell_type == "code"]
    found = {nbgrader_meta(c).get("grade_id"): _unmarked(c.source) for c in code}
    found["imports"] = _unmarked(code[0].source)
    missing = [name for name in DECIDING + NEEDED if name not in found]
    if missing:
        raise SystemExit(f"{NOTEBOOK} has no cells with grade ids {missing}")
    if not SEED_LINE.search(found["degradation_setup"]):
        raise SystemExit(f"{NOTEBOOK}: degradation_setup must set EXPERIMENT_SEED = 0 on a line of its own")
    return found


def fingerprint() -> dict:
    """A hash of the cells that decide the experiment and of the dataset."""
    from cnnlab.data.course import COURSE_SPEC

    sources = cells()
    parts = {"cells": _digest([sources[name] for name in DECIDING]), "dataset": COURSE_SPEC.sha256}
    return {**parts, "sha256": _digest(parts)}


def run_seed(seed: int, threads: int) -> dict:
    """The experiment's three cells with EXPERIMENT_SEED = seed: each net's final loss and times, and the verdict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    sources = cells()
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for name in ("imports", "basic_block", "bottleneck_block", "resnet_builder"):
            exec(compile(sources[name], f"{NOTEBOOK} {name}", "exec"), namespace)
    torch.set_num_threads(threads)  # after the notebook's setup, which sets its own
    from cnnlab import load_course_data

    namespace["data"] = load_course_data()
    setup = SEED_LINE.sub(f"EXPERIMENT_SEED = {seed}", sources["degradation_setup"])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(setup, f"{NOTEBOOK} degradation_setup", "exec"), namespace)
    train, cpu_seconds = namespace["training_losses"], []

    def timed(*args, **kwargs):  # the CPU time of each net, in the order the run cell trains them
        started = time.process_time()
        losses = train(*args, **kwargs)
        cpu_seconds.append(time.process_time() - started)
        return losses

    namespace["training_losses"] = timed
    with contextlib.redirect_stdout(printed):
        for name in ("degradation_run", "degradation_verdict"):
            exec(compile(sources[name], f"{NOTEBOOK} {name}", "exec"), namespace)
    plt.close("all")
    names = list(namespace["curves"])
    return {
        "final_loss": {name: round(namespace["final"][name], 4) for name in names},
        "seconds": {name: round(namespace["seconds"][name], 1) for name in names},
        "cpu_seconds": {name: round(cpu, 1) for name, cpu in zip(names, cpu_seconds)},
        "plain_degrades": bool(namespace["plain_degrades"]),
        "residual_holds": bool(namespace["residual_holds"]),
        "printed": printed.getvalue().splitlines(),
        "budget": {
            "device": namespace["device"].type,
            "depths": list(namespace["DEPTHS"]),
            "width": namespace["WIDTH"],
            "steps": namespace["STEPS"],
            "batch_size": namespace["BATCH_SIZE"],
        },
        "load_average": os.getloadavg()[0],
    }


def shown(result: dict) -> bool:
    return result["plain_degrades"] and result["residual_holds"]


def save(results: dict, threads: int) -> None:
    """Adds the seeds to the record (kept when it holds the same fingerprint), under a lock: processes may share it."""
    import fcntl

    import torch

    with open(RECORD.with_name(".degradation.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
        now = fingerprint()
        seeds = record.get("seeds", {}) if record.get("fingerprint") == now else {}
        seeds.update(results)
        record = {
            "notebook": NOTEBOOK,
            "fingerprint": now,
            "processor": _processor(),
            "torch": torch.__version__,
            "threads": threads,
            "date": datetime.date.today().isoformat(),
            "seeds": dict(sorted(seeds.items(), key=lambda item: int(item[0]))),
            "shown": sum(shown(result) for result in seeds.values()),
        }
        RECORD.write_text(json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def table() -> str:
    """The record as a markdown table, one row a seed, for docs/degradation.md."""
    record = json.loads(RECORD.read_text())
    seeds = record["seeds"]
    budget = next(iter(seeds.values()))["budget"]
    names = [f"{kind}-{depth}" for kind in ("plain", "ResNet") for depth in budget["depths"]]
    rows = [
        f"| seed | {' | '.join(names)} | deep − shallow, plain / ResNet | shows it | CPU s per net | load |",
        "|---" * (len(names) + 5) + "|",
    ]
    for seed, result in seeds.items():
        final, cpu = result["final_loss"], result["cpu_seconds"]
        shallow, deep = result["budget"]["depths"]
        gaps = [final[f"{kind}-{deep}"] - final[f"{kind}-{shallow}"] for kind in ("plain", "ResNet")]
        rows.append(
            f"| {seed} | {' | '.join(f'{final[name]:.3f}' for name in names)} | "
            f"{gaps[0]:+.3f} / {gaps[1]:+.3f} | {'yes' if shown(result) else 'no'} | "
            f"{', '.join(f'{cpu[name]:.0f}' for name in names)} | {result['load_average']:.1f} |"
        )
    return "\n".join(
        [
            f"{budget['device']}, {budget['depths'][0]} and {budget['depths'][1]} layers, width {budget['width']}, "
            f"{budget['steps']} steps of {budget['batch_size']}; {record['processor']}, torch {record['torch']}, "
            f"{record['threads']} thread; {record['date']}, fingerprint `{record['fingerprint']['sha256'][:12]}`. "
            f"**The degradation shows on {record['shown']} of {len(seeds)} seeds.** Final training losses (the mean "
            "over the last 10% of the steps):",
            "",
            *rows,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default=f"0-{RECORD_SEEDS - 1}", help="e.g. 0-9 or 3,5")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-record", action="store_true", help="print only")
    parser.add_argument(
        "--table", action="store_true", help="print the record as a markdown table, run nothing"
    )
    arguments = parser.parse_args()
    if arguments.table:
        print(table())
        return
    for seed in _seeds(arguments.seeds):
        result = run_seed(seed, arguments.threads)
        losses = ", ".join(f"{name} {loss:.3f}" for name, loss in result["final_loss"].items())
        cpu = ", ".join(f"{seconds:.0f}" for seconds in result["cpu_seconds"].values())
        print(
            f"seed {seed}: {losses}; {'shows' if shown(result) else 'does NOT show'} the degradation; "
            f"CPU s per net {cpu}; load {result['load_average']:.1f}",
            flush=True,
        )
        if not arguments.no_record:
            save({str(seed): result}, arguments.threads)


if __name__ == "__main__":
    main()
