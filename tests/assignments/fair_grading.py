"""One mistake costs one step: the tests every assignment's unit collects (its test file imports them).

Each step's check feeds its own layer a fresh input of the right shape, never the student's earlier layers, so
a submission with one layer wrong loses that step's points, and the whole-network check's where the class
repeats the mistake, and keeps every other point. Each case of a unit's ``mistakes.toml`` is one usual mistake (a
wrong kernel, filter count, stride or padding, a missing shortcut) in one solution cell, run in this process as
autograde runs it (harness.py); the nbgrader round trip in tests/test_notebooks.py shows the real thing works.

Every check cell also shows the student something: a check whose tests are all hidden keeps a visible line
that says what is checked at grading time, or a visible part of the check.
"""

from __future__ import annotations

import nbformat
from course import HIDDEN_REGION, nbgrader_meta
from harness import CheckedCells, Mistake

# what a unit's test file collects with `from fair_grading import *`
__all__ = [
    "test_the_solution_passes_every_checked_cell",
    "test_one_mistake_costs_one_step",
    "test_every_check_has_a_mistake_case",
    "test_no_check_cell_looks_empty_to_the_student",
]


def test_the_solution_passes_every_checked_cell(checked_cells: CheckedCells):
    assert checked_cells.graded, f"{checked_cells.assignment}: no graded cell before the explorer"
    assert checked_cells.failing() == {}


def test_one_mistake_costs_one_step(checked_cells: CheckedCells, unit_data, mistake: Mistake):
    failing = checked_cells.with_mistake(mistake)
    assert set(failing) == mistake.fails, f"{mistake.name}: failing checks {failing}"
    for check, message in failing.items():
        # fails_with: a CheckFailed, whose message speaks to the student; in 02 also a NameError, where the
        # check reads what an earlier cell, broken by the mistake, never defined
        assert message.startswith(unit_data.fails_with), f"{check} failed with torch's text: {message}"
        assert "Traceback" not in message, message
        for word in mistake.words.get(check, ()):
            assert word in message, f"{mistake.name}: {check}'s message lacks {word!r}: {message}"


def test_every_check_has_a_mistake_case(unit_data):
    covered = {check for mistake in unit_data.mistakes for check in mistake.fails}
    uncovered = set(unit_data.cells.graded) - covered
    assert not uncovered, f"{unit_data.cells.assignment}: no mistake case for {sorted(uncovered)}"


def _visible(source: str) -> list[str]:
    return [line for line in HIDDEN_REGION.sub("", source).splitlines() if line.strip()]


def test_no_check_cell_looks_empty_to_the_student(unit_data):
    notebook = unit_data.cells.notebook
    cells = nbformat.read(notebook, as_version=4).cells
    empty = [
        nbgrader_meta(c)["grade_id"]
        for c in cells
        if c.cell_type == "code" and nbgrader_meta(c).get("grade") and not _visible(c.source)
    ]
    assert empty == [], (
        f"{notebook.name}: check cells with nothing visible (say what is checked at grading time)"
    )
