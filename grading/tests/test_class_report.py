"""``python -m cnnlab_grade report``: the class report and the copy finder (issue 22).

A class of 13 submissions of 00_foundations with known mistakes (grading_submissions.REPORT_CLASS), graded once
per session: the report must show the pass rate and mean of each check that the mistakes imply, the failed checks'
messages grouped with their numbers as '#', the two submissions that did not run and why, a grading time for
each that did, and the two planted copies (one with renamed variables and reordered cells) and no other pair. The
page is opened in the real Chromium from disk, and its numbers are those of the gradebook. The report never
writes to the gradebook. The copy finder's units run without a class: independent correct answers (each unit's
alternative.py against the solution) are not flagged; a renamed and reordered copy is.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import grading_submissions as subs
import pytest
from course import ROOT, SOLUTIONS, gradebook_grades
from grading_runs import ASSIGNMENT, kit
from grading_runs import report_class as graded_report_class

from cnnlab_grade import class_report as cr
from cnnlab_grade import copies as cp

UNITS = ROOT / "tests" / "assignments"
RAN = [student for student, lost in subs.REPORT_CLASS.items() if lost is not None]
NOT_RAN = {"malformed_json": "invalid", "missing_notebook": "missing"}


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def report_class(tmp_path_factory):
    """(course, report folder): the class graded, then reported on; the gradebook's bytes checked unchanged."""
    course = graded_report_class()
    gradebook = course.root / "gradebook.db"
    before = digest(gradebook)
    out = tmp_path_factory.mktemp("report")
    result = kit(course.root, "report", ASSIGNMENT, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert digest(gradebook) == before, "the report wrote to the gradebook"
    return course, out


# --- the report of the class -------------------------------------------------------------------------------------


def test_the_report_shows_each_checks_pass_rate_and_mean(report_class):
    course, out = report_class
    rows = {row["cell"]: row for row in read_csv(out / "cells.csv")}
    for check, points in subs.FULL.items():
        passed = [student for student in RAN if check not in subs.REPORT_CLASS[student]]
        row = rows[check]
        assert (int(row["counted"]), int(row["passed"])) == (len(RAN), len(passed)), check
        assert float(row["pass_rate"]) == pytest.approx(len(passed) / len(RAN), abs=1e-3), check
        assert float(row["mean_points"]) == pytest.approx(points * len(passed) / len(RAN), abs=1e-3), check
    # The written answers wait for a grader: no pass rate yet
    assert rows["discussion_stride"]["counted"] == "0" and rows["discussion_stride"]["pass_rate"] == ""


def test_the_discrimination_of_a_check_the_strong_pass_and_the_weak_fail(report_class):
    """conv_layer_cost_check is failed by the three lowest totals (3, 3 and 7 of 10; ties go by student id) and
    passed by the three highest: 1.0. output_size_check is failed by one student outside both groups: 0."""
    _, out = report_class
    rows = {row["cell"]: row for row in read_csv(out / "cells.csv")}
    assert float(rows["conv_layer_cost_check"]["discrimination"]) == pytest.approx(1.0)
    assert float(rows["output_size_check"]["discrimination"]) == pytest.approx(0.0)


def test_the_failed_checks_are_grouped_by_message_with_numbers_as_hashes(report_class):
    _, out = report_class
    rows = read_csv(out / "reasons.csv")
    assert all(not re.search(r"\d", row["message"]) for row in rows), "numbers are normalised"
    counts = [int(row["count"]) for row in rows]
    assert counts == sorted(counts, reverse=True), "most frequent first"
    first = rows[0]
    # Four wrong TinyNet counts, each with other numbers (-24, +30.7K, -10): one reason
    assert first["message"] == "CheckFailed: TinyNet's parameters: expected #, got # (#)."
    assert sorted(first["students"].split()) == sorted(
        s for s in RAN if "tiny_net_check" in subs.REPORT_CLASS[s]
    )
    by_cell: dict[str, set[str]] = {}
    for row in rows:
        by_cell.setdefault(row["cells"], set()).update(row["students"].split())
    for check in subs.FULL:
        losing = {s for s in RAN if check in subs.REPORT_CLASS[s]}
        assert by_cell.get(check, set()) == losing, check


def test_the_submissions_not_graded_are_listed_with_why_and_the_others_timed(report_class):
    _, out = report_class
    not_graded = {row["student_id"]: row for row in read_csv(out / "not_graded.csv")}
    assert {student: row["status"] for student, row in not_graded.items()} == NOT_RAN
    assert "not a readable notebook" in not_graded["malformed_json"]["reason"]
    assert "no foundations.ipynb" in not_graded["missing_notebook"]["reason"]
    students = {row["student_id"]: row for row in read_csv(out / "students.csv")}
    assert sorted(students) == sorted(subs.REPORT_CLASS)
    assert all(float(students[student]["seconds"]) > 0.5 for student in RAN), "a kernel ran for each"


def test_the_totals_and_their_distribution_are_the_gradebooks(report_class):
    course, out = report_class
    gradebook = course.root / "gradebook.db"
    totals = {
        s: sum(score for score, _, _ in gradebook_grades(gradebook, ASSIGNMENT, s).values()) for s in RAN
    }
    students = {row["student_id"]: row for row in read_csv(out / "students.csv")}
    assert {s: float(students[s]["score"]) for s in RAN} == totals
    distribution = read_csv(out / "distribution.csv")
    assert sum(int(row["students"]) for row in distribution) == len(subs.REPORT_CLASS)
    full_marks = next(row for row in distribution if float(row["score_from"]) == 10)
    assert int(full_marks["students"]) == sum(1 for total in totals.values() if total == 10)


def test_the_planted_copies_and_nothing_else_are_found(report_class):
    _, out = report_class
    rows = read_csv(out / "copies.csv")
    assert {(row["student_a"], row["student_b"]) for row in rows} == subs.PLANTED_COPIES
    for row in rows:
        assert float(row["similarity"]) >= 0.9, row
        # code and written answers both matched, each cell of the answers
        assert {"foundations:conv_params", "foundations:discussion_stride"} <= set(row["cells_a"].split()), (
            row
        )


def test_the_page_opened_in_chromium_from_disk_shows_the_gradebooks_numbers(report_class, chromium):
    course, out = report_class
    page = chromium.new_page()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto((out / "report.html").as_uri())
    assert page.title() == f"Class report: {ASSIGNMENT}"
    assert [url for url in requests if not url.startswith("file://")] == [], "the page fetches nothing"
    gradebook = course.root / "gradebook.db"
    grades = {s: gradebook_grades(gradebook, ASSIGNMENT, s) for s in RAN}
    shown = page.locator("#cells tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells, c => c.innerText.trim()))"
    )
    shown = {row[0]: row for row in shown}
    for check, points in subs.FULL.items():
        scores = [grades[s][check][0] for s in RAN]
        passed = sum(1 for score in scores if score == points)
        assert shown[check][3] == f"{100 * passed / len(scores):.0f}%", check
        assert shown[check][4] == f"{sum(scores) / len(scores):.2f}", check
    assert page.locator("#not-graded-count").inner_text() == str(len(NOT_RAN))
    assert page.locator("#ran-count").inner_text() == str(len(RAN))
    pairs = page.locator("#copies tbody tr").evaluate_all(
        "rows => rows.map(r => [r.cells[0].innerText, r.cells[1].innerText])"
    )
    assert {tuple(pair) for pair in pairs} == subs.PLANTED_COPIES
    # The matching passages side by side: the renamed copy's lines next to alternative's
    passages = page.locator("table.passages").first.inner_text()
    assert "def" in passages and "padded" in page.content() and "left_over" in page.content()
    # The plots are drawn: the score distribution's bars have a size on the page
    bars = page.locator("svg rect")
    assert bars.count() > 0 and bars.first.bounding_box() is not None
    page.context.close()


@pytest.fixture(scope="module")
def chromium():
    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    from lab import CHROMIUM, Chromium

    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/deps/chromium.sh installs it)")
    pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is missing: pip install -e '.[dev]'"
    )
    browser = Chromium()
    try:
        browser.start()
    except Exception as error:  # noqa: BLE001 - a browser that cannot start here: skip, as the browser tests do
        browser.stop()
        pytest.skip(f"Chromium cannot start on this machine: {str(error).strip().splitlines()[0]}")
    yield browser
    browser.stop()


# --- the copy finder's units -------------------------------------------------------------------------------------


def solution_cells(assignment: str) -> tuple[dict[str, cp.Cell], list[cp.Cell]]:
    """({grade id: the solution's cell}, the released notebook's cells) of an assignment."""
    notebook = next((SOLUTIONS / assignment).glob("*.ipynb"))
    released = ROOT / "lectures" / assignment / notebook.name
    cells = {cell.name.split(":", 1)[1]: cell for cell in cp.notebook_cells(notebook, notebook.stem)}
    return cells, cp.notebook_cells(released, notebook.stem)


def alternative_units() -> list[str]:
    return sorted(path.parent.name for path in UNITS.glob("*/alternative.py"))


@pytest.mark.parametrize("assignment", alternative_units())
def test_independent_correct_answers_are_not_flagged(assignment):
    """Each unit's alternative answers against the solution's same cells: well under the threshold."""
    sys.path.insert(0, str(UNITS))
    from harness import alternative_answers

    answers = alternative_answers(assignment)
    solution, released = solution_cells(assignment)
    theirs = cp.fingerprint("alternative", [cp.Cell(f"x:{g}", "code", text) for g, text in answers.items()])
    ours = cp.fingerprint("solution", [solution[g] for g in answers])
    starter = cp.starter_hashes(released)
    assert cp.find_copies([theirs, ours], starter, threshold=cp.DEFAULT_THRESHOLD) == []
    overlap = cp.find_copies([theirs, ours], starter, threshold=0.01)
    assert not overlap or overlap[0].similarity < 0.35, overlap[0].similarity  # the margin below 0.5


def renamed(source: str, names: dict[str, str]) -> str:
    for old, new in names.items():
        source = re.sub(rf"\b{old}\b", new, source)
    return source


def test_a_renamed_and_reordered_copy_is_flagged_with_its_passages():
    solution, released = solution_cells("06_resnet")
    answers = [cell for cell in solution.values() if "BEGIN SOLUTION" in cell.source]
    names = {"in_channels": "c_in", "out_channels": "c_out", "x": "inputs", "out": "result"}
    copy = [cp.Cell(c.name, c.kind, renamed(c.source, names)) for c in reversed(answers)]
    pairs = cp.find_copies(
        [cp.fingerprint("a", answers), cp.fingerprint("b", copy)],
        cp.starter_hashes(released),
    )
    assert [(p.student_a, p.student_b) for p in pairs] == [("a", "b")]
    assert pairs[0].similarity > 0.9
    passage = next(p for p in pairs[0].passages if "c_in" in p.text_b)
    assert passage.cell_a == passage.cell_b and "in_channels" in passage.text_a


def test_the_released_code_and_a_passage_the_whole_class_shares_do_not_count():
    given = "def conv(x):\n    " + "\n    ".join(f"x = layer_{i}(x, {i}, stride={i})" for i in range(12))
    own = [
        "\n".join(f"{name}_{i} = {name}_{i - 1} * {i} + {name}.mean(axis={i % 3})" for i in range(1, 15))
        for name in ("alpha", "beta", "gamma", "delta", "eps")
    ]
    shared = "total = sum(v * v for v in values if v > 0) / max(1, len(values)) + bias ** 2 - 3"
    students = [
        cp.fingerprint(
            str(index), [cp.Cell("nb:a", "code", given + "\n" + shared), cp.Cell("nb:b", "code", text)]
        )
        for index, text in enumerate(own)
    ]
    starter = cp.starter_hashes([cp.Cell("nb:a", "code", given)])
    assert cp.find_copies(students, starter) == [], "the given code and a line all five share are not copies"
    assert cp.find_copies(students, set(), common=10) != [], "counted, the given code alone pairs them all"


def test_numbers_in_messages_become_hashes():
    assert cr.normalised("expected 11,642, got 42,362 (+30.7K).") == "expected #, got # (#)."
    assert cr.normalised("stride 3 on a 7×7 input: 1.5e-3  off") == "stride # on a #×# input: # off"


def test_discrimination_is_the_top_27_percent_against_the_bottom_27_percent():
    def student(name, cell_a, cell_b):
        return cr.StudentResult(
            name, "graded", "", 1.0, cell_a + cell_b, 2.0, {("nb", "a"): cell_a, ("nb", "b"): cell_b}
        )

    # Ten students: a is passed by the seven best, b by every third one alone
    results = [student(f"s{i}", 1.0 if i < 7 else 0.0, 1.0 if i % 3 == 0 else 0.0) for i in range(10)]
    stats = {s.cell: s for s in cr.cell_stats([("nb", "a", 1.0), ("nb", "b", 1.0)], results)}
    top, bottom = cr.extremes(results)
    # round(0.27 * 10) = 3 each: the totals of 2 (s0, s3, s6), and of the rest, the last by total then id
    assert [r.student for r in top] == ["s0", "s3", "s6"] and [r.student for r in bottom] == [
        "s9",
        "s7",
        "s8",
    ]
    assert stats["a"].discrimination == pytest.approx(1.0)  # the top three pass, the bottom three fail
    assert stats["a"].pass_rate == pytest.approx(0.7) and stats["a"].mean_points == pytest.approx(0.7)
    assert stats["b"].discrimination == pytest.approx(1 - 1 / 3)  # s9 of the bottom passes it too


def test_the_fingerprints_are_the_same_in_every_process():
    """Python salts a string's hash per process: the report must not change from one run to the next."""
    code = (
        "from cnnlab_grade import copies as cp; "
        "print(sorted(cp.fingerprint('s', [cp.Cell('nb:a', 'code', open(cp.__file__).read())]).places))"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
        )
        for seed in ("1", "2")
    ]
    assert runs[0].returncode == 0, runs[0].stderr
    assert runs[0].stdout == runs[1].stdout and len(runs[0].stdout) > 100


def test_a_hand_edited_notebook_gives_what_can_be_read(tmp_path):
    """Broken JSON has no answers; odd metadata or sources are skipped, not a failed report."""
    (tmp_path / "broken.ipynb").write_text('{"cells": [')
    cells = [
        {"cell_type": "code", "metadata": "odd", "source": "x = 1\n"},
        {
            "cell_type": "code",
            "metadata": {"nbgrader": {"solution": True, "grade_id": "a"}},
            "source": ["y = ", "2"],
        },
        {"cell_type": "markdown", "metadata": {}, "source": {"not": "text"}},
        "not a cell",
    ]
    (tmp_path / "odd.ipynb").write_text(json.dumps({"cells": cells}))
    released = {"broken": [], "odd": [cp.Cell("odd:cell 1", "code", "x = 1\n")]}
    assert cp.answer_cells(tmp_path, released) == [cp.Cell("odd:a", "code", "y = 2")]


ONE_CELL = {  # an assignment 'a' with one graded cell 'c' worth 2 points, as assignment_structure gives it
    "name": "a",
    "duedate": None,
    "notebooks": [
        {
            "name": "nb",
            "kernelspec": None,
            "grade_cells": [{"name": "c", "max_score": 2.0, "cell_type": "code"}],
            "solution_cells": [],
            "task_cells": [],
            "source_cells": [],
        }
    ],
}


def submission(student: str, score: float) -> dict:
    grade = {"auto_score": score, "manual_score": None, "extra_credit": None, "needs_manual_grade": False}
    person = {"id": student, "first_name": None, "last_name": None, "email": None, "lms_user_id": None}
    notebook = {"flagged": False, "late_submission_penalty": None, "grades": {"c": grade}, "comments": {}}
    return {
        "assignment": "a",
        "student": person,
        "timestamp": None,
        "extension": None,
        "notebooks": {"nb": notebook},
    }


def test_the_report_reads_the_kits_records_and_a_submission_graded_without_the_kit(tmp_path):
    from datetime import datetime

    from cnnlab_grade import gradebook as gb
    from cnnlab_grade.course import with_tools_on_path

    with_tools_on_path()  # nbgrader runs `alembic` by name to create a gradebook
    failure = {"notebook": "nb", "cell": "c", "error": "CheckFailed: expected 12, got 13.", "first": ""}
    record = {
        "assignment": "a",
        "student": "kit",
        "checksum": "-",
        "fingerprint": "-",
        "status": "graded",
        "reason": "c: CheckFailed: expected 12, got 13.",
        "graded_at": datetime(2026, 1, 1),
        "seconds": 4.5,
        "failures": [failure],
    }
    with gb.opened(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        gb.install_assignment(gradebook, ONE_CELL)
        gb.save(gradebook, submission("kit", 0.0), record)
        gb.save(gradebook, submission("plain", 2.0), None)  # as plain `nbgrader autograde` leaves it
        cells, results = cr.read_class(gradebook, "a")
    assert cells == [("nb", "c", 2.0)]
    by_student = {r.student: r for r in results}
    assert (by_student["kit"].status, by_student["kit"].seconds, by_student["kit"].score) == (
        "graded",
        4.5,
        0.0,
    )
    assert by_student["kit"].failures == [failure]
    assert (by_student["plain"].status, by_student["plain"].seconds, by_student["plain"].score) == (
        "graded",
        None,
        2.0,
    )
    assert [(r.message, r.students) for r in cr.reasons(results)] == [
        ("CheckFailed: expected #, got #.", ["kit"])
    ]
    assert cr.cell_stats(cells, results)[0].pass_rate == pytest.approx(0.5)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["report", "00_foundations"], "the following arguments are required: --out"),
        (["report", "00_foundations", "--out", "r", "--threshold", "2"], "expected a share between 0 and 1"),
    ],
)
def test_a_bad_report_command_line_fails_in_one_line(capsys, argv, message):
    from cnnlab_grade.__main__ import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("cnnlab_grade: ")


def test_a_report_without_a_gradebook_says_so(capsys, tmp_path, monkeypatch):
    from cnnlab_grade.__main__ import main

    (tmp_path / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.db_url = 'sqlite:///{tmp_path / 'none.db'}'\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["report", "00_foundations", "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expected a gradebook at" in err
