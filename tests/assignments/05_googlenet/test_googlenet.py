"""Notebook 05's checks catch the usual mistakes, each in its own step, with a message naming the layer; its diagram
shows the Inception branches and the auxiliary heads its text describes; its explorer's moves in code are each made
to the lecture's module alone, as Q5's answer reads them.

The mistakes are data, in mistakes.toml beside this file: each runs the notebook's check cells in-process (hidden
tests included) on the reference solution with one mistake written into it, and asserts which checks fail and what
the failure says. No kernel, no training.
"""

from __future__ import annotations

from course import solution_code
from fair_grading import *  # noqa: F403  (the tests every unit runs, on this unit's mistakes.toml)
from shown_cells import cell_calling, first_explorer, index_of, markdown_of, move_cell, run_cell, text_before

from cnnlab import summarize

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


def _printed_lines(output: str) -> dict[str, list[str]]:
    """The moves cell's output: {a line that starts a move: the indented difference lines under it}."""
    sections: dict[str, list[str]] = {}
    for line in output.splitlines():
        if line.startswith(" "):
            sections[next(reversed(sections))].append(line.strip())
        else:
            sections[line] = []
    return sections


def test_each_change_in_code_is_made_to_the_lectures_module_alone_as_q5_reads_it(capsys):
    index, source = move_cell(NOTEBOOK)
    assert (
        first_explorer(NOTEBOOK) < index < index_of(NOTEBOOK, "googlenet_mini")
    )  # after the build, untrained
    assert "each change is made to the lecture's module alone" in text_before(NOTEBOOK, index)
    namespace = solution_code(NOTEBOOK, *BUILD_CELLS, "naive_module", "explorer_builder")
    run_cell(source, namespace)
    sections = _printed_lines(capsys.readouterr().out)
    build = namespace["inception_module"]
    alone = summarize(build(in_channels=832), (1, 28, 28))  # the 832-input module and no other change
    lecture = summarize(build(), (1, 28, 28))
    line = f"{{'in_channels': 832}}: output depth 480, {alone.total_macs:,} MACs"
    assert line in sections and round(alone.total_macs / 1e6) == 416
    # Q5's model answer quotes the printed lines: 271M to 416M (×1.53), and the naive design's ×3.15
    answer = markdown_of(NOTEBOOK, "q_explorer")
    assert f"bottleneck: output depth 480, {lecture.total_macs:,} MACs" in sections
    assert "MACs 271M → 416M (+145M, ×1.53)" in sections[line]
    assert "from 271M to 416M MACs (×1.53)" in answer
    (naive,) = [lines for start, lines in sections.items() if start.startswith("{'design': 'naive'}")]
    assert (
        "MACs 271M → 854M (+583M, ×3.15)" in naive and "3.15 times as expensive (854M against 271M" in answer
    )
