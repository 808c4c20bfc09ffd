"""Grades one submission in a private course folder, with nbgrader's own converters.

The private course has the class's configuration and sources, a copy of the one submission, and a
private SQLite gradebook: a copy of the run's template (the assignment as nbgrader recorded it) with the
student's earlier submission, if any, so a regrade sees what a sequential ``nbgrader autograde`` would
see. Nothing here writes the class gradebook: the result goes back to the run, which does.
"""

from __future__ import annotations

import copy
import glob
import io
import logging
import os
import re
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from . import explain
from .gradebook import export_submission, import_submission, opened
from .sandbox import Isolation

# What a status means, from the worst: the CSV shows the worst that happened to any notebook.
STATUSES = ("error", "crashed", "timeout", "invalid", "missing", "graded")
_RAISED = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt): ")  # a traceback's last line


@dataclass(frozen=True)
class WorkerSetup:
    """What every worker needs, built once per run."""

    config: object  # the course's traitlets Config
    course_id: str
    source_root: str  # the course's source folder (solutions/), absolute
    assignment: str
    structure: dict  # the assignment as nbgrader recorded it (gradebook.assignment_structure)
    template: str  # the run's template gradebook
    isolation: Isolation
    wall_clock: float
    threads: int
    gpus: tuple[str, ...]  # CUDA devices to spread over the workers; () leaves CUDA_VISIBLE_DEVICES alone
    feedback: bool
    guard_sources: list
    guard_bindings: list
    scratch: str  # the run's temporary folder


@dataclass(frozen=True)
class Task:
    student: str
    folder: str  # SUBMITTED_DIR/<student>/<assignment>
    seed: dict | None  # the student's submission already in the class gradebook
    workdir: str  # private, empty


def _die_with_parent() -> None:
    """A killed run must not leave workers (and their kernels) grading for nobody."""
    import ctypes

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def font_cache() -> list[str]:
    """matplotlib's font lists (one per matplotlib version), built here if need be, so that kernels do not
    build (and warn about, on stderr, which fails a graded cell) their own."""
    import matplotlib

    def found() -> list[str]:
        return sorted(glob.glob(os.path.join(matplotlib.get_cachedir(), "fontlist-*.json")))

    if not found():
        from matplotlib import font_manager  # noqa: F401 - importing it writes the list

    return found()


def worker_main(slot: int, scratch: str, tasks, results) -> None:
    """A worker process: load what grading needs while the run prepares, then take the run's WorkerSetup
    and tasks until None, and put one result per task."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's to handle: it stops the workers
    log_fd = os.open(Path(scratch) / f"worker-{slot}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log_fd, 1)  # libraries' prints and warnings must not break the progress bar
    os.dup2(log_fd, 2)
    from nbgrader.converters import Autograde, GenerateFeedback  # noqa: F401 - loaded now, used per task

    from . import execute  # noqa: F401 - jupyter_client and nbclient, likewise
    from .course import with_tools_on_path

    with_tools_on_path()
    fonts = font_cache()
    setup = tasks.get()
    while (task := tasks.get()) is not None:
        try:
            result = grade_submission(setup, slot, task, fonts)
        except Exception as error:  # noqa: BLE001 - a bug must cost one student's grade, not the run
            traceback.print_exc()
            result = failed(task.student, f"the grader failed on it: {type(error).__name__}: {error}")
        results.put(result)


def failed(student: str, reason: str, status: str = "error") -> dict:
    return {"student": student, "status": status, "reason": reason, "submission": None, "files": {}}


def grade_submission(setup: WorkerSetup, slot: int, task: Task, fonts: list[str] | None = None) -> dict:
    """Autograde one submission; returns its grades (as exported from the private gradebook) and status."""
    from nbgrader.coursedir import CourseDirectory

    started = time.monotonic()
    private = Path(task.workdir)
    private.mkdir(mode=0o700, parents=True)  # out of kernels' reach: it will hold the hidden tests
    course_root = private / "course"
    submitted = course_root / "submitted" / task.student / setup.assignment
    skipped = copy_plain_files(Path(task.folder), submitted)
    findings = _check_notebooks(setup, submitted)
    if skipped:
        findings.remarks.insert(0, f"left out what is not a plain file or folder: {', '.join(skipped[:5])}")

    url = "sqlite:///" + str(private / "gradebook.db")
    shutil.copy(setup.template, private / "gradebook.db")
    config = _private_config(setup, slot, course_root, url, submitted, fonts)
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id, coursedir.student_id = setup.assignment, task.student
    with opened(url, setup.course_id) as gradebook:
        if task.seed is not None:
            import_submission(gradebook, task.seed)
            gradebook.db.commit()
        if not findings.readable:
            _zero_submission(gradebook, coursedir, setup.assignment, task.student, submitted)

    log = io.StringIO()
    notes: list[dict] = []  # what the execution saw, per notebook and cell (execute.NOTES)
    if findings.readable:
        error = _run_converter(_noted_autograde(notes), coursedir, config, log)
        if error and _in_the_kit(log.getvalue()):
            return failed(task.student, f"the grader failed on it: {error}")
        if error:  # nbgrader itself refused the notebook (its metadata, say): the submission's fault
            findings.refused(error)
            with opened(url, setup.course_id) as gradebook:
                _zero_submission(gradebook, coursedir, setup.assignment, task.student, submitted)
    files = {}
    autograded = course_root / "autograded" / task.student / setup.assignment
    if autograded.is_dir():
        files["autograded"] = str(autograded)
        if setup.feedback:
            from nbgrader.converters import GenerateFeedback

            error = _run_converter(GenerateFeedback, coursedir, config, log)
            feedback = course_root / "feedback" / task.student / setup.assignment
            if not error and feedback.is_dir():
                files["feedback"] = str(feedback)
            else:  # the grade stands, but the instructor must hear that this student has no feedback
                findings.remarks.append(
                    f"no feedback written: {error or 'nbgrader wrote no feedback folder'}"
                )
    findings.read_outputs(autograded, setup)
    with opened(url, setup.course_id) as gradebook:
        submission = export_submission(gradebook, setup.assignment, task.student)
    status, reason = findings.verdict(notes)
    return {
        "student": task.student,
        "status": status,
        "reason": reason,
        "submission": submission,
        "files": files,
        "seconds": time.monotonic() - started,
        "failures": findings.failures,
        "failed_checks": findings.failed_checks,
    }


def copy_plain_files(source: Path, destination: Path) -> list[str]:
    """Copy a submission's plain files and folders; return what was left out (symbolic links, pipes, devices).

    nbgrader copies a submission's files by following links, so a link to solutions/ would hand the kernel
    the solutions; and reading a pipe would hang the grader.
    """
    skipped = []
    destination.mkdir(parents=True, exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(source):
        here = Path(dirpath)
        target = destination / here.relative_to(source)
        for name in list(dirnames):
            if (here / name).is_symlink():
                dirnames.remove(name)
                skipped.append(str((here / name).relative_to(source)))
            else:
                (target / name).mkdir()
        for name in filenames:
            path = here / name
            if path.is_symlink() or not path.is_file():
                skipped.append(str(path.relative_to(source)))
            else:
                shutil.copy2(path, target / name)
    return skipped


def _private_config(
    setup: WorkerSetup, slot: int, root: Path, url: str, submitted: Path, fonts: list[str] | None
):
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute, GetGrades

    from .execute import GradingExecute

    config = copy.deepcopy(setup.config)
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.source_directory = setup.source_root
    config.CourseDirectory.submitted_directory = "submitted"
    config.CourseDirectory.autograded_directory = "autograded"
    config.CourseDirectory.feedback_directory = "feedback"
    config.CourseDirectory.db_url = url
    config.CourseDirectory.course_id = setup.course_id
    default = Autograde.class_traits()["autograde_preprocessors"].default()
    pipeline = config.Autograde.get("autograde_preprocessors") or default
    config.Autograde.autograde_preprocessors = [
        GradingExecute if isinstance(step, type) and issubclass(step, Execute) else step for step in pipeline
    ]
    gpu = setup.gpus[slot % len(setup.gpus)] if setup.gpus else None
    config.GradingExecute.isolation = setup.isolation
    config.GradingExecute.slot = slot
    config.GradingExecute.threads = setup.threads
    config.GradingExecute.gpu = gpu
    config.GradingExecute.wall_clock = setup.wall_clock
    config.GradingExecute.submission_folder = str(submitted)
    config.GradingExecute.box_root = str(Path(setup.scratch) / "kernels")
    config.GradingExecute.font_cache = list(fonts or [])
    config.GradingExecute.guard_sources = setup.guard_sources
    config.GradingExecute.guard_bindings = setup.guard_bindings
    # nbgrader's feedback would show the hidden tests' source and tracebacks that quote them (nbgrader#917)
    config.GenerateFeedback.preprocessors = [GetGrades, explain.HideHiddenTests, CSSHTMLHeaderPreprocessor]
    return config


def _noted_autograde(notes: list[dict]) -> type:
    """nbgrader's Autograde, which adds to ``notes`` what the execution noted in each notebook's resources
    (execute.NOTES): nbconvert hands every preprocessor a deep copy of them, so they are read where the converter
    gets them back, as it writes the notebook."""
    from nbgrader.converters import Autograde

    from .execute import NOTES

    class NotedAutograde(Autograde):
        def write_single_notebook(self, output: str, resources: dict) -> None:
            notes.extend(resources.get(NOTES, []))
            super().write_single_notebook(output, resources)

    return NotedAutograde


def _run_converter(converter_class: type, coursedir, config, log: io.StringIO) -> str:
    """Run one of nbgrader's converters for the one submission; '' on success, else its last error."""
    from nbgrader.converters import Autograde

    logger = logging.getLogger(f"cnnlab_grade.{converter_class.__name__}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    logger.handlers = [handler]
    converter = converter_class(coursedir=coursedir, config=config, log=logger)
    converter.force = True
    if isinstance(converter, Autograde):
        converter.create_student = True
    try:
        converter.start()
    except Exception as error:  # noqa: BLE001 - nbgrader reports its failures as exceptions of many kinds
        text = log.getvalue()
        print(text, file=sys.stderr)  # the worker's log: the whole story, for whoever debugs it
        raised = [line for line in text.splitlines() if _RAISED.match(line)]
        return (raised or [f"{type(error).__name__}: {error}"])[-1][:300]
    return ""


def _in_the_kit(log: str) -> bool:
    """Whether a failure's traceback passes through the kit's own code (a grader problem, not the student's)."""
    return f"{os.sep}cnnlab{os.sep}grade{os.sep}" in log


def _zero_submission(gradebook, coursedir, assignment: str, student: str, submitted: Path) -> None:
    """No notebook nbgrader could read: zero every grade, as nbgrader does for a missing notebook."""
    gradebook.update_or_create_student(student)
    timestamp = coursedir.get_existing_timestamp(str(submitted))
    if timestamp:
        gradebook.update_or_create_submission(assignment, student, timestamp=timestamp)
    else:
        gradebook.update_or_create_submission(assignment, student)
    for notebook in gradebook.find_submission(assignment, student).notebooks:
        for grade in notebook.grades:
            grade.auto_score = 0
            grade.needs_manual_grade = False
    gradebook.db.commit()


def _normalised(source: str) -> list[str]:
    """A test cell's lines as the student received them: no hidden tests, no blank lines."""
    return [line.rstrip() for line in explain.HIDDEN_REGION.sub("", source).splitlines() if line.strip()]


class _Findings:
    """What the grader saw in a submission before and after nbgrader ran it."""

    def __init__(self):
        self.readable: list[str] = []
        self.missing: list[str] = []
        self.invalid: list[str] = []
        self.remarks: list[str] = []
        self.failures: list[tuple[str, str]] = []  # (check, first error): the run looks for one all share
        self.failed_checks: list[dict] = []  # {notebook, cell, error, first}: the gradebook keeps them

    def refused(self, error: str) -> None:
        self.invalid, self.readable = self.invalid + self.readable, []
        self.remarks.append(f"nbgrader could not grade it ({error}): it scores 0")

    def read_outputs(self, autograded: Path, setup: WorkerSetup) -> None:
        """Errors in the executed notebooks that come from the sandbox's limits."""
        memory = f" (the limit is {setup.isolation.memory_mb} MB)" if setup.isolation.memory_mb else ""
        for name in self.readable:
            path = autograded / f"{name}.ipynb"
            if not path.is_file():
                continue
            import nbformat

            executed = nbformat.read(path, as_version=4)
            failures = explain.failed_checks(executed)
            self.remarks += explain.failure_reasons(failures)
            self.failures += [(failure["cell"], failure["first"] or failure["error"]) for failure in failures]
            self.failed_checks += [{"notebook": name, **failure} for failure in failures]
            for index, cell in enumerate(executed.cells):
                where = explain.cell_name(cell, index)
                for output in cell.get("outputs", []):
                    if output.get("output_type") != "error":
                        continue
                    ename, evalue = output.get("ename", ""), str(output.get("evalue", ""))
                    if ename == "MemoryError" or "can't allocate memory" in evalue:
                        self.remarks.append(f"{where} ran out of memory{memory}")
                    elif ename == "BlockingIOError" and "temporarily unavailable" in evalue:
                        self.remarks.append(f"{where} hit the process limit")

    def verdict(self, notes: list[dict]) -> tuple[str, str]:
        kinds = {note["kind"] for note in notes}
        reasons = [note_text(note) for note in notes] + self.remarks
        if "crashed" in kinds:
            status = "crashed"
        elif "timeout" in kinds:
            status = "timeout"
        elif self.invalid and not self.readable:
            status = "invalid"
        elif self.missing and not self.readable:
            status = "missing"
        else:
            status = "graded"
        if self.readable and (self.invalid or self.missing):
            reasons.insert(0, "some notebooks could not be graded")
        unique = list(dict.fromkeys(" ".join(reason.split()) for reason in reasons))  # one line each
        return status, "; ".join(unique)


def note_text(note: dict) -> str:
    return note["detail"]


def _check_notebooks(setup: WorkerSetup, submitted: Path) -> _Findings:
    """Which of the assignment's notebooks are there and readable; the unreadable ones are removed from the
    private copy, so nbgrader scores them 0 as missing; edited and deleted test cells are remarked."""
    import nbformat

    findings = _Findings()
    expected = {nb["name"]: nb for nb in setup.structure["notebooks"]}
    others = sorted(p.name for p in submitted.glob("*.ipynb") if p.stem not in expected)
    for name, recorded in expected.items():
        path = submitted / f"{name}.ipynb"
        if not path.is_file():
            findings.missing.append(name)
            found = f" (found: {', '.join(others)})" if others else ""
            findings.remarks.append(f"no {name}.ipynb in the submission{found}: it scores 0")
            continue
        try:
            if path.stat().st_size == 0:
                raise ValueError("the file is empty")
            notebook = nbformat.read(path, as_version=4)
            nbformat.validate(notebook)
        except Exception as error:  # noqa: BLE001 - JSON, schema and encoding errors all mean "unreadable"
            findings.invalid.append(name)
            findings.remarks.append(
                f"{name}.ipynb is not a readable notebook ({_first_line(error)}): it scores 0"
            )
            path.unlink()
            continue
        findings.readable.append(name)
        findings.remarks += _test_cell_changes(notebook, recorded)
    return findings


def _first_line(error: Exception) -> str:
    """The message's first line alone, at most 200 characters (the type name only when there is no message):
    the reason already says the notebook is unreadable, so, unlike the toolkit's ``Type: message``, no type."""
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]


def _test_cell_changes(notebook, recorded: dict) -> list[str]:
    """Test cells deleted or edited by the student (nbgrader scores the first 0 and restores the second)."""
    solutions = set(recorded["solution_cells"])
    sources = {cell["name"]: cell for cell in recorded["source_cells"]}
    tests = [
        c["name"] for c in recorded["grade_cells"] if c["name"] not in solutions and c["cell_type"] == "code"
    ]
    submitted = {
        cell.metadata.get("nbgrader", {}).get("grade_id"): cell
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("grade_id")
    }
    remarks = []
    for name in tests:
        if name not in submitted:
            remarks.append(f"test cell {name} was deleted: it scores 0")
        elif name in sources and _normalised(submitted[name].source) != _normalised(sources[name]["source"]):
            remarks.append(f"test cell {name} was edited: nbgrader ran the original")
    return remarks
