"""Notebook 05's checks catch the usual mistakes, each in its own step, with a message naming the layer; the numbers
its checks hold are the solution's; its diagram shows the Inception branches and the auxiliary heads its text
describes; its explorer's moves in code are each made to the lecture's module alone, as Q5's answer reads them.

The mistakes are data, in mistakes.toml beside this file: each runs the notebook's check cells in-process (hidden
tests included) on the reference solution with one mistake written into it, and asserts which checks fail and what
the failure says. No kernel, no training.
"""

from __future__ import annotations

import itertools
import re

import nbformat
import pytest
import torch
from course import SOLUTIONS, nbgrader_meta, solution_code
from fair_grading import *  # noqa: F403  (the tests every unit runs, on this unit's mistakes.toml)
from harness import alternative_answers
from shown_cells import cell_calling, first_explorer, index_of, markdown_of, move_cell, run_cell, text_before

from cnnlab import summarize
from cnnlab.errors import CheckFailed

NOTEBOOK = "05_googlenet/googlenet.ipynb"
BUILD_CELLS = ("conv_bn", "inception_module", "inception_aux", "googlenet_class")
BRANCHES = ("branch1", "branch2", "branch3", "branch4")


def _cell(grade_id: str) -> str:
    """The source of a cell of the solution notebook, hidden tests included."""
    cells = nbformat.read(SOLUTIONS / NOTEBOOK, as_version=4).cells
    (source,) = [c.source for c in cells if nbgrader_meta(c).get("grade_id") == grade_id]
    return source


def _cell_source_with(text: str) -> str:
    """The source of the one code cell of the solution notebook that holds ``text``."""
    cells = nbformat.read(SOLUTIONS / NOTEBOOK, as_version=4).cells
    (source,) = [c.source for c in cells if c.cell_type == "code" and text in c.source]
    return source


# googlenet_check's nets: the name it gives each, and the arguments it builds it with
ASSEMBLED = {"googlenet": {"aux_logits": False}, "with_heads": {"num_classes": 10}}
ASSEMBLY_FACT = re.compile(
    r"checks\.check_assembly\(\s*(\w+),\s*\(3, (\d+), (\d+)\),\s*\"[^\"]+\",\s*params=([\d_]+)"
    r"(?:,\s*macs=([\d_]+))?"
)


def test_the_assembly_checks_hold_the_counts_of_the_solutions_googlenet_with_the_same_stand_ins():
    namespace = solution_code(NOTEBOOK, *BUILD_CELLS, "stand_ins")
    facts = ASSEMBLY_FACT.findall(_cell("googlenet_check"))
    assert len(facts) == 3, facts  # 224² without the heads, with them and 10 classes (hidden), 208² (hidden)
    for name, height, width, params, macs in facts:
        built = summarize(
            namespace["googlenet_with_stand_ins"](**ASSEMBLED[name]), (3, int(height), int(width))
        )
        assert built.total_params == int(params), (name, height)
        assert not macs or built.total_macs == int(macs), (name, height)
    # the facts are the stand-ins' own: built with the real blocks, the net counts more
    real = summarize(namespace["GoogLeNet"](aux_logits=False), (3, 224, 224))
    assert int(facts[0][3]) < real.total_params


def test_the_counts_printed_beside_the_students_googlenet_are_the_solutions():
    (numbers,) = re.findall(
        r"torchvision_params, torchvision_macs = ([\d_]+), ([\d_]+)", _cell_source_with("torchvision_params")
    )
    namespace = solution_code(NOTEBOOK, *BUILD_CELLS)
    real = summarize(namespace["GoogLeNet"](aux_logits=False), (3, 224, 224))
    assert (real.total_params, real.total_macs) == tuple(int(n) for n in numbers)


def test_the_concatenation_check_names_every_wrong_order_of_the_branches():
    namespace = solution_code(NOTEBOOK, "check_helper", "conv_bn", "inception_module")
    check = namespace["check_concatenation"]
    for order in itertools.permutations(BRANCHES):

        class Reordered(namespace["Inception"]):
            def forward(self, x, order=order):
                return torch.cat([getattr(self, name)(x) for name in order], dim=1)

        module = Reordered(16, 4, 4, 6, 2, 4, 5)  # branch1 and branch3 of the same width
        if order == BRANCHES:
            check(module, (16, 7, 7), "the module")
        else:
            with pytest.raises(CheckFailed, match=re.escape(f"got '{', '.join(order)}'")):
                check(module, (16, 7, 7), "the module")


def test_the_alternative_answers_build_googlenet_mini_with_the_solutions_weights():
    """The graded run builds GoogLeNet-mini from the student's classes: the alternative's train as the solution's."""
    solution = solution_code(NOTEBOOK, *BUILD_CELLS, "googlenet_mini")
    alternative = solution_code(NOTEBOOK)
    answers = alternative_answers("05_googlenet")
    for grade_id in BUILD_CELLS:
        exec(compile(answers[grade_id], f"alternative {grade_id}", "exec"), alternative)
    exec(compile(_cell("googlenet_mini"), "googlenet_mini", "exec"), alternative)
    minis = []
    for namespace in (solution, alternative):
        torch.manual_seed(0)
        minis.append(namespace["GoogLeNetMini"](aux_logits=True))
    ours, theirs = ([p.detach() for p in mini.parameters()] for mini in minis)
    assert [p.shape for p in ours] == [p.shape for p in theirs]
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    images = torch.randn(4, 3, 32, 32)
    outputs = []
    for mini in minis:
        torch.manual_seed(1)  # the same dropout draws
        outputs.append(mini.train()(images))
    assert all(torch.equal(a, b) for a, b in zip(*outputs))


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
