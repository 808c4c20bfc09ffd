"""Notebook 05's checks catch the usual mistakes, each in its own step, with a message naming the layer; its diagram
shows the Inception branches and the auxiliary heads its text describes.

The mistakes are data, in mistakes.toml beside this file: each runs the notebook's check cells in-process (hidden
tests included) on the reference solution with one mistake written into it, and asserts which checks fail and what
the failure says. No kernel, no training.
"""

from __future__ import annotations

from course import solution_code
from fair_grading import *  # noqa: F403  (the tests every unit runs, on this unit's mistakes.toml)
from shown_cells import cell_calling, first_explorer, index_of, run_cell, text_before

NOTEBOOK = "05_googlenet/googlenet.ipynb"
BUILD_CELLS = ("conv_bn", "inception_module", "inception_aux", "googlenet_class")


def test_the_diagram_of_googlenet_shows_four_branches_per_module_and_the_auxiliary_heads():
    index, source = cell_calling(NOTEBOOK, "draw")
    assert index_of(NOTEBOOK, "googlenet_check") < index < first_explorer(NOTEBOOK)
    text = text_before(NOTEBOOK, index)
    assert "four branches stand side by side" in text and "`aux1` on `inception4a`'s output" in text
    namespace = solution_code(NOTEBOOK, *BUILD_CELLS)
    diagram = run_cell(source, namespace)
    modules = [box for box in diagram.boxes if box.kind == "Inception"]
    assert len(modules) == 9
    for module in modules:  # four branches side by side, meeting at one concatenation
        (concat,) = [node for node in diagram.nodes_in(module) if node.kind == "cat"]
        branches = [diagram.boxes[node.box].name.split(".")[1] for node in diagram.inputs_of(concat)]
        assert sorted(branches) == ["branch1", "branch2", "branch3", "branch4"]
    # the heads leave the main path after inception4a and inception4d and end at the output beside the classifier
    assert diagram.inputs_of(diagram.node("aux1.pool")) == [diagram.node("inception4a/cat")]
    assert diagram.inputs_of(diagram.node("aux2.pool")) == [diagram.node("inception4d/cat")]
    assert sorted(n.name for n in diagram.inputs_of(diagram.node("output"))) == ["aux1.fc2", "aux2.fc2", "fc"]
    assert diagram.node("aux1.fc1").params and diagram.node("aux1.fc1").macs is None  # as the text says
    # without training=True the heads are not drawn, as the text says
    evaluated = run_cell(source.replace(", training=True", ""), namespace)
    assert not [node for node in evaluated.nodes if node.name.startswith("aux")]
