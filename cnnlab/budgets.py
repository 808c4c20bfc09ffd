"""Training budgets: how long ``fit`` trains, chosen per device by the toolkit, not by the student.

A budget counts epochs, never seconds, so a run does the same steps on a fast and a slow machine and
gives the same curves. Each named budget has one entry per device type; a device type missing from
an entry (Apple's ``mps``, say) uses the ``"cpu"`` one.

    short   LeNet-sized nets (notebook 01): about 15 s on a 2-core CPU.
    medium  deeper plain nets without batch norm, notebook 02's AlexNet-mini: 8 epochs, under a minute on an
            idle 2-core CPU (docs/benchmarks.md). Notebook 03's minis use their own ``MINI_BUDGET``.
    inception  GoogLeNet-mini (notebook 05): a few epochs, about 25 s on a 2-core CPU.
    long    ResNet minis: meant for a GPU; slow on a CPU (a guess, to be tuned with its notebook).
    short-bn  nets with batch norm after every conv, the VGG-mini (notebook 04): half of short's epochs,
            about 25 s on an idle 2-core CPU.
    resnet  notebook 06: ResNet-mini's graded run; LeNet-5 is then trained with the same budget, ungraded, to
            compare (fewer epochs than "short", because ResNet-mini's step costs a few of LeNet-5's).

To add a budget for a later notebook, add a row to ``BUDGETS``; a notebook that needs a one-off
budget can pass ``fit(model, data, budget=Budget(epochs=3, batch_size=64, lr=0.02))``.
"""

from dataclasses import dataclass

from .errors import ConfigError

__all__ = ["Budget", "BUDGETS", "resolve_budget"]


@dataclass(frozen=True)
class Budget:
    """How long and how hard to train.

    ``lr`` is the peak learning rate for ``batch_size``; the schedule warms up linearly over the
    first ``warmup_fraction`` of the steps, then decays to zero along a cosine.
    """

    epochs: int
    batch_size: int
    lr: float
    warmup_fraction: float = 0.15

    def __post_init__(self):
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            raise ConfigError(f"Budget.epochs must be a whole number ≥ 1; got {self.epochs!r}.")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ConfigError(f"Budget.batch_size must be a whole number ≥ 1; got {self.batch_size!r}.")
        if not self.lr > 0:
            raise ConfigError(f"Budget.lr must be a positive number; got {self.lr!r}.")
        if not 0 <= self.warmup_fraction < 1:
            raise ConfigError(
                f"Budget.warmup_fraction must be in [0, 1), a fraction of the steps; got {self.warmup_fraction!r}."
            )


# One batch size and peak lr everywhere (lr 0.1 for batch 128 suits nets with and without batch norm).
# "short" is the same on both devices, so a CPU run and a GPU run of notebook 01 tell one story. Over
# seeds 0-19, LeNet-5 (ReLU) on the course data ends at 44-60% after 12 epochs (median 55.5%), against
# 35-55% after 8: the longer run is both better and steadier (docs/training-checks.md).
BUDGETS: dict[str, dict[str, Budget]] = {
    "short": {
        "cpu": Budget(epochs=12, batch_size=128, lr=0.1),
        "cuda": Budget(epochs=12, batch_size=128, lr=0.1),
    },
    # Half short's lr: at 0.1, AlexNet-mini (8 layers, He init, no batch norm) stayed at chance or below 40%
    # on 4 of 20 seeds; at 0.05 it learns on every seed (docs/training-checks.md). 8 epochs, not short's 12, so that
    # the run, with LRN on its first maps, stays under a minute on a 2-core CPU (12 epochs took 80 s there).
    "medium": {
        "cpu": Budget(epochs=8, batch_size=128, lr=0.05),
        "cuda": Budget(epochs=8, batch_size=128, lr=0.05),
    },
    "long": {
        "cpu": Budget(epochs=15, batch_size=128, lr=0.1),
        "cuda": Budget(epochs=40, batch_size=128, lr=0.1),
    },
    # GoogLeNet-mini (notebook 05): a step costs several LeNet steps (four Inception modules of six convs each,
    # with batch norm), so few epochs; batch norm lets it learn at short's lr.
    "inception": {
        "cpu": Budget(epochs=3, batch_size=128, lr=0.1),
        "cuda": Budget(epochs=3, batch_size=128, lr=0.1),
    },
    # Batch norm after every conv lets a deep stack train fast and steadily: VGG-mini (notebook 04, 8 convs with
    # batch norm) ends at 77% after 6 epochs at lr 0.1 on seed 0 (docs/training-checks.md for the sweep).
    "short-bn": {
        "cpu": Budget(epochs=6, batch_size=128, lr=0.1),
        "cuda": Budget(epochs=6, batch_size=128, lr=0.1),
    },
    # Notebook 06: ResNet-mini's graded run, and LeNet-5's ungraded run beside it.
    "resnet": {
        "cpu": Budget(epochs=6, batch_size=128, lr=0.1),
        "cuda": Budget(epochs=6, batch_size=128, lr=0.1),
    },
}


def resolve_budget(budget: str | Budget, device_type: str) -> tuple[str, Budget]:
    """The budget's name and its values on ``device_type`` ('cpu', 'cuda', 'mps', ...)."""
    if isinstance(budget, Budget):
        return "custom", budget
    if not isinstance(budget, str) or budget not in BUDGETS:
        choices = ", ".join(repr(name) for name in BUDGETS)
        raise ConfigError(f"budget must be one of {choices}, or a Budget(...); got {budget!r}.")
    per_device = BUDGETS[budget]
    return budget, per_device.get(device_type, per_device["cpu"])
