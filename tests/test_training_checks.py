"""The graded training runs are never flaky: the reference solution passes on 20 seeds out of 20, and a
model that cannot learn fails.

The test runs the notebook's own cells: every code cell up to the training run (with the solutions
filled in), then the training-run cell with its ``SEED = 0`` line set to each seed, then the graded
check cell, hidden tests included. A notebook marks the two cells with the grade ids
``<name>_training_run`` and ``<name>_training_check`` (see docs/authoring.md).
"""

from __future__ import annotations

import re
import statistics

import nbformat
import pytest
import torch
from course import HIDDEN_REGION, SOLUTION_REGION, SOLUTIONS, nbgrader_meta
from torch import nn

from cnnlab.errors import CheckFailed

SEEDS = range(20)
# Notebooks whose training check is swept here, on the CPU, in every CI run. A notebook whose CPU run is
# too long for that is swept on a GPU instead, and recorded in docs/training-checks.md.
SWEPT_ON_CPU = ["01_lenet/lenet.ipynb"]


def _unmarked(source: str) -> str:
    source = SOLUTION_REGION.sub(lambda m: m.group(1), source)
    return HIDDEN_REGION.sub(lambda m: m.group(1), source)


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

    def train(self, seed: int, **replacements):
        namespace = {**self.namespace, **replacements}
        source = re.sub(r"^SEED = 0$", f"SEED = {seed}", self.run_cell, flags=re.M)
        source = "\n".join(line for line in source.splitlines() if ".plot(" not in line)
        namespace["fit"] = _quiet(namespace["fit"])
        exec(compile(source, "training run", "exec"), namespace)
        return namespace

    def check(self, namespace) -> None:
        exec(compile(self.check_cell, "training check", "exec"), namespace)


def _displays_only(source: str) -> bool:
    """Cells that only show things (explorers, example grids) are skipped: they add nothing to the run."""
    return source.lstrip().startswith(("explore(", "cnnlab.data.show_examples("))


def _quiet(fit):
    def quiet_fit(*args, **kwargs):
        return fit(*args, **{**kwargs, "progress": False, "verbose": False})

    return quiet_fit


class ConstantOutput(nn.Module):
    """A model that cannot learn: its output does not depend on its input."""

    def __init__(self, *args, num_classes: int = 10, **kwargs):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1)


@pytest.fixture(scope="module", params=SWEPT_ON_CPU)
def training_check(request):
    return TrainingCheck(request.param)


@pytest.mark.slow
def test_reference_solution_passes_on_every_seed(training_check, capsys):
    accuracies, failures = {}, {}
    for seed in SEEDS:
        namespace = training_check.train(seed)
        accuracies[seed] = namespace["history"].final_test_acc
        try:
            training_check.check(namespace)
        except CheckFailed as failure:
            failures[seed] = str(failure)
    values = list(accuracies.values())
    with capsys.disabled():  # the sweep's figures, for docs/training-checks.md
        print(
            f"\n{training_check.notebook}: {len(SEEDS) - len(failures)}/{len(SEEDS)} seeds pass; test accuracy "
            f"min {min(values):.3f} median {statistics.median(values):.3f} max {max(values):.3f}; "
            + " ".join(f"{seed}:{acc:.3f}" for seed, acc in accuracies.items())
        )
    assert failures == {}


@pytest.mark.slow
def test_a_model_that_cannot_learn_fails(training_check):
    builders = {
        name: ConstantOutput
        for name, value in training_check.namespace.items()
        if isinstance(value, type) and issubclass(value, nn.Module)
    }
    assert builders, "found no model class to replace in the notebook"
    namespace = training_check.train(0, **builders)
    with pytest.raises(CheckFailed, match="training loss|test accuracy"):
        training_check.check(namespace)
