"""Notebook 01 (LeNet-5): its explorer names the layer that cannot work, and its checks against the usual mistakes
(mistakes.toml beside this file)."""

from __future__ import annotations

from course import explorer_cell, solution_code
from fair_grading import *  # noqa: F403  (the tests every unit runs, on this unit's mistakes.toml)

NOTEBOOK = "01_lenet/lenet.ipynb"


def test_lenet_explorer_names_the_layer_that_cannot_work():
    explorer = eval(
        compile(explorer_cell(NOTEBOOK), NOTEBOOK, "eval"), solution_code(NOTEBOOK, "lenet_class")
    )
    explorer.set(kernel_size=7, input_size=16)  # 16 -> C1 10 -> S2 5: C3's 7×7 kernel does not fit
    assert explorer.summary is None
    assert explorer.message.startswith("C3"), explorer.message
