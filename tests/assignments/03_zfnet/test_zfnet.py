"""Notebook 03 (ZFNet): what it says holds (the setting its text suggests fails where it says, the prose's numbers
are what the cells compute, its steps in code add up as their labels say, its diagram marks what its text says),
and its checks against the usual mistakes (mistakes.toml beside this file)."""

from __future__ import annotations

import nbformat
import torch
from course import SOLUTIONS, explorer_cell, solution_code
from fair_grading import *  # noqa: F403  (the tests every unit runs, on this unit's mistakes.toml)
from shown_cells import cell_calling, first_explorer, index_of, markdown_of, move_cell, run_cell, text_before

from cnnlab import fmt, summarize


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


def test_the_diagram_of_zfnet_against_alexnet_outlines_the_layers_the_text_says():
    notebook = "03_zfnet/zfnet.ipynb"
    index, source = cell_calling(notebook, "draw")
    assert index_of(notebook, "zfnet_check") < index < first_explorer(notebook)
    text = text_before(notebook, index)
    assert "POOL2 and NORM2 are not outlined" in text and "FC7 and FC8 are AlexNet's" in text
    namespace = solution_code(notebook, "family_class", "zfnet_model")
    diagram = run_cell(source, namespace)
    changed = {
        kind: [node.changed for node in diagram.nodes if node.kind == kind]
        for kind in ("Conv2d", "MaxPool2d", "LocalResponseNorm", "Linear")
    }
    assert changed == {
        "Conv2d": [True] * 5,  # CONV1 to CONV5
        "MaxPool2d": [True, False, True],  # POOL1, POOL2, POOL3
        "LocalResponseNorm": [True, False],  # NORM1, NORM2
        "Linear": [True, False, False],  # FC6, FC7, FC8
    }


def test_the_three_steps_in_code_add_up_as_their_labels_say(capsys):
    """ "+ CONV2 stride 2" keeps CONV1's move: the steps accumulate (``move``), and each is read against AlexNet."""
    notebook = "03_zfnet/zfnet.ipynb"
    index, source = move_cell(notebook)
    assert first_explorer(notebook) < index
    assert "`explorer.move(...)` keeps the earlier moves" in text_before(notebook, index)
    namespace = solution_code(notebook, "family_class")
    run_cell(source, namespace)
    printed = capsys.readouterr().out
    explorer, family = namespace["explorer"], namespace["AlexNetFamily"]
    steps = {}
    for _label, change in namespace["steps"]:
        steps.update(change)  # what the labels say: each step on top of the ones before it
    assert {name: explorer.values[name] for name in steps} == steps
    zfnet = summarize(family(**steps), (3, 227, 227))
    assert explorer.summary.total_params == zfnet.total_params
    # the last step's difference is the three steps' together, against AlexNet
    alexnet = summarize(family(), (3, 227, 227))
    last = printed.split("+ wider CONV3-5:")[1]
    assert f"params {fmt.count(alexnet.total_params)} → {fmt.count(zfnet.total_params)}" in last
    # Q2's model answer quotes the first two steps as printed
    first, second = printed.split("+ CONV2 stride 2:")
    assert "MACs 1.14G → 4.49G (+3.35G, ×3.95)" in first and "activations 3.41 MiB → 14.15 MiB" in first
    assert "MACs 1.14G → 1.24G" in second and "params 62.4M → 62.4M" in second
    answer = markdown_of(notebook, "q_stride_cost")
    assert (
        "from 1.14G to 4.49G (×3.95)" in answer and "from 3.41 MiB to 14.15 MiB per image (×4.15)" in answer
    )
    assert "62.4M parameters and 1.24G MACs" in answer
