"""The graded training runs are never flaky, and their seed sweeps are recorded, not rerun.

Each graded run's 20-seed sweep is kept in tests/assignments/<assignment>/sweep.json, with a fingerprint of what
decides the run (tests/training_sweep.py writes it). These tests are fast: every graded run has a CPU
record whose fingerprint still matches the notebook, every recorded seed passed, and
docs/training-checks.md shows the records. The one training they do is cheap: a model whose output
is a constant must fail its check. Seed 0 of every run also trains for real in each notebook's nbgrader
round trip (tests/test_notebooks.py).
"""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch
from torch import nn
from training_sweep import (
    DOCS,
    RECORD_SEEDS,
    ROOT,
    GradedRun,
    _Cell,
    all_graded_runs,
    docs_with_records,
    graded_runs,
    load_records,
    stale_parts,
)

from cnnlab.budgets import BUDGETS
from cnnlab.errors import CheckFailed

RUNS = all_graded_runs()


def _id(run: GradedRun) -> str:
    return f"{run.assignment}:{run.name}"


def _sweeps(run: GradedRun) -> dict:
    return load_records(run.assignment).get("runs", {}).get(run.name, {})


def test_the_course_has_graded_runs():
    assert {"01_lenet", "02_alexnet", "03_zfnet"} <= {run.assignment for run in RUNS}


@pytest.mark.parametrize("run", RUNS, ids=_id)
def test_every_graded_run_has_a_current_sweep_record(run):
    sweeps = _sweeps(run)
    if "cpu" not in sweeps:
        # Not swept yet: said in every run's summary and in docs/training-checks.md, until the record exists
        pytest.skip(
            f"{run.notebook}: its graded run {run.name!r} has no CPU sweep record yet; record one (20 runs): "
            f"{run.command()}"
        )
    for device_type, sweep in sweeps.items():
        stale = stale_parts(run, sweep)
        where = (
            ""
            if device_type == "cpu"
            else f" on a {device_type} machine, or delete the record's {device_type!r} entry"
        )
        assert stale == [], (
            f"{run.record_path.relative_to(ROOT)}: the {device_type} sweep of {run.notebook}'s run {run.name!r} "
            f"was recorded for other {' and '.join(stale)}: what decides the run has changed since. "
            f"Sweep it again{where}: {run.command()}"
        )


@pytest.mark.parametrize("run", RUNS, ids=_id)
def test_every_recorded_seed_passes(run):
    incomplete = []
    for device_type, sweep in _sweeps(run).items():
        seeds = sweep["seeds"]
        failed = {seed: result.get("failure") for seed, result in seeds.items() if not result["passed"]}
        assert failed == {}, f"{run.notebook} {run.name} on {device_type}: seeds that failed their check"
        assert sweep["passed"] == len(seeds)
        if len(seeds) < RECORD_SEEDS:
            incomplete.append(f"{device_type} holds {len(seeds)} of {RECORD_SEEDS} seeds")
    if incomplete:  # seeds add up: the others can be swept later with the same command
        pytest.skip(
            f"{run.notebook} {run.name}: the sweep is not complete ({'; '.join(incomplete)}): {run.command()}"
        )


def test_the_docs_show_the_records():
    text = DOCS.read_text()
    assert text == docs_with_records(text), (
        "docs/training-checks.md does not show the current sweep records: run "
        ".venv/bin/python tests/training_sweep.py --docs"
    )


def _lenet_run_with(edit) -> GradedRun:
    """Notebook 01's graded run, its cells passed through ``edit(grade_id, source) -> source``."""
    original = graded_runs("01_lenet/lenet.ipynb")[0]
    cells = [
        _Cell(cell.index, cell.grade_id, edit(cell.grade_id, cell.source))
        for cell in [*original.setup, *original.runs, original.check_cell]
    ]
    return GradedRun(original.notebook, original.name, cells)


def test_the_fingerprint_sees_a_new_model_threshold_budget_or_dataset(monkeypatch):
    unchanged = _lenet_run_with(lambda grade_id, source: source)
    assert unchanged.fingerprint() == graded_runs("01_lenet/lenet.ipynb")[0].fingerprint()
    sweep = {"fingerprint": unchanged.fingerprint()}

    wider = _lenet_run_with(
        lambda g, s: s.replace("super().__init__()", "super().__init__()\n        WIDTH = 2")
    )
    assert stale_parts(wider, sweep) == ["cells"]
    lower_bar = _lenet_run_with(lambda g, s: re.sub(r"min_test_acc=[0-9.]+", "min_test_acc=0.2", s))
    assert stale_parts(lower_bar, sweep) == ["check"]

    budget = next(name for name in BUDGETS if f'"{name}"' in unchanged.runs[0].source)
    longer = {
        device: dataclasses.replace(plan, epochs=plan.epochs + 1) for device, plan in BUDGETS[budget].items()
    }
    monkeypatch.setitem(BUDGETS, budget, longer)
    assert stale_parts(unchanged, sweep) == ["budgets"]


def test_a_budget_counts_by_its_values_not_its_name(monkeypatch):
    original = graded_runs("01_lenet/lenet.ipynb")[0]
    budget = next(name for name in BUDGETS if f'"{name}"' in original.runs[0].source)
    sweep = {"fingerprint": original.fingerprint()}

    def run_with(other: str, values: dict) -> GradedRun:
        monkeypatch.setitem(BUDGETS, other, values)
        return _lenet_run_with(lambda g, s: s.replace(f'"{budget}"', f'"{other}"'))

    assert run_with("lenet-renamed", BUDGETS[budget]).fingerprint() == original.fingerprint()
    longer = {
        device: dataclasses.replace(plan, epochs=plan.epochs + 1) for device, plan in BUDGETS[budget].items()
    }
    assert stale_parts(run_with("lenet-longer", longer), sweep) == ["budgets"]


def test_a_cell_the_run_does_not_need_leaves_the_fingerprint_alone():
    original = graded_runs("01_lenet/lenet.ipynb")[0]
    extra = _Cell(original.runs[0].index - 1, "", "lenet_for_show = LeNet5()\nprint(lenet_for_show)")
    cells = [*original.setup, extra, *original.runs, original.check_cell]
    assert GradedRun(original.notebook, original.name, cells).fingerprint() == original.fingerprint()


class ConstantOutput(nn.Module):
    """A model that cannot learn: its output does not depend on its input."""

    def __init__(self, *args, num_classes: int = 10, **kwargs):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1)


@pytest.mark.parametrize("run", RUNS, ids=_id)
def test_a_model_that_cannot_learn_fails(run, monkeypatch):
    # One thread: OpenMP threads that wait for each other crawl when other work shares the cores
    monkeypatch.setenv("CNNLAB_THREADS", "1")
    builders = {
        name: ConstantOutput
        for name, value in run.namespace.items()
        if isinstance(value, type) and issubclass(value, nn.Module)
    }
    assert builders, f"{run.notebook}: found no model class to replace in the cells of run {run.name!r}"
    namespace = run.train(0, **builders)
    with pytest.raises(CheckFailed, match="training loss|test accuracy"):
        run.check(namespace)
