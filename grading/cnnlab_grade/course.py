"""The course as nbgrader sees it (its configuration and folders), and the submissions handed in."""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import GraderError


@dataclass(frozen=True)
class Course:
    """A course root with its nbgrader configuration, loaded as ``nbgrader`` itself loads it."""

    root: Path
    config: object  # traitlets' Config, picklable: workers receive it
    course_id: str
    db_url: str
    source_directory: str
    autograded_directory: str
    feedback_directory: str
    ignore: tuple[str, ...]
    release_directory: str = "release"  # the student versions (the class report leaves their text out)
    submitted_directory: str = "submitted"

    def folder(self, directory: str, student: str, assignment: str) -> Path:
        """nbgrader's ``CourseDirectory.format_path``: root/directory/student/assignment."""
        return self.root / directory / student / assignment

    def source_notebooks(self, assignment: str) -> list[Path]:
        return sorted((self.root / self.source_directory / assignment).glob("*.ipynb"))

    def ignored(self, name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.ignore)


def with_tools_on_path() -> None:
    """This Python's bin folder first on PATH: nbgrader runs `alembic` by name to create a gradebook."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def load_course(root: Path | None = None) -> Course:
    """nbgrader's configuration for the course in ``root`` (default: the current folder)."""
    root = Path(root or os.getcwd()).resolve()
    if not (root / "nbgrader_config.py").is_file():
        raise GraderError(
            f"expected nbgrader_config.py in {root}, found none: run the command from the course's root folder"
        )
    from nbgrader.apps.baseapp import NbGrader

    previous = os.getcwd()
    os.chdir(root)  # nbgrader reads nbgrader_config.py from the current folder
    try:
        app = NbGrader(log_level=logging.ERROR)
        app.initialize([])
    except Exception as error:  # noqa: BLE001 - any failure here means the course cannot be read
        raise GraderError(f"cannot read the course's nbgrader_config.py: {error}") from None
    finally:
        os.chdir(previous)
    coursedir = app.coursedir
    return Course(
        root=Path(coursedir.root).resolve(),
        config=app.config,
        course_id=coursedir.course_id,
        db_url=coursedir.db_url,
        source_directory=coursedir.source_directory,
        autograded_directory=coursedir.autograded_directory,
        feedback_directory=coursedir.feedback_directory,
        ignore=tuple(coursedir.ignore),
        release_directory=coursedir.release_directory,
        submitted_directory=coursedir.submitted_directory,
    )


@dataclass(frozen=True)
class Submission:
    """One student's folder for one assignment: SUBMITTED_DIR/<student>/<assignment>/."""

    student: str
    folder: Path


def find_submissions(submitted: Path, assignment: str) -> list[Submission]:
    """Every student folder that holds a folder for ``assignment``, sorted by student id."""
    if not submitted.is_dir():
        raise GraderError(f"expected a folder of submissions at {submitted}, found none")
    found = []
    for student_dir in sorted(submitted.iterdir()):
        if student_dir.name.startswith(".") or not student_dir.is_dir():
            continue
        folder = student_dir / assignment
        if folder.is_dir():
            found.append(Submission(student_dir.name, folder))
    return found


def checksum(folder: Path, ignored=lambda name: False) -> str:
    """SHA-256 of every file under ``folder`` (paths and contents): a resubmission changes it."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not ignored(d))
        for name in sorted(filenames):
            if ignored(name):
                continue
            path = Path(dirpath) / name
            header = f"{path.relative_to(folder)}\0{path.stat().st_size}\0"
            digest.update(header.encode("utf-8"))
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def needs_course_data(course: Course, assignment: str) -> bool:
    """Whether the assignment's notebooks load the course dataset."""
    return any(
        "load_course_data" in path.read_text(encoding="utf-8")
        or "cnnlab.data" in path.read_text(encoding="utf-8")
        for path in course.source_notebooks(assignment)
    )


def ensure_course_data(course: Course, assignment: str) -> None:
    """Before anyone is graded: the dataset the notebooks load is built and intact (its SHA-256 checked).

    Kernels see it read-only and cannot build it; without it every student would lose the checks after the
    cell that loads it. It is deterministic, so it is built here, once; where that is impossible, the run stops.
    """
    if not needs_course_data(course, assignment):
        return
    from cnnlab.data.course import dataset_path
    from cnnlab.data.course import ensure_course_data as build
    from cnnlab.errors import DataError

    from .report import say
    from .sandbox import course_data_root

    root = course_data_root()
    try:
        if not dataset_path(root).is_file():  # fail before a minute of rendering, not after
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise DataError(f"cannot create {root}: {error.strerror or error}") from None
            if not os.access(root, os.W_OK):
                raise DataError(f"{root} is not writable")
        path, built = build(root)
    except DataError as error:
        raise GraderError(
            f"{assignment} loads the course dataset, which is not in place at {dataset_path(root)} and cannot be "
            f"built from here ({str(error).rstrip('.')}): build it first with python -m cnnlab.data build"
        ) from None
    if built:
        say(f"built the course dataset {path} before grading (the notebooks load it; its SHA-256 is checked)")
