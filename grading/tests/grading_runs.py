"""How the kit's tests run the kit: a course with 00_foundations released, a class of submissions built into it,
the command, and what it recorded; the Slurm scripts of docs/grading.md; a run killed while it grades.

Every test_grade*.py file sets up its runs with these, so that a run means the same in each of them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

import grading_submissions as subs
from course import ROOT, SOLUTIONS, Course, gradebook_grades, nbgrader_environment

from cnnlab_grade.errors import GraderError

ASSIGNMENT = subs.ASSIGNMENT
MEMORY_MB = "2560"  # a kernel of this notebook needs about 1 GB of address space


@cache
def sandbox_problem() -> str:
    """'' where bubblewrap works here, else why not."""
    from cnnlab_grade import sandbox

    with tempfile.TemporaryDirectory() as scratch:
        os.chmod(scratch, 0o711)
        try:
            sandbox.detect(0, unsafe=False, scratch=Path(scratch))
        except GraderError as error:
            return str(error)
    return ""


def kit_command(*args: str) -> list[str]:
    """``python -m cnnlab_grade`` with ``args``; ``--unsafe`` added to a grading run where the sandbox cannot work."""
    command = [sys.executable, "-m", "cnnlab_grade", *args]
    if sandbox_problem() and args[0] not in ("merge", "report") and "--unsafe" not in args:
        command.append("--unsafe")
    return command


def class_args(table: Path) -> list[str]:
    """The arguments of a run that grades a whole class: two workers, the CSV ``table``, the kernels' memory."""
    return [ASSIGNMENT, "autograde/submitted", "--workers", "2", "--csv", str(table), "--memory", MEMORY_MB]


def kit(root: Path, *args: str, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        kit_command(*args),
        cwd=root,
        env={**nbgrader_environment(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def new_course(root: Path) -> Course:
    course = Course(root)
    config = root / "nbgrader_config.py"
    config.write_text(config.read_text() + f"c.Execute.timeout = {subs.CELL_TIMEOUT_S}\n")
    course.generate(ASSIGNMENT)
    return course


class Listener:
    """A server on 127.0.0.1 that hands out an answer to whoever connects, and counts them."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            connection, _ = self.server.accept()
            self.connections += 1
            with connection:
                connection.sendall(b"def tiny_net_params(*args, **kwargs):\n    return 11642\n")


def submit_hostile_class(course: Course, names: list[str]) -> Listener:
    """The submissions ``names`` of grading_submissions, with what the hostile ones reach for filled in: the
    solution notebook, the gradebook, and the port of a Listener (returned) that must never hear from them."""
    listener = Listener()
    subs.build(
        course,
        names,
        SOLUTIONS=str(SOLUTIONS / ASSIGNMENT / subs.NOTEBOOK),
        GRADEBOOK=str(course.root / "gradebook.db"),
        PORT=str(listener.port),
    )
    return listener


def grades(db: Path, student: str) -> dict[str, tuple[float, float, bool]]:
    """{cell: (score, max score, needs manual grading)} as nbgrader holds them."""
    return gradebook_grades(db, ASSIGNMENT, student)


def records(db: Path) -> dict[str, tuple[str, str]]:
    """{student: (status, reason)} from the kit's table."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT student, status, reason FROM cnnlab_grading").fetchall()
    return {student: (status, reason) for student, status, reason in rows}


def records_so_far(db: Path) -> dict[str, tuple[str, str]]:
    """The kit's records so far, or {} while the gradebook is not there yet."""
    try:
        return records(db)
    except sqlite3.Error:
        return {}


def grading_doc_blocks() -> list[str]:
    """The ```bash blocks of docs/grading.md, which the tests run as the instructor would."""
    return re.findall(r"```bash\n(.*?)```", (ROOT / "docs" / "grading.md").read_text(), re.S)


def slurm_script(name: str) -> str:
    """The Slurm script ``name`` (grade.sbatch, merge.sbatch) as docs/grading.md gives it."""
    return next(
        block for block in grading_doc_blocks() if block.startswith(f"#!/usr/bin/env bash\n# {name}:")
    )


# --- the class of the class report, graded once per session -----------------------------------------------------


@cache
def report_class() -> Course:
    """A throwaway course with grading_submissions.REPORT_CLASS submitted and graded once by one ordinary run into
    its SQLite gradebook (about a minute and a half on 2 cores). Removed when the tests end."""
    import atexit

    root = Path(tempfile.mkdtemp(prefix="cnnlab-report-", dir="/tmp"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    course = new_course(root / "course")
    subs.build_report_class(course)
    result = kit(course.root, ASSIGNMENT, "autograde/submitted", "--workers", "2", "--memory", MEMORY_MB)
    assert result.returncode == 0, result.stderr
    return course


# --- a run killed while it grades ----------------------------------------------------------------------------


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def kill_while_grading(command: list[str], cwd: Path, recorded: Callable[[], bool]) -> None:
    """Starts the run ``command``, waits until ``recorded()`` (a first submission saved) and a kernel runs, then
    kills the run with SIGKILL; asserts that its workers and kernels die with it."""
    scratch = Path(tempfile.mkdtemp(prefix="kill-"))  # kill -9 leaves the run's working folder behind: here
    env = {**nbgrader_environment(), "TMPDIR": str(scratch)}
    run = subprocess.Popen(command, cwd=cwd, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    kernel = None
    while kernel is None and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.2)
        if recorded():
            kernel = next((p for p in descendants(run.pid) if "ipykernel" in command_line(p)), None)
    assert kernel is not None, "the run never got to a kernel after its first record"
    doomed = descendants(run.pid)
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 30
    while any(alive(p) for p in doomed) and time.monotonic() < deadline:
        time.sleep(0.2)
    shutil.rmtree(scratch, ignore_errors=True)
    assert not [p for p in doomed if alive(p)], "workers and kernels die with the run"
