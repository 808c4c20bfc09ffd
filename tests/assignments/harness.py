"""An assignment's checked cells, run in this process as nbgrader's autograde runs them, to see which graded cells
pass: for the one-mistake cases of every assignment (each unit's ``mistakes.toml``) and for its alternative answers.

Only the cells before the notebook's first explorer run: every graded check of the build comes before it, and the
explorer, the training runs and the discussion come after. Of those, the cells that only show something (a
table, a picture) are skipped, unless a later solution or check uses a name they define (or ``every_cell`` is
set). As in autograde, solutions are filled in, hidden tests run, and a cell that raises does not stop the cells
after it. The cells run with the notebook's folder on ``sys.path``, as Jupyter's working directory has it (07
imports its own modules).

Two shortcuts keep a run to seconds. New conv and linear layers skip drawing their initial weights (AlexNet's 62
million take a second each), where every check of a build is about shapes, counts and messages, never about the
values of untrained weights; ``draw_weights=True`` draws them, for the notebooks whose checks compute with a
block's weights (06's and 08's identity and sum-of-paths checks would read uninitialised memory, often NaN). And a
run with one cell changed starts from the unchanged run's names as they were before that cell, since the cells
before it do the same as in that run.

A unit says how its cells run, and lists its mistakes, in ``tests/assignments/<id>/mistakes.toml``
(docs/authoring.md shows an entry): its ``[cells]`` are CheckedCells' options, each ``[[mistake]]`` a Mistake.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import nbformat
import torch
from course import HIDDEN_REGION, SOLUTION_REGION, nbgrader_meta, notebooks_of
from torch import nn

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest brings tomli
    import tomli as tomllib

UNITS = Path(__file__).resolve().parent
_INITIALISED = (nn.Linear, nn.modules.conv._ConvNd)
# The course data is only ever an argument of a training run, which no checked cell starts.
_NO_DATA = ("data = load_course_data()", "data = None")


@dataclass(frozen=True)
class Mistake:
    """One usual mistake: ``text`` (once in the solution of ``cell``) replaced by ``replacement`` makes exactly the
    graded cells ``fails`` fail, each with a failure message that holds its ``words``."""

    name: str  # the test's id: what the student did
    cell: str  # the grade id of the solution cell the mistake is made in
    text: str
    replacement: str
    fails: frozenset[str]
    words: Mapping[str, tuple[str, ...]]  # {check: words its message must hold}; a check may have none

    @classmethod
    def from_entry(cls, entry: dict) -> Mistake:
        """A ``[[mistake]]`` of a unit's mistakes.toml, whose ``words`` give one word or a list per check."""
        entry = dict(entry)
        words = {
            check: (w,) if isinstance(w, str) else tuple(w) for check, w in entry.pop("words", {}).items()
        }
        mistake = cls(**entry | {"fails": frozenset(entry["fails"])}, words=words)
        unknown = set(words) - mistake.fails
        assert not unknown, f"{mistake.name}: words for {sorted(unknown)}, which the mistake does not fail"
        return mistake


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


@contextlib.contextmanager
def _importable(folder: Path):
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))


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
class CheckedCells:
    """The code cells of ``assignment``'s notebook before its explorer, solutions filled in, hidden tests included.

    ``draw_weights``: new layers draw their initial weights, as in the notebook (for checks that compute with
    untrained weights). ``on_meta_device``: graded cells that only count parameters and MACs, run on the meta device
    (the same numbers, without allocating a whole network's weights). ``left_out``: text that marks an ungraded
    cell to leave out, one that only shows something and costs seconds (08's comparison). ``stand_ins``: {text:
    source} that an ungraded cell holding the text runs in its place, to make what the cell would have made without
    its cost (07's measurements). ``every_cell``: the cells that only show something run too (04: a test reads what
    they print).
    """

    assignment: str
    draw_weights: bool = False
    on_meta_device: frozenset[str] = frozenset()
    left_out: tuple[str, ...] = ()
    stand_ins: dict[str, str] = field(default_factory=dict)
    every_cell: bool = False
    notebook: Path = field(init=False)
    cells: list[tuple[str | None, bool, str]] = field(init=False)  # (grade id, graded, source)
    printed: str = field(init=False, default="")  # what the unchanged run printed
    _baseline: dict | None = field(init=False, default=None)
    _snapshots: list[dict] = field(init=False, default_factory=list)

    def __post_init__(self):
        # as a unit's mistakes.toml gives them: lists
        self.on_meta_device, self.left_out = frozenset(self.on_meta_device), tuple(self.left_out)
        (self.notebook,) = notebooks_of(self.assignment)
        self.cells = []
        for cell in nbformat.read(self.notebook, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            if cell.source.lstrip().startswith(("explore(", "explorer = explore(")):
                break
            meta = nbgrader_meta(cell)
            source = _unmarked(cell.source).replace(*_NO_DATA)
            if not meta.get("grade_id"):
                if any(marker in source for marker in self.left_out):
                    continue
                source = next((new for marker, new in self.stand_ins.items() if marker in source), source)
            self.cells.append((meta.get("grade_id"), bool(meta.get("grade")), source))
        if not self.every_cell:
            self.cells = _needed(self.cells)

    @property
    def graded(self) -> list[str]:
        return [grade_id for grade_id, graded, _ in self.cells if graded]

    def source(self, grade_id: str) -> str:
        sources = [source for cell_id, _, source in self.cells if cell_id == grade_id]
        assert sources, f"{self.assignment} has no cell {grade_id!r} before its explorer"
        return sources[0]

    def run(self, answers: dict[str, str] | None = None) -> dict[str, str | None]:
        """Runs the cells, with ``answers`` ({grade id: source}) in place of those solution cells.

        Returns {graded cell id: None when it passed, else its error: the exception's type and message}.
        """
        answers = answers or {}
        ids = [cell_id for cell_id, _, _ in self.cells]
        unknown = set(answers) - set(ids)
        assert not unknown, f"{self.assignment} has no cells {sorted(unknown)} before its explorer"
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
        printed = io.StringIO()
        weights = contextlib.nullcontext() if self.draw_weights else _uninitialised_layers()
        with contextlib.redirect_stdout(printed), weights, _importable(self.notebook.parent):
            for cell_id, graded, source in self.cells[first:]:
                if keep_snapshots:
                    self._snapshots.append(dict(namespace))
                source = answers.get(cell_id, source)
                device = torch.device("meta") if cell_id in self.on_meta_device else contextlib.nullcontext()
                try:
                    with device:
                        exec(compile(source, f"{self.assignment}:{cell_id}", "exec"), namespace)
                except Exception as error:  # noqa: BLE001 - a failing cell is what the tests look for
                    if graded:
                        results[cell_id] = f"{type(error).__name__}: {error}"
                else:
                    if graded:
                        results[cell_id] = None
        if keep_snapshots:
            self.printed = printed.getvalue()
        return results

    def failing(self, answers: dict[str, str] | None = None) -> dict[str, str]:
        """{graded cell id: its error} of the graded cells that fail."""
        return {cell_id: error for cell_id, error in self.run(answers).items() if error is not None}

    def with_mistake(self, mistake: Mistake) -> dict[str, str]:
        """{graded cell id: its error} of the graded cells that fail with ``mistake`` made."""
        source = self.source(mistake.cell)
        assert source.count(mistake.text) == 1, (
            f"{self.assignment}:{mistake.cell} should hold {mistake.text!r} once"
        )
        return self.failing({mistake.cell: source.replace(mistake.text, mistake.replacement)})


@dataclass(frozen=True)
class Unit:
    """An assignment's unit of tests, as its ``mistakes.toml`` describes it."""

    assignment: str
    cells: CheckedCells  # how its checked cells run: the toml's [cells]
    mistakes: list[Mistake]  # its [[mistake]] entries
    slow: bool  # its runs take seconds each: the tests that run them are in the slow tier
    fails_with: tuple[str, ...]  # what a failing check's message starts with (the exception's type)


@cache
def unit(assignment: str) -> Unit:
    data = tomllib.loads((UNITS / assignment / "mistakes.toml").read_text())
    return Unit(
        assignment,
        cells=CheckedCells(assignment, **data.get("cells", {})),
        mistakes=[Mistake.from_entry(entry) for entry in data.get("mistake", [])],
        slow=data["slow"],
        fails_with=tuple(data["fails_with"]),
    )


_ANSWER_LINE = re.compile(r"^# %% (\w+)$", re.M)


def alternative_answers(assignment: str) -> dict[str, str]:
    """{grade id: answer} from the unit's alternative.py, whose ``# %% <grade id>`` lines start each answer."""
    text = (UNITS / assignment / "alternative.py").read_text()
    parts = _ANSWER_LINE.split(text)
    return {grade_id: source.strip() + "\n" for grade_id, source in zip(parts[1::2], parts[2::2])}
