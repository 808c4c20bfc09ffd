"""Training budgets: how long ``fit`` trains, chosen per device by the toolkit, not by the student.

A budget counts epochs, never seconds, so a run does the same steps on a fast and a slow machine and
gives the same curves. Each named budget has one entry per device type; a device type missing from
an entry (Apple's ``mps``, say) uses the ``"cpu"`` one. Each is named for the nets it trains:

    lenet           LeNet-5 (notebooks 00 and 01), and ``fit``'s default: about 15 s on a 2-core CPU.
    alexnet-mini    notebook 02's AlexNet-mini, a deeper plain net without batch norm: under a minute on an
                    idle 2-core CPU. Notebook 03's minis use their own ``MINI_BUDGET``.
    googlenet-mini  notebook 05's GoogLeNet-mini: a few epochs, about 25 s on a 2-core CPU.
    vgg-mini        nets with batch norm after every conv: notebook 04's VGG-mini, about 25 s on an idle
    resnet-mini     2-core CPU; notebook 06's ResNet-mini (and LeNet-5 beside it) and notebook 08's
                    ResNeXt-mini and ResNet-mini. Two names, one set of values.

Why each budget holds its values, with the sweeps that chose them: docs/training-checks.md. To add a
budget for a later notebook, add a row to ``BUDGETS``, named for the net it trains; a notebook that
needs a one-off budget can pass ``fit(model, data, budget=Budget(epochs=3, batch_size=64, lr=0.02))``.
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


# One batch size and peak lr (0.1 for batch 128) everywhere it works, with and without batch norm; each
# budget the same on every device, so that a CPU run and a GPU run of a notebook tell one story.
# docs/training-checks.md, "Why each budget holds its values", has the sweeps behind each number.

# Batch norm after every conv lets a deep stack learn in few epochs at the full lr.
_BATCH_NORM_MINI = {
    "cpu": Budget(epochs=6, batch_size=128, lr=0.1),
    "cuda": Budget(epochs=6, batch_size=128, lr=0.1),
}

BUDGETS: dict[str, dict[str, Budget]] = {
    # 12 epochs, not 8: steadier over seeds, and still well under a minute.
    "lenet": {
        "cpu": Budget(epochs=12, batch_size=128, lr=0.1),
        "cuda": Budget(epochs=12, batch_size=128, lr=0.1),
    },
    # Half the lr: a plain 8-layer ReLU net without batch norm stalls on some seeds at 0.1. 8 epochs to stay
    # under a minute with LRN on its first maps.
    "alexnet-mini": {
        "cpu": Budget(epochs=8, batch_size=128, lr=0.05),
        "cuda": Budget(epochs=8, batch_size=128, lr=0.05),
    },
    # A step costs several LeNet steps (four Inception modules), so few epochs; batch norm allows the full lr.
    "googlenet-mini": {
        "cpu": Budget(epochs=3, batch_size=128, lr=0.1),
        "cuda": Budget(epochs=3, batch_size=128, lr=0.1),
    },
    "vgg-mini": _BATCH_NORM_MINI,
    "resnet-mini": _BATCH_NORM_MINI,
}


def resolve_budget(budget: str | Budget, device_type: str) -> tuple[str, Budget]:
    """The budget's name and its values on ``device_type`` ('cpu', 'cuda', 'mps', ...)."""
    if isinstance(budget, Budget):
        return "custom", budget
    if not isinstance(budget, str) or budget not in BUDGETS:
        choices = ", ".join(repr(name) for name in BUDGETS)
        raise ConfigError(
            f"budget must name one of the budgets, {choices}, or be a Budget(...); got {budget!r}."
        )
    per_device = BUDGETS[budget]
    return budget, per_device.get(device_type, per_device["cpu"])
