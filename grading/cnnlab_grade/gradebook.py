"""nbgrader's gradebook as the kit reads and writes it.

The kit makes no grade of its own: nbgrader's converter writes each submission's grades into a private
gradebook, and these functions copy them, field by field, into the class gradebook (or between shards).
Submissions travel as plain dicts, so worker processes can hand them over.

Beside nbgrader's tables the kit keeps two of its own: ``cnnlab_grading``, per assignment and student, the
checksum of the submission that was graded, the assignment's fingerprint, a status, its reason and the seconds
it took; and ``cnnlab_failures``, each check that failed with its error message (what the class report groups).
They are written in the same transaction as the grades, so a student is either graded and recorded, or neither:
a run killed at any point leaves no half-written student behind, and the next run grades what is missing.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Column, DateTime, Float, Integer, MetaData, String, Table, Text, select

from .errors import GraderError

RECORDS = Table(
    "cnnlab_grading",
    MetaData(),
    Column("assignment", String(128), primary_key=True),
    Column("student", String(128), primary_key=True),
    Column("checksum", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("graded_at", DateTime, nullable=False),
    Column("seconds", Float, nullable=False),
)
# One row per failed check of a graded submission, in the notebook's order (explain.failed_checks): a record's
# ``failures``. A table of its own rather than the reason's text, which joins several messages with "; "
FAILURES = Table(
    "cnnlab_failures",
    RECORDS.metadata,
    Column("assignment", String(128), primary_key=True),
    Column("student", String(128), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("notebook", String(128), nullable=False),
    Column("cell", String(128), nullable=False),
    Column("error", Text, nullable=False),
    Column("first", Text, nullable=False),  # the first error of an earlier cell, or ''
)
_FAILURE_FIELDS = ("notebook", "cell", "error", "first")

SCHEMA_LOCK = 0x636E6E6C6162  # PostgreSQL advisory lock held while a gradebook's tables are created
INSTALL_LOCK = SCHEMA_LOCK + 1  # held while a shard reads the assignment, installing it if missing
ATTEMPTS = 5  # a server gradebook written by several shards at once: tries of a step that can lose a race
_STUDENT_FIELDS = ("first_name", "last_name", "email", "lms_user_id")
_GRADE_FIELDS = ("auto_score", "manual_score", "extra_credit", "needs_manual_grade")
_COMMENT_FIELDS = ("auto_comment", "manual_comment")


@contextmanager
def opened(url: str, course_id: str = "default_course", must_exist: bool = False):
    """nbgrader's Gradebook at ``url`` with the kit's table, closed afterwards.

    ``must_exist``: refuse a SQLite file that is not there (rather than create an empty gradebook).
    """
    from nbgrader.api import Gradebook

    if must_exist and url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not path.is_file():
            raise GraderError(f"expected a gradebook at {path}, found no such file")
    for attempt in range(ATTEMPTS):
        try:
            with _schema_lock(url):
                gradebook = Gradebook(url, course_id)
                RECORDS.metadata.create_all(gradebook.engine)
            break
        except Exception as error:  # noqa: BLE001 - sqlalchemy raises many kinds; all mean "cannot open"
            # Two shards opening a new server database at once both create its tables: one loses the race
            if url.startswith("sqlite") or attempt == ATTEMPTS - 1:
                raise GraderError(f"cannot open the gradebook {url}: {str(error).splitlines()[0]}") from None
            time.sleep(0.2 + random.random())
    try:
        yield gradebook
    finally:
        gradebook.close()


@contextmanager
def _schema_lock(url: str):
    """On PostgreSQL, one process at a time creates a new gradebook's tables: nbgrader creates them, then its
    ``alembic_version`` table only if there were none, so a second shard starting at once would see half a schema."""
    with _advisory_lock(url, SCHEMA_LOCK):
        yield


def installing(url: str):
    """Held while a process reads the assignment from a server gradebook and installs it if it is missing."""
    return _advisory_lock(url, INSTALL_LOCK)


@contextmanager
def _advisory_lock(url: str, key: int):
    """A PostgreSQL advisory lock held for the block (a server gradebook that shards share); nothing elsewhere."""
    if not url.startswith("postgresql"):
        yield
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    finally:
        engine.dispose()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _datetime(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# --- the assignment: what nbgrader generate_assignment recorded -----------------------------------


def assignment_structure(gradebook, assignment: str) -> dict | None:
    """The assignment's notebooks and cells as nbgrader recorded them, or None if it is not there."""
    from nbgrader.api import MissingEntry

    try:
        record = gradebook.find_assignment(assignment)
    except MissingEntry:
        return None
    notebooks = []
    for notebook in record.notebooks:
        notebooks.append(
            {
                "name": notebook.name,
                "kernelspec": notebook.kernelspec,
                "grade_cells": sorted(
                    (
                        {"name": c.name, "max_score": c.max_score, "cell_type": c.cell_type}
                        for c in notebook.grade_cells
                    ),
                    key=lambda c: c["name"],
                ),
                "solution_cells": sorted(c.name for c in notebook.solution_cells),
                "task_cells": sorted(
                    (
                        {"name": c.name, "max_score": c.max_score, "cell_type": c.cell_type}
                        for c in notebook.task_cells
                    ),
                    key=lambda c: c["name"],
                ),
                "source_cells": sorted(
                    (
                        {
                            "name": c.name,
                            "cell_type": c.cell_type,
                            "locked": c.locked,
                            "source": c.source,
                            "checksum": c.checksum,
                        }
                        for c in notebook.source_cells
                    ),
                    key=lambda c: c["name"],
                ),
            }
        )
    return {"name": record.name, "duedate": _iso(record.duedate), "notebooks": notebooks}


def fingerprint(structure: dict) -> str:
    """Changes when the assignment is regenerated with other cells, points, tests or due date."""
    return hashlib.sha256(json.dumps(structure, sort_keys=True).encode("utf-8")).hexdigest()


def install_assignment(gradebook, structure: dict) -> None:
    """Record the assignment in a gradebook that lacks it, as generate_assignment would have."""
    name = structure["name"]
    gradebook.update_or_create_assignment(name, duedate=_datetime(structure["duedate"]))
    for notebook in structure["notebooks"]:
        nb = notebook["name"]
        gradebook.update_or_create_notebook(nb, name, kernelspec=notebook["kernelspec"])
        for cell in notebook["grade_cells"]:
            gradebook.update_or_create_grade_cell(
                cell["name"], nb, name, max_score=cell["max_score"], cell_type=cell["cell_type"]
            )
        for cell_name in notebook["solution_cells"]:
            gradebook.update_or_create_solution_cell(cell_name, nb, name)
        for cell in notebook["task_cells"]:
            gradebook.update_or_create_task_cell(
                cell["name"], nb, name, max_score=cell["max_score"], cell_type=cell["cell_type"]
            )
        for cell in notebook["source_cells"]:
            gradebook.update_or_create_source_cell(
                cell["name"],
                nb,
                name,
                cell_type=cell["cell_type"],
                locked=cell["locked"],
                source=cell["source"],
                checksum=cell["checksum"],
            )


@contextmanager
def _one_transaction(gradebook):
    """nbgrader's ``update_or_create_*`` commit after each row; inside this block they only flush, so the rows
    are committed together at its end: a run killed halfway leaves no half-installed assignment behind."""
    session = gradebook.db
    session.commit = session.flush  # an instance attribute hides Session.commit for this block only
    try:
        yield
    finally:
        del session.commit


def install_assignment_once(gradebook, structure: dict) -> None:
    """``install_assignment``, committed as one transaction; where another process installed it first, theirs
    stays."""
    for attempt in range(ATTEMPTS):
        try:
            if assignment_structure(gradebook, structure["name"]) is None:
                with _one_transaction(gradebook):
                    install_assignment(gradebook, structure)
            gradebook.db.commit()
            return
        except Exception:
            gradebook.db.rollback()
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.2 + random.random())


def ensure_assignment(gradebook, structure: dict, where: str) -> None:
    """Install the assignment, or check that the one already there is the same."""
    present = assignment_structure(gradebook, structure["name"])
    if present is None:
        install_assignment(gradebook, structure)
    elif fingerprint(present) != fingerprint(structure):
        raise GraderError(
            f"the assignment {structure['name']} in {where} differs from the one being graded (other cells, "
            "points, tests or due date): regenerate it with nbgrader generate_assignment, or use another gradebook"
        )


def build_template(path: Path, structure: dict, course_id: str, like) -> None:
    """A fresh SQLite gradebook holding just the assignment: each submission's private gradebook is a copy.

    Its schema and version are those of the gradebook ``like``: made directly, without nbgrader's call to
    ``alembic`` (a second of start-up) that a new gradebook would cost.
    """
    from nbgrader.api import Base
    from sqlalchemy import create_engine, text

    version = like.db.execute(text("SELECT version_num FROM alembic_version")).scalar()
    like.db.commit()
    engine = create_engine("sqlite:///" + str(path))
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": version})
    engine.dispose()
    with opened("sqlite:///" + str(path), course_id) as gradebook:
        install_assignment(gradebook, structure)


# --- one student's submission ---------------------------------------------------------------------


def export_submission(gradebook, assignment: str, student: str) -> dict | None:
    """Everything nbgrader holds about one submission: student, timestamps, grades, comments."""
    from nbgrader.api import MissingEntry

    try:
        submission = gradebook.find_submission(assignment, student)
    except MissingEntry:
        return None
    person = submission.student
    notebooks = {}
    for notebook in submission.notebooks:
        notebooks[notebook.notebook.name] = {
            "flagged": notebook.flagged,
            "late_submission_penalty": notebook.late_submission_penalty,
            "grades": {g.cell.name: {f: getattr(g, f) for f in _GRADE_FIELDS} for g in notebook.grades},
            "comments": {c.cell.name: {f: getattr(c, f) for f in _COMMENT_FIELDS} for c in notebook.comments},
        }
    return {
        "assignment": assignment,
        "student": {"id": person.id, **{f: getattr(person, f) for f in _STUDENT_FIELDS}},
        "timestamp": _iso(submission.timestamp),
        "extension": submission.extension.total_seconds() if submission.extension is not None else None,
        "notebooks": notebooks,
    }


def _new_submission(gradebook, assignment, student):
    """An empty submission mirroring the assignment, as nbgrader's add_submission makes it (uncommitted)."""
    from nbgrader.api import Comment, Grade, SubmittedAssignment, SubmittedNotebook

    with gradebook.db.no_autoflush:  # no half-built submission may be flushed while it is being built
        submission = SubmittedAssignment(assignment=assignment, student=student)
        for notebook in assignment.notebooks:
            submitted = SubmittedNotebook(notebook=notebook, assignment=submission)
            for cell in notebook.grade_cells:
                Grade(cell=cell, notebook=submitted)
            for cell in notebook.solution_cells:
                Comment(cell=cell, notebook=submitted)
            for cell in notebook.task_cells:
                Comment(cell=cell, notebook=submitted)
                Grade(cell=cell, notebook=submitted)
        gradebook.db.add(submission)
    return submission


def import_submission(gradebook, data: dict) -> None:
    """Write an exported submission into ``gradebook``, uncommitted.

    A manual score or comment already there is never replaced by an empty one: a regrade keeps the
    instructor's work, and marks the cell for review, as nbgrader does when it autogrades again.
    """
    from nbgrader.api import MissingEntry, Student

    db = gradebook.db
    assignment = gradebook.find_assignment(data["assignment"])
    person = data["student"]
    student = db.get(Student, person["id"])
    if student is None:
        student = Student(id=person["id"])
        db.add(student)
    for field in _STUDENT_FIELDS:
        if person.get(field) is not None:
            setattr(student, field, person[field])
    try:
        submission = gradebook.find_submission(data["assignment"], person["id"])
    except MissingEntry:
        submission = _new_submission(gradebook, assignment, student)
    submission.timestamp = _datetime(data["timestamp"])
    submission.extension = timedelta(seconds=data["extension"]) if data["extension"] is not None else None
    for notebook in submission.notebooks:
        saved = data["notebooks"].get(notebook.notebook.name)
        if saved is None:
            continue
        notebook.flagged = saved["flagged"]
        notebook.late_submission_penalty = saved["late_submission_penalty"]
        for grade in notebook.grades:
            new = saved["grades"].get(grade.cell.name)
            if new is None:
                continue
            keep_manual = grade.manual_score is not None and new["manual_score"] is None
            grade.auto_score = new["auto_score"]
            grade.extra_credit = new["extra_credit"] if not keep_manual else grade.extra_credit
            grade.manual_score = new["manual_score"] if not keep_manual else grade.manual_score
            grade.needs_manual_grade = new["needs_manual_grade"] or keep_manual
        for comment in notebook.comments:
            new = saved["comments"].get(comment.cell.name)
            if new is None:
                continue
            comment.auto_comment = new["auto_comment"]
            if new["manual_comment"] is not None or comment.manual_comment is None:
                comment.manual_comment = new["manual_comment"]


# --- the kit's records ----------------------------------------------------------------------------


def read_records(gradebook, assignment: str | None = None) -> dict[tuple[str, str], dict]:
    """{(assignment, student): record} for one assignment, or all; a record's ``failures`` lists its failed
    checks as {notebook, cell, error, first}."""
    query = select(RECORDS)
    failed = select(FAILURES).order_by(FAILURES.c.position)
    if assignment is not None:
        query = query.where(RECORDS.c.assignment == assignment)
        failed = failed.where(FAILURES.c.assignment == assignment)
    rows = gradebook.db.execute(query).mappings().all()
    failures: dict[tuple[str, str], list[dict]] = {}
    for row in gradebook.db.execute(failed).mappings():
        failures.setdefault((row["assignment"], row["student"]), []).append(
            {field: row[field] for field in _FAILURE_FIELDS}
        )
    gradebook.db.commit()  # end the read transaction: SQLite would otherwise hold a lock
    return {
        (row["assignment"], row["student"]): {
            **row,
            "failures": failures.get((row["assignment"], row["student"]), []),
        }
        for row in rows
    }


def save(gradebook, submission: dict | None, record: dict | None) -> None:
    """One student's grades and the kit's record of them (either may be None), in one transaction."""
    try:
        if submission is not None:
            import_submission(gradebook, submission)
        if record is not None:
            record = dict(record)
            failures = record.pop("failures", [])
            for table in (RECORDS, FAILURES):
                key = (table.c.assignment == record["assignment"]) & (table.c.student == record["student"])
                gradebook.db.execute(table.delete().where(key))
            gradebook.db.execute(RECORDS.insert().values(**record))
            if failures:
                gradebook.db.execute(
                    FAILURES.insert(),
                    [
                        {
                            "assignment": record["assignment"],
                            "student": record["student"],
                            "position": position,
                            **{field: failure[field] for field in _FAILURE_FIELDS},
                        }
                        for position, failure in enumerate(failures)
                    ],
                )
        gradebook.db.commit()
    except Exception:
        gradebook.db.rollback()
        raise


def scores(gradebook, assignment: str, student: str) -> dict[str, dict] | None:
    """{cell: {score, max_score, needs_manual_grade}} and totals, as nbgrader computes them; None if absent."""
    from nbgrader.api import MissingEntry

    try:
        submission = gradebook.find_submission(assignment, student)
    except MissingEntry:
        return None
    cells = {}
    for notebook in submission.notebooks:
        for grade in notebook.grades:
            cells[(notebook.notebook.name, grade.cell.name)] = {
                "score": grade.score,
                "max_score": grade.max_score,
                "pending": grade.needs_manual_grade and grade.manual_score is None,
            }
    penalty = submission.late_submission_penalty or 0.0
    return {
        "cells": cells,
        "raw_score": submission.score,
        "late_submission_penalty": penalty,
        "score": max(0.0, submission.score - penalty),  # as nbgrader export computes it
        "max_score": submission.max_score,
    }
