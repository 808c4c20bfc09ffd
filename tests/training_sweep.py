"""A notebook's graded training run and its check, ready to run with any seed; and a command to sweep seeds.

The notebook's own cells run: every code cell up to the training run (solutions filled in, display-only
cells skipped), then the training-run cell with its ``SEED = 0`` line set to each seed, then the graded
check cell, hidden tests included. A notebook marks the two cells with the grade ids
``<name>_training_run`` and ``<name>_training_check`` (docs/authoring.md).

    .venv/bin/python tests/training_sweep.py 02_alexnet/alexnet.ipynb --seeds 0-19 [--jsonl results.jsonl]

prints one line per seed (test accuracy of every History the run makes, pass or fail, seconds) and a
summary; ``CNNLAB_DEVICE=cpu`` or ``cuda`` picks the device. It needs only torch, nbformat and cnnlab's
own dependencies, so it also runs on a GPU machine without Jupyter (docs/training-checks.md).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from course import HIDDEN_REGION, SOLUTION_REGION, SOLUTIONS, nbgrader_meta  # noqa: E402

from cnnlab.errors import CheckFailed  # noqa: E402
from cnnlab.history import History  # noqa: E402


def _unmarked(source: str) -> str:
    source = SOLUTION_REGION.sub(lambda m: m.group(1), source)
    return HIDDEN_REGION.sub(lambda m: m.group(1), source)


def _displays_only(source: str) -> bool:
    """Cells that only show things (explorers, example grids) are skipped: they add nothing to the run."""
    return source.lstrip().startswith(("explore(", "cnnlab.data.show_examples("))


def _quiet(fit):
    def quiet_fit(*args, **kwargs):
        return fit(*args, **{**kwargs, "progress": False, "verbose": False})

    return quiet_fit


class TrainingCheck:
    """A notebook's training run and its check, ready to run with any seed."""

    def __init__(self, notebook: str):
        self.notebook = notebook
        cells = nbformat.read(SOLUTIONS / notebook, as_version=4).cells
        ids = [nbgrader_meta(c).get("grade_id", "") for c in cells]
        run_index = next(i for i, g in enumerate(ids) if g.endswith("_training_run"))
        check_index = next(i for i, g in enumerate(ids) if g.endswith("_training_check"))
        self.setup = [
            _unmarked(c.source)
            for c in cells[:run_index]
            if c.cell_type == "code" and not _displays_only(c.source)
        ]
        self.run_cell = cells[run_index].source
        self.check_cell = _unmarked(cells[check_index].source)
        assert re.search(r"^SEED = 0$", self.run_cell, re.M), (
            "the training-run cell must set SEED = 0 on its own line"
        )
        self.namespace: dict = {}
        for source in self.setup:
            exec(compile(source, notebook, "exec"), self.namespace)

    def train(self, seed: int, **replacements) -> dict:
        """Runs the training-run cell with ``SEED = seed``; returns the namespace it ran in."""
        namespace = {**self.namespace, **replacements}
        source = re.sub(r"^SEED = 0$", f"SEED = {seed}", self.run_cell, flags=re.M)
        source = "\n".join(line for line in source.splitlines() if ".plot(" not in line)
        namespace["fit"] = _quiet(namespace["fit"])
        exec(compile(source, "training run", "exec"), namespace)
        return namespace

    def check(self, namespace: dict) -> None:
        """Runs the graded check cell; raises CheckFailed when the run did not learn."""
        exec(compile(self.check_cell, "training check", "exec"), namespace)

    def histories(self, namespace: dict) -> dict[str, History]:
        """Every History the training-run cell made, by variable name."""
        return {name: value for name, value in namespace.items() if isinstance(value, History)}


def _seeds(text: str) -> list[int]:
    """'0-19' or '3,5,8' or '4'."""
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(part) for part in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="path under solutions/, e.g. 02_alexnet/alexnet.ipynb")
    parser.add_argument("--seeds", default="0-19", type=_seeds)
    parser.add_argument("--jsonl", type=Path, help="append one JSON line per seed to this file")
    args = parser.parse_args()

    check = TrainingCheck(args.notebook)
    accuracies, failures = [], 0
    for seed in args.seeds:
        started = time.perf_counter()
        namespace = check.train(seed)
        seconds = time.perf_counter() - started
        try:
            check.check(namespace)
            verdict = "pass"
        except CheckFailed as failure:
            verdict, failures = f"FAIL: {failure}", failures + 1
        runs = {name: h.final_test_acc for name, h in check.histories(namespace).items()}
        device = next(iter(check.histories(namespace).values())).device
        accuracies.extend(runs.values())
        print(
            f"{args.notebook} seed {seed}: "
            + ", ".join(f"{name} {acc:.3f}" for name, acc in runs.items())
            + f"; {verdict}; {seconds:.1f} s on {device}",
            flush=True,
        )
        if args.jsonl:
            record = {
                "notebook": args.notebook,
                "seed": seed,
                "accuracies": runs,
                "passed": verdict == "pass",
            }
            record |= {"seconds": round(seconds, 2), "device": device}
            with args.jsonl.open("a") as out:
                out.write(json.dumps(record) + "\n")
    print(
        f"{args.notebook}: {len(args.seeds) - failures}/{len(args.seeds)} seeds pass; test accuracy min "
        f"{min(accuracies):.3f} median {statistics.median(accuracies):.3f} max {max(accuracies):.3f}"
    )


if __name__ == "__main__":
    main()
