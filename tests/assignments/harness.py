"""A solution notebook's cells, run in this process as nbgrader's autograde runs them, to see which graded
cells pass: for the tests of fair grading (one mistake costs one step) and of alternative solutions.

Only the cells before the notebook's explorer run: every graded check of the build comes before it, and the
explorer, the training runs and the discussion come after. Of those, the cells that only show something (a
table, a picture) are skipped, unless a later solution or check uses a name they define. As in autograde, solutions are filled in, hidden
tests run, and a cell that raises does not stop the cells after it.

Two shortcuts keep a run to seconds. New conv and linear layers skip drawing their initial weights (AlexNet's 62
million take a second each), where every check of a build is about shapes, counts and messages, never about the
values of untrained weights; ``draw_weights=True`` draws them, for the notebooks whose checks compute with a
block's weights (06's and 08's identity and sum-of-paths checks would read uninitialised memory, often NaN). And a
run with one cell changed starts from the unchanged run's names as they were before that cell, since the cells
before it do the same as in that run.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from course import HIDDEN_REGION, SOLUTION_REGION, SOLUTIONS, nbgrader_meta
from torch import nn

_INITIALISED = (nn.Linear, nn.modules.conv._ConvNd)


def checked_cells(notebook: str) -> list[tuple[str | None, str, bool]]:
    """(grade id or None, source, is graded) of a solution notebook's code cells up to its first training run,
    explorers left out: what the one-mistake tests run, mutated, in place of autograde."""
    cells = []
    for cell in nbformat.read(SOLUTIONS / notebook, as_version=4).cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade_id", "").endswith("_training_run"):
            break
        if cell.cell_type != "code" or cell.source.lstrip().startswith(("explore(", "explorer = explore(")):
            continue
        cells.append((meta.get("grade_id"), cell.source, bool(meta.get("grade"))))
    return cells


def _left_as_allocated(layer: nn.Module) -> None:
    """In place of reset_parameters: the weights keep whatever torch.empty gave them."""


@contextlib.contextmanager
def _uninitialised_layers():
    saved = {cls: cls.reset_parameters for cls in _INITIALISED}
    try:
        for cls in _INITIALISED:
            cls.reset_parameters = _left_as_allocated
        yield
    finally:
        for cls, reset in saved.items():
            cls.reset_parameters = reset


def _unmarked(source: str) -> str:
    source = SOLUTION_REGION.sub(lambda m: m.group(1), source)
    return HIDDEN_REGION.sub(lambda m: m.group(1), source)


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names a cell defines, names it reads), leaving out the variables of comprehensions."""
    defined, used, local = set(), set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.comprehension):
            local |= {name.id for name in ast.walk(node.target) if isinstance(name, ast.Name)}
        if isinstance(node, ast.Name):
            (defined if isinstance(node.ctx, ast.Store) else used).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return defined - local, used - local


def _needed(cells: list[tuple[str | None, bool, str]]) -> list[tuple[str | None, bool, str]]:
    """The first cell (imports), the solution and check cells, and the cells that define a name one of
    them, or of the cells kept after them, reads."""
    kept, reads = [], set()
    for index in range(len(cells) - 1, -1, -1):
        cell_id, graded, source = cells[index]
        defined, used = _names(source)
        if index == 0 or cell_id is not None or defined & reads:
            kept.append(cells[index])
            reads |= used
    return kept[::-1]


@dataclass
class BuildCells:
    """The code cells of ``notebook`` (a path under solutions/) before its explorer, solutions filled in."""

    notebook: str
    draw_weights: bool = False  # True: new layers draw their initial weights, as in the notebook
    cells: list[tuple[str | None, bool, str]] = field(init=False)  # (grade id, graded, source)
    _baseline: dict | None = field(init=False, default=None)
    _snapshots: list[dict] = field(init=False, default_factory=list)

    def __post_init__(self):
        self.cells = []
        for cell in nbformat.read(SOLUTIONS / self.notebook, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            if cell.source.lstrip().startswith(("explore(", "explorer = explore(")):
                break
            meta = nbgrader_meta(cell)
            self.cells.append((meta.get("grade_id"), bool(meta.get("grade")), _unmarked(cell.source)))
        self.cells = _needed(self.cells)

    @property
    def graded(self) -> list[str]:
        return [grade_id for grade_id, graded, _ in self.cells if graded]

    def source(self, grade_id: str) -> str:
        return next(source for cell_id, _, source in self.cells if cell_id == grade_id)

    def run(self, answers: dict[str, str] | None = None) -> dict[str, str | None]:
        """Runs the cells, with ``answers`` ({grade id: source}) in place of those solution cells.

        Returns {graded cell id: None when it passed, else its error in one line}.
        """
        answers = answers or {}
        ids = [cell_id for cell_id, _, _ in self.cells]
        unknown = set(answers) - set(ids)
        assert not unknown, f"{self.notebook} has no cells {sorted(unknown)} before its explorer"
        if not answers:
            return dict(self._unchanged())
        first = min(ids.index(cell_id) for cell_id in answers)
        baseline = self._unchanged()
        namespace = dict(self._snapshots[first])
        results = {cell_id: baseline[cell_id] for cell_id, graded, _ in self.cells[:first] if graded}
        return results | self._run_from(first, namespace, answers)

    def _unchanged(self) -> dict[str, str | None]:
        if self._baseline is None:
            self._baseline = self._run_all()
        return self._baseline

    def _run_all(self) -> dict[str, str | None]:
        self._snapshots = []
        return self._run_from(0, {"__name__": "__main__"}, {}, keep_snapshots=True)

    def _run_from(self, first: int, namespace: dict, answers: dict, keep_snapshots: bool = False) -> dict:
        results: dict[str, str | None] = {}
        for cell_id, graded, source in self.cells[first:]:
            if keep_snapshots:
                self._snapshots.append(dict(namespace))
            source = answers.get(cell_id, source)
            weights = contextlib.nullcontext() if self.draw_weights else _uninitialised_layers()
            try:
                with contextlib.redirect_stdout(io.StringIO()), weights:
                    exec(compile(source, f"{self.notebook}:{cell_id}", "exec"), namespace)
            except Exception as error:  # noqa: BLE001 - a failing cell is what the tests look for
                if graded:
                    results[cell_id] = f"{type(error).__name__}: {error}".splitlines()[0]
            else:
                if graded:
                    results[cell_id] = None
        return results

    def failing(self, answers: dict[str, str] | None = None) -> dict[str, str]:
        """{graded cell id: its error} of the graded cells that fail."""
        return {cell_id: error for cell_id, error in self.run(answers).items() if error is not None}

    def mutated(self, grade_id: str, old: str, new: str) -> dict[str, str]:
        """The solution of one cell with ``old`` replaced by ``new`` (``old`` must occur exactly once)."""
        source = self.source(grade_id)
        assert source.count(old) == 1, f"{self.notebook}:{grade_id} should hold {old!r} once"
        return {grade_id: source.replace(old, new)}


ALTERNATIVES = Path(__file__).resolve().parent / "alternatives"
_ANSWER_LINE = re.compile(r"^# %% (\w+)$", re.M)


def alternative_answers(assignment: str) -> dict[str, str]:
    """{grade id: answer} from tests/alternatives/<assignment>.py, whose ``# %% <grade id>`` lines start each answer."""
    text = (ALTERNATIVES / f"{assignment}.py").read_text()
    parts = _ANSWER_LINE.split(text)
    return {grade_id: source.strip() + "\n" for grade_id, source in zip(parts[1::2], parts[2::2])}
