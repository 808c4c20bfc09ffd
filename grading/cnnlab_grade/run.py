"""One grading run: from the command's options to the gradebook, the CSV and the exit code."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from . import gradebook as gb
from .course import (
    Course,
    Submission,
    checksum,
    ensure_course_data,
    find_submissions,
    load_course,
    with_tools_on_path,
)
from .errors import GraderError
from .options import GradeOptions, usable_cores
from .pool import WorkerPool
from .report import Progress, say, summary, write_csv

KEEP_ENV = "CNNLAB_GRADE_KEEP"  # set: keep the run's working folder, to read worker logs


def shard_gradebook(course: Course, options: GradeOptions) -> str:
    """Where the grades go: --db, else the shard's own SQLite file, else the course's gradebook."""
    if options.db_url:
        return options.db_url
    if options.shard:
        folder = course.root / Path(course.autograded_directory).parent
        return "sqlite:///" + str(folder / f"shard-{options.shard.index}-of-{options.shard.count}.db")
    return course.db_url


def _structure(course: Course, gradebook, target: str, assignment: str) -> dict:
    """The assignment as nbgrader recorded it: from the target gradebook, else copied from the course's.

    On a server gradebook that several shards write, one shard at a time reads and installs it: a shard reading
    while another installs would otherwise take half an assignment for the whole one, and grade against it."""
    with gb.installing(target):
        return _structure_unlocked(course, gradebook, target, assignment)


def _structure_unlocked(course: Course, gradebook, target: str, assignment: str) -> dict:
    structure = gb.assignment_structure(gradebook, assignment)
    gradebook.db.commit()  # end the read: the next shard must see this one's install, not an older snapshot
    if structure is not None:
        return structure
    if target != course.db_url:
        require_gradebook(course, assignment)
        with gb.opened(course.db_url, course.course_id, must_exist=True) as course_gradebook:
            structure = gb.assignment_structure(course_gradebook, assignment)
    if structure is None:
        raise GraderError(
            f"the assignment {assignment} is not in the gradebook {course.db_url}: release it first with "
            f"{release_command(course, assignment)}"
        )
    gb.install_assignment_once(gradebook, structure)
    return structure


def release_command(course: Course, assignment: str) -> str:
    """How this course records an assignment in its gradebook: its release script, else nbgrader's command."""
    script = (course.root / course.source_directory).parent / "tools" / "release.py"  # beside solutions/
    if script.is_file():
        shown = script.relative_to(course.root) if script.is_relative_to(course.root) else script
        return f"python {shown} {assignment}"
    return f"nbgrader generate_assignment {assignment}"


def require_gradebook(course: Course, assignment: str) -> None:
    """The course's SQLite gradebook must be there (opening it would create an empty one)."""
    if course.db_url.startswith("sqlite:///"):
        path = Path(course.db_url[len("sqlite:///") :])
        if not path.is_file():
            raise GraderError(
                f"expected a gradebook at {path}, found no such file: release the assignment first with "
                f"{release_command(course, assignment)}"
            )


def graded_cells(course: Course, structure: dict) -> list[tuple[str, str]]:
    """(notebook, cell) of every graded cell, in the order of the source notebooks, for the CSV."""
    cells = []
    for notebook in structure["notebooks"]:
        names = {c["name"] for c in notebook["grade_cells"]} | {c["name"] for c in notebook["task_cells"]}
        source = course.root / course.source_directory / structure["name"] / f"{notebook['name']}.ipynb"
        order = []
        if source.is_file():
            for cell in nbformat.read(source, as_version=4).cells:
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                if grade_id in names and grade_id not in order:
                    order.append(grade_id)
        order += sorted(names - set(order))
        cells += [(notebook["name"], name) for name in order]
    return cells


def _place(source: str, destination: Path) -> None:
    """Replace ``destination`` by a copy of ``source``, so a reader never sees half of it."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    incoming = destination.with_name(destination.name + ".incoming")
    replaced = destination.with_name(destination.name + ".replaced")
    for leftover in (incoming, replaced):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.copytree(source, incoming)
    if destination.exists():
        os.replace(destination, replaced)
    os.replace(incoming, destination)
    shutil.rmtree(replaced, ignore_errors=True)


def _gpus() -> tuple[str, ...]:
    """The GPUs to spread the workers over: those CUDA_VISIBLE_DEVICES lists, when it lists several."""
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return tuple(listed) if len(listed) > 1 else ()


def _to_grade(gradebook, options: GradeOptions, submissions: list[Submission], sums: dict, fingerprint: str):
    """The submissions not yet graded, or changed since, or whose assignment changed (all with --force)."""
    if options.force:
        return list(submissions)
    records = gb.read_records(gradebook, options.assignment)
    todo = []
    for submission in submissions:
        record = records.get((options.assignment, submission.student))
        unchanged = (
            record is not None
            and record["checksum"] == sums[submission.student]
            and record["fingerprint"] == fingerprint
            and record["status"] != "error"
            and gb.scores(gradebook, options.assignment, submission.student) is not None
        )
        if not unchanged:
            todo.append(submission)
    return todo


@contextmanager
def _scratch():
    """The run's working folder (worker logs, private courses, kernels' folders), removed afterwards."""
    # Kernels' sockets live in here, and a Unix socket's path must stay under 108 bytes
    base = tempfile.gettempdir() if len(tempfile.gettempdir()) <= 40 else "/tmp"
    scratch = Path(tempfile.mkdtemp(prefix="cnnlab-grade-", dir=base))
    scratch.chmod(0o711)  # a kernel's own user must reach its folders inside
    try:
        yield scratch
    finally:
        if os.environ.get(KEEP_ENV):
            say(f"kept the run's working folder (worker logs, private courses): {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def _describe(isolation) -> None:
    if isolation.sandboxed:
        say(isolation.describe())
        return
    say("WARNING: " + isolation.note)
    say("WARNING: " + isolation.describe())
    say(
        "WARNING: student code can read every file this user can read, solutions/ and the gradebook included, "
        "and can use the network; only the limits above remain."
    )


@dataclass
class _Run:
    """What one grading run works with, once the gradebook is open."""

    course: Course
    options: GradeOptions
    gradebook: object  # nbgrader's Gradebook, held open by this process: the only writer
    structure: dict
    fingerprint: str
    sums: dict[str, str]  # student: checksum of their submission


def grade_command(options: GradeOptions) -> int:
    from .sandbox import detect

    started = time.monotonic()
    with_tools_on_path()
    course = load_course()
    submissions = find_submissions(options.submitted.resolve(), options.assignment)
    if options.shard:
        submissions = [s for s in submissions if options.shard.holds(s.student)]
    target = shard_gradebook(course, options)
    if target == course.db_url:
        require_gradebook(course, options.assignment)
    with gb.opened(target, course.course_id) as gradebook:
        structure = _structure(course, gradebook, target, options.assignment)
        sums = {s.student: checksum(s.folder, course.ignored) for s in submissions}
        run = _Run(course, options, gradebook, structure, gb.fingerprint(structure), sums)
        todo = _to_grade(gradebook, options, submissions, sums, run.fingerprint)
        kept = len(submissions) - len(todo)
        where = f" (shard {options.shard})" if options.shard else ""
        plan = (
            f"{options.assignment}{where}: {len(submissions)} submissions in {options.submitted}, "
            f"{len(todo)} to grade, {kept} already graded and unchanged; gradebook {target}"
        )
        progress = None
        if todo:
            ensure_course_data(course, options.assignment)
            with _scratch() as scratch, WorkerPool(min(options.workers, len(todo)), str(scratch)) as pool:
                isolation = detect(options.memory_mb, options.unsafe, scratch)  # a refusal comes first, alone
                say(plan)
                _describe(isolation)
                progress = _grade(run, todo, isolation, pool)
            if progress is None:
                return 130
        else:
            say(plan)
        rows = _rows(gradebook, options.assignment, submissions)
    if options.csv:
        write_csv(options.csv, rows, graded_cells(course, structure))
    if progress is not None:
        say(summary(progress, kept, time.monotonic() - started, min(options.workers, len(todo))))
    if options.csv:
        say(f"grades written to {options.csv}")
    if progress is not None and (shared := progress.shared_failure()):
        say(
            f"WARNING: all {shared[0]} submissions that ran failed {shared[1]} after the same error ({shared[2]}): "
            "that is almost always the course, not the class; check it (its dataset, its release, the solution "
            "notebook) before publishing these grades"
        )
    failures = [row["student"] for row in rows if row["status"] == "error"]
    if failures:
        say(
            f"{len(failures)} submission{'s' if len(failures) > 1 else ''} could not be graded because of the "
            f"grader ({', '.join(failures[:5])}{', ...' if len(failures) > 5 else ''}); the reasons are in the "
            "CSV and the gradebook's cnnlab_grading table; rerun to retry them"
        )
        return 1
    return 0


def _grade(run: _Run, todo: list[Submission], isolation, pool: WorkerPool) -> Progress | None:
    """Grade ``todo`` with the pool's workers; the progress, or None if interrupted."""
    from . import guard
    from .worker import Task, WorkerSetup

    course, options, gradebook = run.course, run.options, run.gradebook
    scratch = Path(pool.scratch)
    template = scratch / "template.db"
    gb.build_template(template, run.structure, course.course_id, like=gradebook)
    template.chmod(0o600)  # it holds the hidden tests
    setup = WorkerSetup(
        config=course.config,
        course_id=course.course_id,
        source_root=str(course.root / course.source_directory),
        assignment=options.assignment,
        structure=run.structure,
        template=str(template),
        isolation=isolation,
        wall_clock=options.timeout,
        threads=max(1, usable_cores() // pool.size),
        gpus=_gpus(),
        feedback=options.feedback,
        guard_sources=guard.trusted_sources(),
        guard_bindings=guard.bindings_of(course.source_notebooks(options.assignment)),
        scratch=str(scratch),
    )
    tasks = [
        Task(
            student=s.student,
            folder=str(s.folder),
            seed=gb.export_submission(gradebook, options.assignment, s.student),
            workdir=str(scratch / "submissions" / str(index)),
        )
        for index, s in enumerate(todo)
    ]
    gradebook.db.commit()  # release SQLite's read lock while the workers run
    folders = {task.student: task.workdir for task in tasks}
    progress = Progress(len(tasks))

    def on_result(result: dict) -> None:
        _save(run, result)
        progress.done(result["student"], result["status"], result.get("seconds", 0.0), result.get("failures"))
        shutil.rmtree(folders[result["student"]], ignore_errors=True)

    try:
        pool.run(setup, tasks, on_result)
    except KeyboardInterrupt:
        progress.close()
        graded = sum(progress.statuses.values())
        say(
            f"interrupted: the {graded} submissions graded so far are saved; run the same command again for the rest"
        )
        return None
    progress.close()
    return progress


def _save(run: _Run, result: dict) -> None:
    """One student's result into the gradebook (and their files into the course), in one transaction."""
    student, assignment = result["student"], run.options.assignment
    record = {
        "assignment": assignment,
        "student": student,
        "checksum": run.sums[student],
        "fingerprint": run.fingerprint,
        "status": result["status"],
        "reason": result["reason"],
        "graded_at": datetime.now(timezone.utc).replace(tzinfo=None),
        "seconds": float(result.get("seconds", 0.0)),
        "failures": result.get("failed_checks", []),
    }
    for kind, directory in (
        ("autograded", run.course.autograded_directory),
        ("feedback", run.course.feedback_directory),
    ):
        if kind in result["files"]:
            _place(result["files"][kind], run.course.folder(directory, student, assignment))
    gb.save(run.gradebook, result["submission"], record)


def _rows(gradebook, assignment: str, submissions: list[Submission]) -> list[dict]:
    records = gb.read_records(gradebook, assignment)
    rows = []
    for submission in submissions:
        record = records.get((assignment, submission.student), {})
        rows.append(
            {
                "student": submission.student,
                "status": record.get("status", "error"),
                "reason": record.get("reason", "not graded"),
                "scores": gb.scores(gradebook, assignment, submission.student),
            }
        )
    return rows
