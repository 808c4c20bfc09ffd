"""Notebook 05's checks catch the usual mistakes, each in its own step, with a message naming the layer.

The mistakes are data, in mistakes.toml beside this file: each runs the notebook's check cells in-process (hidden
tests included) on the reference solution with one mistake written into it, and asserts which checks fail and what
the failure says. No kernel, no training.
"""

from __future__ import annotations

from fair_grading import *  # noqa: F403  (the tests every unit runs, on this unit's mistakes.toml)
