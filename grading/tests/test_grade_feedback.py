"""What the grading kit tells instructors and students: a reason for every lost point, feedback without the hidden
tests, a refusal that names the fix, and a course dataset in place before anyone is graded (issue 10)."""

from __future__ import annotations

import html
import re
import shutil

import grading_submissions as subs
import nbformat
import pytest
from course import HIDDEN_REGION, LECTURES, SOLUTION_REGION, assignment_ids, nbgrader_meta, notebooks_of
from grading_runs import ASSIGNMENT, MEMORY_MB, kit, new_course, records
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_output

from cnnlab_grade import explain
from cnnlab_grade.__main__ import main
from cnnlab_grade.report import Progress


def hidden_lines(assignment: str) -> set[str]:
    """Every line of a hidden test in solutions/<assignment>/ that the student's version does not show anyway, nor
    a correct answer (the solution's lines: a student who writes them sees them in their feedback)."""
    visible = {
        line.strip()
        for notebook in notebooks_of(assignment, LECTURES)
        for cell in nbformat.read(notebook, as_version=4).cells
        for line in cell.source.splitlines()
    }
    # and the modules the assignment hands out beside its notebooks (07's latency probes)
    visible |= {
        line.strip()
        for module in (LECTURES / assignment).glob("*.py")
        for line in module.read_text().splitlines()
    }
    lines, answers = set(), set()
    for notebook in notebooks_of(assignment):
        for cell in nbformat.read(notebook, as_version=4).cells:
            for region in HIDDEN_REGION.findall(cell.source):
                lines |= {line.strip() for line in region.splitlines() if len(line.strip()) > 3}
            for region in SOLUTION_REGION.findall(cell.source):
                answers |= {line.strip() for line in region.splitlines()}
    # a hidden line that the student's text quotes anyway (`torch.cuda.synchronize()` in 07's instructions) gives
    # nothing away
    quoted = "\n".join(visible)
    return {line for line in lines - visible - answers if line not in quoted}


def leaked(text: str, assignment: str) -> list[str]:
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    markers = [m for m in ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS") if m in text]
    lines = {line.strip() for line in text.splitlines()}
    # a hidden line as a line of its own; a long one anywhere (a traceback quotes it after an arrow)
    return markers + sorted(
        line for line in hidden_lines(assignment) if line in lines or (len(line) >= 20 and line in text)
    )


def as_autograded(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The solution notebook as nbgrader's autograder leaves it when every check fails: each test cell (hidden
    tests included, as nbgrader restores them) with an error whose traceback quotes every line of its source."""
    for cell in notebook.cells:
        if explain.is_test_cell(cell):
            quoted = [
                f"\x1b[0;32m----> {n}\x1b[0m {line}" for n, line in enumerate(cell.source.splitlines(), 1)
            ]
            cell.outputs = [
                new_output(
                    "error",
                    ename="CheckFailed",
                    evalue="expected 11,642 parameters, got 11,632",
                    traceback=quoted,
                )
            ]
    return notebook


@pytest.mark.parametrize("assignment", assignment_ids())
def test_feedback_shows_points_and_messages_but_no_hidden_test(assignment):
    assert hidden_lines(assignment), "the assignment has hidden tests to look for"
    for path in notebooks_of(assignment):
        notebook = as_autograded(nbformat.read(path, as_version=4))
        assert leaked(HTMLExporter().from_notebook_node(notebook)[0], assignment), "the scan finds a leak"
        original = [cell.source for cell in notebook.cells]
        exporter = HTMLExporter()
        exporter.register_preprocessor(explain.HideHiddenTests)  # as nbgrader's GenerateFeedback registers it
        page, _ = exporter.from_notebook_node(notebook)
        shown, _ = explain.HideHiddenTests().preprocess(notebook, {})
        assert leaked(page, assignment) == [], path.name
        assert "CheckFailed: expected 11,642 parameters, got 11,632" in html.unescape(page)
        for cell, source in zip(shown.cells, original):  # each check keeps its visible part, and says where
            if "BEGIN HIDDEN TESTS" in source:  # the hidden tests ran
                assert explain.HIDDEN_NOTE.strip() in cell.source
                visible = HIDDEN_REGION.sub("", source).strip()
                assert all(line in cell.source for line in visible.splitlines())


def test_a_failed_check_names_the_cell_the_error_and_the_first_error_before_it():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [new_code_cell("import cnnlab") for _ in range(36)]
    notebook.cells.append(new_code_cell("data = load_course_data()"))  # cell 37, counted from 1
    notebook.cells[-1].outputs = [
        new_output(
            "error", ename="DataError", evalue="Could not write the course dataset\nmore", traceback=[]
        )
    ]
    notebook.cells.append(new_code_cell("history = fit(model, data)"))
    notebook.cells[-1].outputs = [new_output("error", ename="NameError", evalue="name 'data' is not defined")]
    check = new_code_cell("checks.check_accuracy(history)")
    check.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "grade_id": "lenet_training_check",
        "points": 2,
    }
    check.outputs = [
        new_output("error", ename="NameError", evalue="name 'history' is not defined", traceback=[])
    ]
    notebook.cells.append(check)
    failures = explain.failed_checks(notebook)
    assert [explain.failure_reason(f) for f in failures] == [
        "lenet_training_check: NameError: name 'history' is not defined "
        "(first error: cell 37, DataError: Could not write the course dataset)"
    ]
    shown, _ = explain.HideHiddenTests().preprocess(notebook, {})
    assert "earlier error: cell 37, DataError" in shown.cells[-1].outputs[-1]["text"]
    twice = failures + [{**failures[0], "cell": "lenet_check"}]
    assert explain.failure_reasons(twice) == [
        "lenet_training_check, lenet_check: NameError: name 'history' is not defined "
        "(first error: cell 37, DataError: Could not write the course dataset)"
    ], "checks that failed alike share one line"


def test_the_run_warns_when_every_submission_fails_a_check_after_the_same_error():
    progress = Progress(3)
    same = ("lenet_training_check", "cell 37, DataError: Could not write the course dataset")
    progress.done("a", "graded", 1.0, [same, ("lenet_c1_check", "lenet_c1: NameError: x")])
    progress.done("b", "graded", 1.0, [same])
    progress.done("c", "missing", 0.0, [])  # no notebook ran: it says nothing about the course
    progress.close()
    assert progress.shared_failure() == (2, *same)
    progress.done("d", "graded", 1.0, [("lenet_training_check", "lenet_training_check: CheckFailed: 40%")])
    assert progress.shared_failure() is None, "one student's own mistake breaks the pattern"


# --- before anyone is graded ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    course = new_course(tmp_path_factory.mktemp("released"))
    subs.build(course, ["perfect", "malformed_json"])
    return course


def test_without_a_release_it_names_the_release_command(capsys, tmp_path, monkeypatch):
    from course import Course

    course = Course(tmp_path / "unreleased")
    monkeypatch.chdir(course.root)
    (course.root / "submitted").mkdir()
    assert main(["01_lenet", "submitted"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "found no such file" in err
    assert "release the assignment first with python " in err and "tools/release.py 01_lenet" in err
    assert not (course.root / "gradebook.db").exists(), "no empty gradebook left behind"


def test_a_dataset_that_cannot_be_built_is_refused_before_anyone_is_graded(released, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    result = kit(
        released.root, ASSIGNMENT, "autograde/submitted", "--db", str(tmp_path / "g.db"),
        env={"CNNLAB_DATA": str(blocked / "data")},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "loads the course dataset, which is not in place" in result.stderr
    assert result.stderr.rstrip().endswith("build it first with python -m cnnlab.data build")
    assert not (tmp_path / "g.db").exists() or records(tmp_path / "g.db") == {}


@pytest.mark.slow
def test_the_dataset_is_built_before_grading_when_it_is_missing(released, tmp_path):
    """Issue 10: with data/ empty, the kernels could not build it (read-only) and every student lost the checks
    after the cell that loads it, silently."""
    from cnnlab.data.course import verify_course_data

    empty = tmp_path / "data"
    empty.mkdir()
    result = kit(
        released.root, ASSIGNMENT, "autograde/submitted", "--db", str(tmp_path / "g.db"), "--memory", MEMORY_MB,
        env={"CNNLAB_DATA": str(empty)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "built the course dataset" in result.stderr
    verify_course_data(empty)
    executed = released.autograded / "perfect" / ASSIGNMENT / subs.NOTEBOOK
    notebook = nbformat.read(executed, as_version=4)
    loads = [c for c in notebook.cells if "load_course_data()" in c.source and not nbgrader_meta(c)]
    assert loads and all(o.get("output_type") != "error" for c in loads for o in c.outputs)
    assert records(tmp_path / "g.db")["perfect"] == ("graded", "")
    shutil.rmtree(empty)
