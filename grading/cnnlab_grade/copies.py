"""Copies found: every pair of a class's submissions compared on their answers, as MOSS compares programs.

Each submission's answers (its solution cells, code and written, and any cell the student added) become a stream
of normalised tokens: for code, comments and layout dropped, every name the student could rename turned into
``V`` (attributes and builtins kept, since a rename leaves ``nn.Conv2d`` and ``range`` alone), every string
into ``S``; for written answers, the lowercase words. Overlapping runs of ``K`` tokens are hashed and *winnowed*
(Schleimer, Wilkerson and Aiken 2003: the smallest hash of every ``WINDOW`` consecutive ones is kept), so that
any shared passage of at least ``K + WINDOW - 1`` tokens leaves a shared fingerprint, wherever it sits: renamed
variables and reordered cells change nothing.

Fingerprints that the students were handed (the released notebooks: starter code, given code, the questions)
do not count, nor do those that more than ``common`` submissions share: a passage most of the class wrote
alike (a one-line formula, the course's own idiom) says nothing about who copied from whom (MOSS's ``-m``).
A pair is listed when the fingerprints it shares cover at least ``threshold`` of the smaller submission's,
and number at least ``MIN_SHARED``. It reports; it changes no grade.
"""

from __future__ import annotations

import io
import json
import keyword
import re
import tokenize
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

K = 12  # tokens per hashed run: shorter runs match between independent answers
WINDOW = 6  # a shared passage of K + WINDOW - 1 = 17 tokens or more is always found
MIN_SHARED = 10  # fingerprints: fewer is a coincidence whatever the share
DEFAULT_THRESHOLD = 0.5
COMMON_SHARE = (
    0.1  # a fingerprint in more than this share of the class (and more than 3 submissions) is common
)
_BUILTINS = frozenset(dir(__import__("builtins")))
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_FALLBACK_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d+)?|\S")


@dataclass(frozen=True)
class Cell:
    """One answer cell of one submission: where it is, what kind, its text."""

    name: str  # notebook:grade id, or notebook:cell N for a cell the student added
    kind: str  # "code" or "markdown"
    source: str


@dataclass
class Fingerprints:
    """A submission's winnowed fingerprints: hash -> where it comes from, as (cell index, first line, last line)."""

    student: str
    cells: list[Cell]
    places: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Passage:
    """A matching passage of a pair: lines of one cell of each (1-based, inclusive)."""

    cell_a: str
    lines_a: tuple[int, int]
    text_a: str
    cell_b: str
    lines_b: tuple[int, int]
    text_b: str


@dataclass(frozen=True)
class Pair:
    student_a: str
    student_b: str
    shared: int  # fingerprints both hold, after the starter's and the common ones are left out
    share_a: float  # of a's fingerprints, the share b holds too
    share_b: float
    passages: tuple[Passage, ...]

    @property
    def similarity(self) -> float:
        return max(self.share_a, self.share_b)


# --- tokens ------------------------------------------------------------------------------------------------------


def code_tokens(source: str) -> list[tuple[str, int]]:
    """(normalised token, line) of Python code; source that does not tokenize is split by a simpler pattern."""
    # IPython's magics and shell escapes are not Python: as comments they drop out like comments
    text = "\n".join("#" + line if line.lstrip()[:1] in ("%", "!") else line for line in source.splitlines())
    tokens: list[tuple[str, int]] = []
    previous = ""
    try:
        for token in tokenize.generate_tokens(io.StringIO(text + "\n").readline):
            kind, value, line = token.type, token.string, token.start[0]
            if kind == tokenize.NAME:
                kept = keyword.iskeyword(value) or value in _BUILTINS or previous == "."
                tokens.append((value if kept else "V", line))
            elif kind == tokenize.STRING or kind == getattr(tokenize, "FSTRING_START", -1):
                tokens.append(("S", line))
            elif kind in (tokenize.NUMBER, tokenize.OP):
                tokens.append((value, line))
            previous = value if kind == tokenize.OP else ""
    except (tokenize.TokenError, IndentationError, SyntaxError):
        tokens = []
        for number, line_text in enumerate(text.splitlines(), start=1):
            line_text = line_text.split("#", 1)[0]
            for match in _FALLBACK_TOKEN.finditer(line_text):
                value = match.group()
                named = value[0].isalpha() or value[0] == "_"
                kept = not named or keyword.iskeyword(value) or value in _BUILTINS
                tokens.append((value if kept else "V", number))
    return tokens


def text_tokens(source: str) -> list[tuple[str, int]]:
    """(lowercase word, line) of a written answer."""
    return [
        (match.group().lower(), number)
        for number, line in enumerate(source.splitlines(), start=1)
        for match in _WORD.finditer(line)
    ]


def tokens_of(cell: Cell) -> list[tuple[str, int]]:
    # A prefix keeps a written answer's words from ever matching code
    if cell.kind == "code":
        return code_tokens(cell.source)
    return [("w:" + word, line) for word, line in text_tokens(cell.source)]


def winnow(tokens: list[tuple[str, int]], k: int = K, window: int = WINDOW) -> list[tuple[int, int, int]]:
    """The winnowed fingerprints of a token stream: (hash, first line, last line) of the runs chosen."""
    if len(tokens) < k:
        return []
    # Tokens as CRC-32s, runs as tuples of ints: Python hashes those alike in every process (a string's hash is
    # salted per process), so a report is the same each time it is made
    words = [zlib.crc32(token.encode("utf-8")) for token, _ in tokens]
    hashes = [hash(tuple(words[i : i + k])) for i in range(len(words) - k + 1)]
    chosen: dict[int, tuple[int, int, int]] = {}
    for start in range(max(1, len(hashes) - window + 1)):
        span = hashes[start : start + window]
        low = min(span)
        position = start + max(i for i, value in enumerate(span) if value == low)  # the rightmost minimum
        chosen[position] = (low, tokens[position][1], tokens[position + k - 1][1])
    return [chosen[position] for position in sorted(chosen)]


def fingerprint(student: str, cells: list[Cell]) -> Fingerprints:
    found = Fingerprints(student, cells)
    for index, cell in enumerate(cells):
        for value, first, last in winnow(tokens_of(cell)):
            found.places.setdefault(value, []).append((index, first, last))
    return found


def starter_hashes(cells: list[Cell]) -> set[int]:
    """What the students were handed: every fingerprint of the released notebooks, each cell taken alone."""
    return {value for cell in cells for value, _, _ in winnow(tokens_of(cell))}


# --- the notebooks -----------------------------------------------------------------------------------------------


def _nbgrader(cell) -> dict:
    """A cell's nbgrader metadata, {} where a hand-edited notebook holds something else."""
    meta = cell.get("metadata")
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    return meta if isinstance(meta, dict) else {}


def _read_cells(path: Path) -> list[dict]:
    """A notebook's cells, each source as one string. Plain JSON, not nbformat: a class of hundreds is read in a
    second rather than in many (nothing is validated; what does not parse has no answers)."""
    cells = [cell for cell in json.loads(path.read_text(encoding="utf-8"))["cells"] if isinstance(cell, dict)]
    for cell in cells:
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return cells


def notebook_cells(path: Path, notebook_name: str) -> list[Cell]:
    """Every code and markdown cell of a notebook, named by grade id or position."""
    cells = []
    for index, cell in enumerate(_read_cells(path)):
        if cell.get("cell_type") not in ("code", "markdown"):
            continue
        name = _nbgrader(cell).get("grade_id") or f"cell {index + 1}"
        cells.append(Cell(f"{notebook_name}:{name}", cell["cell_type"], cell.get("source", "")))
    return cells


def answer_cells(folder: Path, released: dict[str, list[Cell]]) -> list[Cell]:
    """A submission's answers: its solution cells, and every cell not in the released notebook (added by the
    student); the test cells and the given cells, as released, are the course's. An unreadable notebook has none."""
    answers = []
    for notebook_name, given in released.items():
        try:
            cells = _read_cells(folder / f"{notebook_name}.ipynb")
        except Exception:  # noqa: BLE001 - missing, empty or broken: the grader already said why
            continue
        given_sources = {cell.source.strip() for cell in given}
        for index, cell in enumerate(cells):
            if cell.get("cell_type") not in ("code", "markdown"):
                continue
            meta = _nbgrader(cell)
            source = cell.get("source", "")
            if not isinstance(source, str):  # not a notebook nbformat would read: nothing to compare
                continue
            is_answer = meta.get("solution") or (
                not meta.get("grade") and source.strip() not in given_sources
            )
            if is_answer and source.strip():
                name = meta.get("grade_id") or f"cell {index + 1}"
                answers.append(Cell(f"{notebook_name}:{name}", cell["cell_type"], source))
    return answers


# --- the pairs ---------------------------------------------------------------------------------------------------


def common_limit(students: int, share: float = COMMON_SHARE) -> int:
    """How many submissions may hold a fingerprint before it counts as common."""
    return max(3, int(share * students))


def find_copies(
    submissions: list[Fingerprints],
    starter: set[int],
    threshold: float = DEFAULT_THRESHOLD,
    common: int | None = None,
) -> list[Pair]:
    """The pairs whose shared fingerprints cover ``threshold`` of the smaller one's, most similar first."""
    common = common_limit(len(submissions)) if common is None else common
    holders: dict[int, list[int]] = defaultdict(list)
    for index, submission in enumerate(submissions):
        for value in submission.places:
            if value not in starter:
                holders[value].append(index)
    counted = {value: who for value, who in holders.items() if len(who) <= common}
    sizes = [0] * len(submissions)
    shared: dict[tuple[int, int], list[int]] = defaultdict(list)
    for value, who in counted.items():
        for index in who:
            sizes[index] += 1
        for pair in combinations(who, 2):
            shared[pair].append(value)
    pairs = []
    for (a, b), values in shared.items():
        share_a, share_b = len(values) / sizes[a], len(values) / sizes[b]
        if len(values) >= MIN_SHARED and max(share_a, share_b) >= threshold:
            first, second = submissions[a], submissions[b]
            pairs.append(
                Pair(
                    first.student,
                    second.student,
                    len(values),
                    share_a,
                    share_b,
                    tuple(passages(first, second, values)),
                )
            )
    return sorted(pairs, key=lambda pair: (-pair.similarity, pair.student_a, pair.student_b))


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or adjacent line spans joined."""
    merged: list[list[int]] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return [(first, last) for first, last in merged]


def _lines(cell: Cell, span: tuple[int, int]) -> str:
    return "\n".join(cell.source.splitlines()[span[0] - 1 : span[1]])


def passages(first: Fingerprints, second: Fingerprints, values: list[int]) -> list[Passage]:
    """The shared fingerprints as passages side by side: per pair of cells, the lines they cover in each."""
    spans: dict[tuple[int, int], tuple[list, list]] = defaultdict(lambda: ([], []))
    for value in values:
        for cell_a, *lines_a in first.places[value]:
            for cell_b, *lines_b in second.places[value]:
                spans[(cell_a, cell_b)][0].append(tuple(lines_a))
                spans[(cell_a, cell_b)][1].append(tuple(lines_b))
    found = []
    for (cell_a, cell_b), (lines_a, lines_b) in sorted(spans.items(), key=lambda item: -len(item[1][0])):
        a, b = first.cells[cell_a], second.cells[cell_b]
        for span_a, span_b in _paired_runs(lines_a, lines_b):
            found.append(Passage(a.name, span_a, _lines(a, span_a), b.name, span_b, _lines(b, span_b)))
    return found


def _paired_runs(lines_a: list, lines_b: list) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The runs of matched lines in two cells, paired run for run where each run of one matches one run of the
    other; else (the lines come in another order) each cell's whole matched extent."""
    runs_a, runs_b = _merged(lines_a), _merged(lines_b)

    def run_of(runs, span):
        return next(i for i, (first, last) in enumerate(runs) if first <= span[0] and span[1] <= last)

    partner: dict[int, set[int]] = defaultdict(set)
    for span_a, span_b in zip(lines_a, lines_b):
        partner[run_of(runs_a, span_a)].add(run_of(runs_b, span_b))
    one_to_one = all(len(b) == 1 for b in partner.values()) and len(partner) == len(runs_b) == len(runs_a)
    if one_to_one:
        return [(runs_a[i], runs_b[next(iter(partner[i]))]) for i in range(len(runs_a))]
    whole_a = (runs_a[0][0], runs_a[-1][1])
    whole_b = (runs_b[0][0], runs_b[-1][1])
    return [(whole_a, whole_b)]
