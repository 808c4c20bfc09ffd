"""Notebook 01 (LeNet-5): its explorer names the layer that cannot work, its diagram shows the student's net as the
text says, and its checks against the usual mistakes (mistakes.toml beside this file)."""

from __future__ import annotations

from course import explorer_cell, solution_code
from fair_grading import *  # noqa: F403  (the tests every unit runs, on this unit's mistakes.toml)
from shown_cells import cell_calling, first_explorer, index_of, run_cell, text_before

NOTEBOOK = "01_lenet/lenet.ipynb"


def test_lenet_explorer_names_the_layer_that_cannot_work():
    explorer = eval(
        compile(explorer_cell(NOTEBOOK), NOTEBOOK, "eval"), solution_code(NOTEBOOK, "lenet_class")
    )
    explorer.set(kernel_size=7, input_size=16)  # 16 -> C1 10 -> S2 5: C3's 7×7 kernel does not fit
    assert explorer.summary is None
    assert explorer.message.startswith("C3"), explorer.message


def test_the_diagram_of_the_students_lenet_follows_its_check_and_shows_the_pipeline():
    index, source = cell_calling(NOTEBOOK, "draw")
    assert index_of(NOTEBOOK, "lenet_check") < index < first_explorer(NOTEBOOK)
    text = text_before(NOTEBOOK, index)
    assert "CONV-POOL-CONV-POOL-FC-FC" in text and "a tanh after each convolution and after F6" in text
    diagram = run_cell(source, solution_code(NOTEBOOK, "lenet_class"))
    layers = [node.kind for node in diagram.nodes if node.is_layer]
    assert layers == [
        *["Conv2d", "Tanh", "AvgPool2d"] * 2,
        *["Conv2d", "Tanh"],  # C5, drawn as the convolution it is
        *["Flatten", "Linear", "Tanh", "Linear"],
    ]
    assert [box.name for box in diagram.boxes] == ["features", "classifier"]
    c5 = [node for node in diagram.nodes if node.kind == "Conv2d"][-1]
    assert c5.shape == (120, 1, 1)
