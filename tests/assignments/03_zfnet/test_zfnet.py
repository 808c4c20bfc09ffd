"""Notebook 03 (ZFNet): what it says holds (the setting its text suggests fails where it says, and the prose's
numbers are what the cells compute), and its checks against the usual mistakes (mistakes.toml beside this file)."""

from __future__ import annotations

import nbformat
import torch
from course import SOLUTIONS, explorer_cell, solution_code
from fair_grading import *  # noqa: F403  (the tests every unit runs, on this unit's mistakes.toml)


def _markdown(notebook: str) -> str:
    cells = nbformat.read(SOLUTIONS / notebook, as_version=4).cells
    return "\n".join(c.source for c in cells if c.cell_type == "markdown")


def _explorer(notebook: str, namespace: dict):
    return eval(compile(explorer_cell(notebook), notebook, "eval"), namespace)


def test_the_zfnet_setting_the_text_suggests_fails_at_pool3():
    notebook = "03_zfnet/zfnet.ipynb"
    assert "CONV1's stride at 6 and CONV2's at 3 on a 163×163 input leave POOL3" in " ".join(
        _markdown(notebook).split()
    )
    explorer = _explorer(notebook, solution_code(notebook, "family_class"))
    explorer.set(conv1_stride=6, conv2_stride=3, input_size=163)
    assert explorer.summary is None
    assert explorer.message.startswith("POOL3"), explorer.message
    explorer.set(conv1_stride=6, conv2_stride=1, input_size=163)  # one change less, and it works
    assert explorer.summary is not None


def test_zfnet_summary_states_the_slide_network_size_the_cells_compute():
    notebook = "03_zfnet/zfnet.ipynb"
    assert "about six times the size of AlexNet" in " ".join(_markdown(notebook).split())
    family = solution_code(notebook, "family_class")["AlexNetFamily"]
    with torch.device("meta"):
        slide = family(
            conv1_kernel=7, conv1_stride=2, conv3_filters=512, conv4_filters=1024, conv5_filters=512
        )
        alexnet = family()
    ratio = sum(p.numel() for p in slide.parameters()) / sum(p.numel() for p in alexnet.parameters())
    assert round(ratio) == 6, ratio
