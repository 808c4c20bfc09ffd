"""A summary against the baseline's: the totals' differences and the layers that changed."""

from __future__ import annotations

from dataclasses import dataclass

from .. import fmt
from ..summary import Summary

__all__ = ["Change", "Diff", "changed_layers", "compare"]


@dataclass(frozen=True)
class Change:
    """One total, before (the baseline) and after (the current configuration)."""

    label: str  # "params", "MACs", "activations"
    before: int
    after: int

    @property
    def delta(self) -> int:
        return self.after - self.before

    @property
    def ratio(self) -> float:
        if self.before == 0:
            return 1.0 if self.after == 0 else float("inf")
        return self.after / self.before

    def text(self) -> str:
        """'params 62.4M → 108M (+45.2M, ×1.72)'; activation memory in bytes."""
        size = fmt.num_bytes if self.label == "activations" else fmt.count
        delta = "±0" if self.delta == 0 else ("+" if self.delta > 0 else "-") + size(abs(self.delta))
        ratio = f"×{self.ratio:.2f}" if self.ratio < 100 else f"×{self.ratio:.0f}"
        return f"{self.label} {size(self.before)} → {size(self.after)} ({delta}, {ratio})"


@dataclass(frozen=True)
class Diff:
    """The current configuration against the baseline: three totals and the rows that changed."""

    params: Change
    macs: Change
    activations: Change  # activation memory of one forward pass, in bytes
    changed_layers: tuple[str, ...]  # layers whose output shape or parameter count differ

    def lines(self) -> list[str]:
        return [self.params.text(), self.macs.text(), self.activations.text()]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def compare(baseline: Summary, current: Summary) -> Diff:
    return Diff(
        params=Change("params", baseline.total_params, current.total_params),
        macs=Change("MACs", baseline.total_macs, current.total_macs),
        activations=Change("activations", baseline.activation_bytes, current.activation_bytes),
        changed_layers=changed_layers(baseline, current),
    )


def changed_layers(baseline: Summary, current: Summary) -> tuple[str, ...]:
    """Names of the current layers that are new, or whose output shape or params differ from the baseline."""
    before = _first_calls(baseline)
    return tuple(name for name, row in _first_calls(current).items() if before.get(name) != row)


def _first_calls(summary: Summary) -> dict[str, tuple]:
    found: dict[str, tuple] = {}
    for row in summary.rows:
        found.setdefault(row.name, (row.output_shape, row.params))
    return found
