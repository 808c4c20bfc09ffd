"""The grading kit against a real PostgreSQL server (Debian's, started in a temporary folder by the test):
``--db postgresql://...``, two shards writing at once, a run killed with SIGKILL halfway and rerun. Same scores
as SQLite, nothing lost, nothing graded twice (issue 10). The class report reads a PostgreSQL gradebook as it
reads SQLite's, and writes nothing to it (issue 22)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grading_services as services
import grading_submissions as subs
import pytest
from course import gradebook_grades, nbgrader_environment
from grading_runs import ASSIGNMENT, MEMORY_MB, kill_while_grading, kit, kit_command, report_class

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres():
    yield from services.started_or_skipped(services.postgres_server, "PostgreSQL")


def pg_grades(url: str, student: str) -> dict[str, tuple[float, float, bool]]:
    from nbgrader.api import Gradebook

    with Gradebook(url) as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, student)
        return {
            grade.name: (grade.score, grade.max_score, grade.needs_manual_grade)
            for notebook in submission.notebooks
            for grade in notebook.grades
        }


def pg_query(url: str, sql: str) -> list[tuple]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    except Exception:  # noqa: BLE001 - the tables are not there yet
        return []
    finally:
        engine.dispose()


def records(url: str) -> dict[str, tuple[str, str]]:
    rows = pg_query(url, "SELECT student, status, reason FROM cnnlab_grading")
    return {student: (status, reason) for student, status, reason in rows}


def command(folder: Path, url: str, *extra: str) -> list[str]:
    """The kit's command line, grading ``folder`` into ``url``."""
    return kit_command(ASSIGNMENT, str(folder), "--db", url, "--memory", MEMORY_MB, *extra)


def test_two_shards_write_one_postgres_gradebook_at_once(postgres):
    course = services.reference_class()
    url = postgres("two_shards")
    shards = [
        subprocess.Popen(
            command(course.submitted, url, "--shard", f"{i}/2", "--workers", "1"),
            cwd=course.root,
            env=nbgrader_environment(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (1, 2)
    ]
    for shard in shards:
        assert shard.wait(timeout=600) == 0, shard.stderr.read()
    reference = course.root / "gradebook.db"
    for student in services.CLASS:
        assert pg_grades(url, student) == gradebook_grades(reference, ASSIGNMENT, student), student
    assert sorted(records(url)) == sorted(services.CLASS)
    assert pg_query(url, "SELECT count(*) FROM submitted_assignment") == [(len(services.CLASS),)]
    assert pg_query(url, "SELECT count(*) FROM grade") == [(9 * len(services.CLASS),)], "no grade doubled"

    again = kit(
        course.root, ASSIGNMENT, "autograde/submitted", "--db", url, "--csv", str(course.root / "pg.csv")
    )
    assert again.returncode == 0, again.stderr
    assert f"0 to grade, {len(services.CLASS)} already graded" in again.stderr


def test_a_run_killed_halfway_resumes_in_postgres(postgres, tmp_path):
    course = services.reference_class()
    url = postgres("killed")
    folder = tmp_path / "submitted"
    for new, old in (
        ("a", "missing_notebook"),
        ("b", "perfect"),
        ("c", "wrong_name"),
    ):  # b alone runs a kernel
        shutil.copytree(course.submitted / old, folder / new)
    run_command = command(folder, url, "--workers", "1")
    kill_while_grading(run_command, course.root, recorded=lambda: bool(records(url)))
    assert list(records(url)) == ["a"], "b was being graded: not saved, not half-saved"

    rerun = subprocess.run(
        run_command, cwd=course.root, env=nbgrader_environment(), capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "2 to grade, 1 already graded" in rerun.stderr
    assert {s: status for s, (status, _) in records(url).items()} == {
        "a": "missing",
        "b": "graded",
        "c": "missing",
    }
    one_run = course.root / "gradebook.db"
    perfect = gradebook_grades(one_run, ASSIGNMENT, "perfect")
    assert pg_grades(url, "b") == perfect
    assert pg_grades(url, "c") == gradebook_grades(one_run, ASSIGNMENT, "wrong_name")
    assert pg_query(url, "SELECT count(*) FROM submitted_assignment") == [(3,)]
    assert pg_query(url, "SELECT count(*) FROM grade") == [(3 * 9,)]
    assert subs.FULL.keys() <= perfect.keys()


def test_the_class_report_of_a_postgres_gradebook_is_that_of_sqlite(postgres, tmp_path):
    """The report's class (test_class_report.py), merged into PostgreSQL with its records and failed checks: the
    same CSVs from either gradebook, and the server's tables unchanged by the report."""
    course = report_class()
    sqlite = course.root / "gradebook.db"
    url = postgres("report")
    merged = kit(course.root, "merge", str(sqlite), "--db", url)
    assert merged.returncode == 0, merged.stderr
    snapshot = (
        "SELECT (SELECT count(*) FROM grade), (SELECT sum(auto_score) FROM grade), "
        "(SELECT count(*) FROM cnnlab_grading), (SELECT count(*) FROM cnnlab_failures), "
        "(SELECT max(graded_at) FROM cnnlab_grading)"
    )
    before = pg_query(url, snapshot)
    assert before and before[0][3] > 0, "the failed checks travelled with the merge"
    for name, gradebook in (("sqlite", str(sqlite)), ("postgres", url)):
        result = kit(course.root, "report", ASSIGNMENT, "--db", gradebook, "--out", str(tmp_path / name))
        assert result.returncode == 0, result.stderr
    assert pg_query(url, snapshot) == before, "the report wrote to the gradebook"
    for table in (
        "students.csv",
        "cells.csv",
        "reasons.csv",
        "not_graded.csv",
        "distribution.csv",
        "copies.csv",
    ):
        assert (tmp_path / "postgres" / table).read_text() == (tmp_path / "sqlite" / table).read_text(), table
