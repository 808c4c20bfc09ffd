"""The graded training runs are never flaky: the reference solution passes on 20 seeds out of 20, and a
model that cannot learn fails.

The runs use the notebooks' own cells (tests/training_sweep.py). On a GPU every notebook is swept on
20 seeds. On a CPU, the notebooks in ``SWEPT_ON_CPU`` are; the others, whose runs take minutes on a
CPU, get the spot checks in ``CPU_SPOT_SEEDS`` here (seed 0 also runs in tests/test_notebooks.py), and
their 20-seed sweeps are recorded in docs/training-checks.md.
"""

from __future__ import annotations

import statistics

import pytest
import torch
from torch import nn
from training_sweep import TrainingCheck

from cnnlab.device import default_device
from cnnlab.errors import CheckFailed

SEEDS = range(20)
TRAINED = ["01_lenet/lenet.ipynb", "02_alexnet/alexnet.ipynb", "03_zfnet/zfnet.ipynb"]
SWEPT_ON_CPU = ["01_lenet/lenet.ipynb"]
# About 40 s a seed for 02; 03 trains two nets, one of them for minutes, so it gets no extra CPU seed.
CPU_SPOT_SEEDS = {"02_alexnet/alexnet.ipynb": range(1, 3)}


def seeds_for(notebook: str) -> range:
    if default_device().type == "cpu" and notebook not in SWEPT_ON_CPU:
        return CPU_SPOT_SEEDS.get(notebook, range(0))
    return SEEDS


class ConstantOutput(nn.Module):
    """A model that cannot learn: its output does not depend on its input."""

    def __init__(self, *args, num_classes: int = 10, **kwargs):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1)


@pytest.fixture(scope="module", params=TRAINED)
def training_check(request):
    return TrainingCheck(request.param)


@pytest.mark.slow
def test_reference_solution_passes_on_every_seed(training_check, capsys):
    seeds = seeds_for(training_check.notebook)
    if not seeds:
        pytest.skip(f"{training_check.notebook}: too long for a CPU sweep in CI; see docs/training-checks.md")
    accuracies, failures = {}, {}
    for seed in seeds:
        namespace = training_check.train(seed)
        for name, history in training_check.histories(namespace).items():
            accuracies[f"{seed}:{name}"] = history.final_test_acc
        try:
            training_check.check(namespace)
        except CheckFailed as failure:
            failures[seed] = str(failure)
    values = list(accuracies.values())
    with capsys.disabled():  # the sweep's figures, for docs/training-checks.md
        print(
            f"\n{training_check.notebook}: {len(seeds) - len(failures)}/{len(seeds)} seeds pass on "
            f"{default_device()}; test accuracy min {min(values):.3f} median {statistics.median(values):.3f} "
            f"max {max(values):.3f}; " + " ".join(f"{key}={acc:.3f}" for key, acc in accuracies.items())
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
