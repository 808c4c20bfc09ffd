"""The course's notebooks, end to end through nbgrader.

For each assignment, one throwaway course: generate the student version (it must equal the committed
lectures/), submit the solution as a perfect student and the untouched student version as a blank
one, and autograde both. One autograde run serves two purposes: the solution executes top to bottom
without an error and gets full marks, and the blank notebook gets 0 and crashes nothing. It is the one
execution of each solution notebook per test run (the blank version skips the ungraded training demonstrations
that the perfect one has run); these tests are slow (conftest.py's SLOW_FIXTURES).

The perfect submission (and the blank one) trains at a tiny budget (tiny_budget.py: one epoch on a slice of the data, and
``check_learns`` only asks that the run finished): this round trip proves the notebook's plumbing under nbgrader,
not its accuracy. Each graded run at its real budget is proved by its 20-seed sweep record, which
tests/test_training_checks.py keeps in step with the notebook's cells (docs/training-checks.md).
"""

from __future__ import annotations

import json
import os
import re

import nbformat
import pytest
from course import (
    HIDDEN_REGION,
    LECTURES,
    MARKERS,
    ROOT,
    SOLUTION_REGION,
    SOLUTIONS,
    Course,
    assignment_ids,
    blank_submission,
    comparable_cells,
    error_outputs,
    nbgrader_meta,
    notebooks_of,
    perfect_submission,
)
from tiny_budget import with_tiny_budget

ASSIGNMENTS = assignment_ids()
# Notebook 06's degradation experiment trains four nets for about a minute on a CPU: here it only has to run (2 steps).
os.environ.setdefault("CNNLAB_DEGRADATION_STEPS", "2")
EXPECTED_ASSIGNMENTS = [
    "00_foundations",
    "01_lenet",
    "02_alexnet",
    "03_zfnet",
    "04_vgg",
    "05_googlenet",
    "06_resnet",
    "07_complexity",
    "08_beyond",
]


def test_the_course_has_its_notebooks():
    assert [a for a in EXPECTED_ASSIGNMENTS if a not in ASSIGNMENTS] == []
    for assignment in ASSIGNMENTS:
        assert notebooks_of(assignment), f"solutions/{assignment} holds no notebook"
        assert notebooks_of(assignment, LECTURES), f"lectures/{assignment} is missing: run tools/release.py"


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def graded(request, tmp_path_factory):
    """A throwaway course in which the assignment has been generated, submitted and autograded."""
    assignment = request.param
    course = Course(tmp_path_factory.mktemp(assignment))
    release = course.generate(assignment)
    perfect = {
        nb.name: with_tiny_budget(perfect_submission(release / nb.name, nb))
        for nb in notebooks_of(assignment)
    }
    # the blank one too: a locked, ungraded training cell (a comparison run) stays in it and would train in full
    blank = {
        nb.name: with_tiny_budget(blank_submission(nb)) for nb in notebooks_of(assignment, course.release)
    }
    course.submit("perfect", assignment, perfect)
    course.submit("blank", assignment, blank)
    course.autograde(assignment)
    return assignment, course


def test_lectures_are_in_sync_with_solutions(graded):
    assignment, course = graded
    for regenerated in notebooks_of(assignment, course.release):
        committed = LECTURES / assignment / regenerated.name
        assert committed.exists(), f"{committed} is missing: run tools/release.py"
        assert comparable_cells(regenerated) == comparable_cells(committed), (
            f"{committed.relative_to(ROOT)} differs from what solutions/ generates: run tools/release.py"
        )


def test_solution_executes_without_error_and_gets_full_marks(graded):
    assignment, course = graded
    for nb in notebooks_of(assignment):
        executed = course.autograded / "perfect" / assignment / nb.name
        assert error_outputs(executed) == []
    grades = course.grades(assignment, "perfect")
    auto = {cell: (score, top) for cell, (score, top, manual) in grades.items() if not manual}
    assert auto, "the assignment has no autograded cell"
    assert {cell: score for cell, (score, _) in auto.items()} == {
        cell: top for cell, (_, top) in auto.items()
    }


def test_training_runs_show_their_curves(graded):
    """Each graded training run's cell ends with ``history.plot();``: its outputs in the executed notebook hold the
    curves as an image (the discussion asks about them)."""
    assignment, course = graded
    for nb in notebooks_of(assignment):
        executed = nbformat.read(course.autograded / "perfect" / assignment / nb.name, as_version=4)
        runs = [c for c in executed.cells if nbgrader_meta(c).get("grade_id", "").endswith("_training_run")]
        for cell in runs:
            images = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
            assert images, f"{nb.name}: {nbgrader_meta(cell)['grade_id']} shows no curves"


def test_untouched_student_version_gets_zero(graded):
    assignment, course = graded
    grades = course.grades(assignment, "blank")
    assert grades and all(score == 0 for score, _, _ in grades.values()), grades
    for nb in notebooks_of(assignment):
        assert (course.autograded / "blank" / assignment / nb.name).exists()


def test_written_answers_are_manually_graded_with_model_answers():
    for assignment in ASSIGNMENTS:
        for nb_path in notebooks_of(assignment):
            cells = nbformat.read(nb_path, as_version=4).cells
            written = [c for c in cells if c.cell_type == "markdown" and nbgrader_meta(c).get("grade")]
            assert written, f"{nb_path.name} has no written-answer cell"
            for cell in written:
                assert nbgrader_meta(cell).get("solution"), "a graded markdown cell must be a solution cell"
                assert len(cell.source.strip()) > 80, (
                    f"written answer {nbgrader_meta(cell)['grade_id']} has no model answer"
                )


def _region_lines(assignment: str, region) -> set[str]:
    """The distinctive lines (25 characters or more) inside one kind of marked region of the solutions."""
    lines = set()
    for nb_path in notebooks_of(assignment):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            for found in region.findall(cell.source):
                lines |= {line.strip() for line in found.splitlines() if len(line.strip()) >= 25}
    return lines


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_solution_or_hidden_test_reaches_students(assignment):
    student_sources = "\n".join(
        "".join(c["source"])
        for p in notebooks_of(assignment, LECTURES)
        for c in json.loads(p.read_text())["cells"]
    )
    for marker in MARKERS:
        assert marker not in student_sources, f"lectures/{assignment} contains {marker!r}"
    toolkit_text = "\n".join(p.read_text() for p in (ROOT / "cnnlab").rglob("*.py"))
    solution_lines = _region_lines(assignment, SOLUTION_REGION)
    hidden_lines = _region_lines(assignment, HIDDEN_REGION)
    assert [line for line in solution_lines if line in student_sources] == [], "solution code in lectures/"
    assert [line for line in hidden_lines if line in student_sources] == [], "hidden tests in lectures/"
    in_toolkit = [line for line in solution_lines | hidden_lines if line in toolkit_text]
    assert in_toolkit == [], (
        f"solution or hidden-test code of {assignment} appears in cnnlab/: {in_toolkit[:3]}"
    )


@pytest.mark.parametrize("folder", [SOLUTIONS, LECTURES])
def test_notebooks_are_committed_without_outputs(folder):
    for nb_path in folder.rglob("*.ipynb"):
        nb = nbformat.read(nb_path, as_version=4)
        with_output = [
            i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)
        ]
        assert with_output == [], f"{nb_path.relative_to(ROOT)} has outputs in cells {with_output}"


def test_every_notebook_follows_the_skeleton():
    sections = ["Learning goals", "Lecture recap", "Build", "Explore", "Train", "Discussion", "Summary"]
    for nb_path in SOLUTIONS.rglob("*.ipynb"):
        headings = [
            line
            for c in nbformat.read(nb_path, as_version=4).cells
            if c.cell_type == "markdown"
            for line in c.source.splitlines()
            if re.match(r"^##? ", line)
        ]
        positions = []
        for section in sections:
            found = [i for i, h in enumerate(headings) if section.lower() in h.lower()]
            assert found, f"{nb_path.name} has no '{section}' section (headings: {headings})"
            positions.append(found[0])
        assert positions == sorted(positions), f"{nb_path.name}: sections out of order: {headings}"
