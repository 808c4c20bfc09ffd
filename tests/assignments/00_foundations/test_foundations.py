"""Notebook 00 (foundations): its checks against the usual mistakes (mistakes.toml beside this file)."""

from __future__ import annotations

from fair_grading import *  # noqa: F403  (the tests every unit runs, on this unit's mistakes.toml)
