"""Modules whose latency is known in advance, to check a timing function against.

Notebook 07's checks time these instead of a real network: a real network's time is what you want to measure,
so it cannot tell whether your function measured it well. Each probe's forward pass sleeps for a scripted time
and returns its input; it also records whether autograd was on during each call.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ScriptedLatency", "GpuSpin", "check_seconds"]


class ScriptedLatency(nn.Module):
    """Every call sleeps ``base_s``; the first ``cold_calls`` calls sleep ``cold_extra_s`` more (a cold start:
    caches, allocator, kernel selection); after them, the calls marked True in the repeating ``outliers`` pattern
    sleep ``outlier_extra_s`` more (another process, a page fault, the OS)."""

    def __init__(
        self,
        base_s: float,
        *,
        cold_calls: int = 0,
        cold_extra_s: float = 0.0,
        outliers: Sequence[bool] = (),
        outlier_extra_s: float = 0.0,
    ):
        super().__init__()
        self.base_s = base_s
        self.cold_calls = cold_calls
        self.cold_extra_s = cold_extra_s
        self.outliers = tuple(outliers)
        self.outlier_extra_s = outlier_extra_s
        self.calls = 0
        self.grad_enabled: list[bool] = []  # torch.is_grad_enabled() during each call

    def scripted_seconds(self, call: int) -> float:
        """How long call number ``call`` (0 = the first) sleeps."""
        seconds = self.base_s
        if call < self.cold_calls:
            seconds += self.cold_extra_s
        elif self.outliers and self.outliers[(call - self.cold_calls) % len(self.outliers)]:
            seconds += self.outlier_extra_s
        return seconds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.grad_enabled.append(torch.is_grad_enabled())
        time.sleep(self.scripted_seconds(self.calls))
        self.calls += 1
        return x


class GpuSpin(nn.Module):
    """On a CUDA GPU: each call queues a kernel that keeps the GPU busy for ``cycles`` clock cycles and returns at
    once, as every GPU operation does. A timer that does not wait for the GPU measures the queueing, not the work."""

    def __init__(self, cycles: int):
        super().__init__()
        self.cycles = cycles

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.cuda._sleep(self.cycles)
        return x


def check_seconds(seconds, expected_s: float, what: str, hint: str, *, slack_s: float = 0.025) -> None:
    """``seconds`` is a float between ``expected_s`` − 5 ms and ``expected_s`` + ``slack_s`` (a busy machine
    oversleeps a little, never undersleeps); prints a ✓ line, or raises CheckFailed with what was expected."""
    from cnnlab.checks import CheckFailed

    if not isinstance(seconds, float):
        raise CheckFailed(f"{what}: expected a time in seconds (a float), got {seconds!r}. Hint: {hint}")
    if not expected_s - 0.005 <= seconds <= expected_s + slack_s:
        raise CheckFailed(
            f"{what}: expected about {expected_s * 1000:.0f} ms (the scripted steady time), got "
            f"{seconds * 1000:.0f} ms. Hint: {hint}"
        )
    print(f"✓ {what} = {seconds * 1000:.1f} ms (scripted: {expected_s * 1000:.0f} ms)")
