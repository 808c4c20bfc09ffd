"""Helpers that drive nbgrader on a throwaway copy of the course, for the notebook tests.

A throwaway course has its own root, release folder, submissions and gradebook, and reads the
solutions and the per-cell timeout from the real course's nbgrader_config.py.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
LECTURES = ROOT / "lectures"

sys.path.insert(0, str(ROOT / "tools"))
from release import nbgrader_environment  # noqa: E402  (tools/ is a folder of scripts, not a package)

SOLUTION_REGION = re.compile(
    r"^[ \t]*### BEGIN SOLUTION[^\n]*\n(.*?)^[ \t]*### END SOLUTION[^\n]*\n?", re.M | re.S
)
HIDDEN_REGION = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS[^\n]*\n(.*?)^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S
)
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN MARK SCHEME")


def reference_nets():
    """Notebook 07's reference nets (solutions/07_complexity/reference_nets.py), imported as the notebook imports
    them: from their folder, so every test that uses them shares one module."""
    folder = str(SOLUTIONS / "07_complexity")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module("reference_nets")


def assignment_ids() -> list[str]:
    return sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and not p.name.startswith("."))


def notebooks_of(assignment: str, folder: Path = SOLUTIONS) -> list[Path]:
    return sorted((folder / assignment).glob("*.ipynb"))


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


@dataclass
class Course:
    """A throwaway nbgrader course rooted at ``root``."""

    root: Path
    # how nbgrader is run: a subclass may quieten it, give it less time, or run it in its own environment
    nbgrader_flags: ClassVar[tuple[str, ...]] = ()
    nbgrader_timeout_s: ClassVar[float] = 1800

    def nbgrader_env(self) -> dict[str, str]:
        return nbgrader_environment()

    def __post_init__(self):
        self.root.mkdir(parents=True, exist_ok=True)
        config = f"""
c = get_config()
load_subconfig({str(ROOT / "nbgrader_config.py")!r})
c.CourseDirectory.root = {str(self.root)!r}
c.CourseDirectory.source_directory = {str(SOLUTIONS)!r}
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.db_url = "sqlite:///{self.root / "gradebook.db"}"
"""
        (self.root / "nbgrader_config.py").write_text(config)

    @property
    def release(self) -> Path:
        return self.root / "release"

    @property
    def submitted(self) -> Path:
        return self.root / "autograde" / "submitted"

    @property
    def autograded(self) -> Path:
        return self.root / "autograde" / "autograded"

    def nbgrader(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args, *self.nbgrader_flags],
            cwd=self.root,
            env=self.nbgrader_env(),
            capture_output=True,
            text=True,
            timeout=timeout or self.nbgrader_timeout_s,
        )
        if result.returncode != 0:
            raise AssertionError(f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def generate(self, assignment: str) -> Path:
        self.nbgrader("generate_assignment", assignment, "--force")
        return self.release / assignment

    def submit(self, student: str, assignment: str, notebooks: dict[str, nbformat.NotebookNode]) -> None:
        folder = self.submitted / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        for name, nb in notebooks.items():
            nbformat.write(nb, folder / name)

    def autograde(self, assignment: str) -> None:
        self.nbgrader("autograde", assignment, "--force")

    def grades(self, assignment: str, student: str) -> dict[str, tuple[float | None, float, bool]]:
        """{grade cell id: (score, max score, needs manual grading)}."""
        return gradebook_grades(self.root / "gradebook.db", assignment, student)


def gradebook_grades(db: Path, assignment: str, student: str) -> dict[str, tuple[float | None, float, bool]]:
    """{grade cell id: (score, max score, needs manual grading)} of one submission, as a SQLite gradebook holds them."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gradebook:
        submission = gradebook.find_submission(assignment, student)
        return {
            grade.name: (grade.score, grade.max_score, grade.needs_manual_grade)
            for notebook in submission.notebooks
            for grade in notebook.grades
        }


def perfect_submission(release_nb: Path, source_nb: Path) -> nbformat.NotebookNode:
    """The student version with every solution cell filled in as the solution has it."""
    student = nbformat.read(release_nb, as_version=4)
    source = {nbgrader_meta(c).get("grade_id"): c for c in nbformat.read(source_nb, as_version=4).cells}
    for cell in student.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution") and cell.cell_type == "code":
            answer = source[meta["grade_id"]].source
            cell.source = SOLUTION_REGION.sub(lambda m: m.group(1), answer)
        elif meta.get("solution"):
            cell.source = source[meta["grade_id"]].source
    return student


# An ungraded cell that trains: a demonstration, such as 00_foundations' TinyNet run. The solution's autograde runs
# each of them once; the blank version's need not run them again.
DEMONSTRATION = re.compile(r"\bfit\(")


def blank_submission(release_nb: Path) -> nbformat.NotebookNode:
    """The untouched student version, without its ungraded training demonstrations (cells without nbgrader
    metadata that call ``fit(``). Its grades are 0 either way; without them the blank autograde does not train a
    second time what the perfect one already trained (each notebook's demonstrations run once per test run)."""
    blank = nbformat.read(release_nb, as_version=4)
    blank.cells = [
        cell
        for cell in blank.cells
        if cell.cell_type != "code" or nbgrader_meta(cell) or not DEMONSTRATION.search(cell.source)
    ]
    return blank


def error_outputs(nb_path: Path) -> list[str]:
    """Every error a notebook's cells raised, with the cell that raised it."""
    nb = json.loads(nb_path.read_text())
    errors = []
    for index, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                head = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                errors.append(f"cell {index} ({head[:80]!r}): {output['ename']}: {output['evalue']}")
    return errors


def comparable_cells(nb_path: Path) -> list[tuple]:
    """What the student sees of each cell, for comparing a regenerated notebook with the committed one."""
    nb = nbformat.read(nb_path, as_version=4)
    return [(c.cell_type, c.source, json.dumps(nbgrader_meta(c), sort_keys=True)) for c in nb.cells]


def solution_code(notebook: str, *grade_ids: str) -> dict:
    """The namespace left by running a solution notebook's first code cell (its imports) and the cells named
    by ``grade_ids``, in notebook order, with the solutions filled in."""
    cells = [c for c in nbformat.read(SOLUTIONS / notebook, as_version=4).cells if c.cell_type == "code"]
    wanted = [cells[0]] + [c for c in cells if nbgrader_meta(c).get("grade_id") in grade_ids]
    missing = set(grade_ids) - {nbgrader_meta(c).get("grade_id") for c in wanted}
    assert not missing, f"{notebook} has no cells with grade ids {sorted(missing)}"
    namespace: dict = {}
    for cell in wanted:
        exec(compile(SOLUTION_REGION.sub(lambda m: m.group(1), cell.source), notebook, "exec"), namespace)
    return namespace


def explorer_cell(notebook: str) -> str:
    """The source of the notebook's explorer: its first code cell that starts with ``explore(``."""
    cells = nbformat.read(SOLUTIONS / notebook, as_version=4).cells
    return next(c.source for c in cells if c.cell_type == "code" and c.source.lstrip().startswith("explore("))
