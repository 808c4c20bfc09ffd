"""What a training run leaves behind: per-epoch curves, timings, and whether it diverged."""

import copy
import dataclasses
import html
import math
from dataclasses import dataclass, field

from . import fmt

__all__ = ["History"]


def _percent(fraction: float) -> str:
    return "–" if math.isnan(fraction) else f"{100 * fraction:.1f}%"


def _number(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3f}"


@dataclass
class History:
    """The record of one ``fit``: one entry per finished epoch in each list.

    ``train_loss`` and ``train_acc`` are running averages over the epoch's steps (the model changes
    as it goes); ``test_loss`` and ``test_acc`` are measured after the epoch, in eval mode.
    ``seconds`` is the wall time since ``fit`` started, at each epoch's end (evaluation included);
    ``images_per_second`` counts training images over training time only.
    ``initial_loss`` is the loss of the untrained model on the first batch: about ln(classes).
    When the loss becomes NaN or infinite, training stops, ``diverged`` is True and ``message``
    says what happened; otherwise ``message`` is empty.
    ``model_name`` is the model's class; ``name`` the run's name (``fit(..., name="ZFNet-mini")``),
    shown in the summary line and the plot's title; ``run_name`` is ``name``, or the class when unnamed.
    ``model`` is the model ``fit`` trained (the caller's own object, trained in place), so that a run whose model
    was built inside the call, ``fit(ResNet(...), data)``, can still be looked at; ``to_dict`` leaves it out.
    ``aux_weight`` is ``fit``'s: when it is set (and not 0), ``train_loss`` is the main loss plus ``aux_weight``
    times each auxiliary head's, while ``test_loss`` is the main loss alone (eval mode runs no heads); the plot's
    legend says so.
    """

    model_name: str
    device: str
    budget_name: str
    epochs: int
    batch_size: int
    seed: int
    num_classes: int = 0
    lr: float = math.nan
    steps_per_epoch: int = 0
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    images_per_second: list[float] = field(default_factory=list)
    initial_loss: float = math.nan
    total_seconds: float = 0.0
    diverged: bool = False
    message: str = ""
    name: str = ""
    model: object = field(default=None, repr=False, compare=False)
    aux_weight: float | None = None

    @property
    def run_name(self) -> str:
        return self.name or self.model_name

    @property
    def final_test_acc(self) -> float:
        return self.test_acc[-1] if self.test_acc else math.nan

    @property
    def final_train_loss(self) -> float:
        return self.train_loss[-1] if self.train_loss else math.nan

    @property
    def best_test_acc(self) -> float:
        finite = [acc for acc in self.test_acc if not math.isnan(acc)]
        return max(finite) if finite else math.nan

    @property
    def throughput(self) -> float:
        """Training images per second over the whole run (every epoch sees as many images)."""
        rates = [rate for rate in self.images_per_second if rate > 0]
        return len(rates) / sum(1 / rate for rate in rates) if rates else math.nan

    def summary(self) -> str:
        """One line: model, device, budget, accuracy, time."""
        budget = f"budget {self.budget_name!r} ({len(self.train_loss)}/{self.epochs} epochs, batch {self.batch_size})"
        line = (
            f"{self.run_name} on {self.device}, {budget}: test accuracy {_percent(self.final_test_acc)}"
            f" (best {_percent(self.best_test_acc)}), train loss {_number(self.final_train_loss)},"
            f" {self.total_seconds:.1f} s at {fmt.count(self.throughput)} img/s"
        )
        return f"{line}. Diverged: {self.message}" if self.diverged else line

    def plot(self):
        """Loss and accuracy against epoch, train and test, as a matplotlib Figure titled with the run's name.

        In a notebook it shows once, whether the cell ends with ``history.plot()``, ``history.plot();``
        or ``figure = history.plot()`` (see ``cnnlab.figures``).
        """
        from matplotlib.ticker import MaxNLocator, PercentFormatter

        from .figures import new_figure, show

        epochs = range(1, len(self.train_loss) + 1)
        fig = new_figure(figsize=(10, 3.6), layout="constrained")
        loss_ax, acc_ax = fig.subplots(1, 2)
        train_label, test_label = "train", "test"
        if self.aux_weight:  # the two curves are not the same loss: the legend says what each one adds up
            train_label = f"train: main + {self.aux_weight:g} × auxiliary losses"
            test_label = "test: main loss alone"
        loss_ax.plot(epochs, self.train_loss, "o-", label=train_label)
        loss_ax.plot(epochs, self.test_loss, "o-", label=test_label)
        loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
        acc_ax.plot(epochs, self.train_acc, "o-", label="train")
        acc_ax.plot(epochs, self.test_acc, "o-", label="test")
        acc_ax.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
        acc_ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        for ax in (loss_ax, acc_ax):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            ax.legend()
        fig.suptitle(f"{self.run_name} on {self.device}")
        return show(fig)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{epoch}</td><td>{_number(train_loss)}</td><td>{_percent(train_acc)}</td>"
            f"<td>{_number(test_loss)}</td><td>{_percent(test_acc)}</td><td>{seconds:.1f}</td></tr>"
            for epoch, (train_loss, train_acc, test_loss, test_acc, seconds) in enumerate(
                zip(self.train_loss, self.train_acc, self.test_loss, self.test_acc, self.seconds), start=1
            )
        )
        header = "".join(
            f"<th>{name}</th>" for name in ("epoch", "train loss", "train acc", "test loss", "test acc", "s")
        )
        caption = html.escape(self.summary())
        return (
            f'<table><caption style="text-align:left">{caption}</caption>'
            f"<thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"
        )

    def to_dict(self) -> dict:
        """Plain Python values, ready for ``json.dumps``; ``History(**d)`` rebuilds it."""
        return {
            f.name: copy.deepcopy(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name != "model"
        }
