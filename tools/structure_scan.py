"""The structural scan of a student bundle: does any code it delivers hold a graded answer not yet due, even
written another way (variables renamed, code reformatted)?

    .venv/bin/python tools/structure_scan.py dist/cnn-architectures-through-05_googlenet --through 05_googlenet

It compares code by structure, as MOSS and copydetect do (Schleimer, Wilkerson and Aiken, "Winnowing: local
algorithms for document fingerprinting", SIGMOD 2003):

1. **Normalised tokens.** Python's own tokenizer; comments and line breaks inside brackets dropped (formatting);
   every number one token ``N`` and every string one token ``S`` (literals); every name one token ``V``
   (identifiers), except the names nobody renames: keywords, Python's builtins, ``self``, the names of ``torch``,
   ``torch.nn`` and ``torch.nn.functional``, and keyword arguments in a call (``padding=``, ``bias=``); an
   attribute of ``self`` is always the author's own (``self.relu`` is ``self.V``).
2. **k-grams and winnowing.** Every run of ``K`` tokens is hashed; in each window of ``W`` hashes the smallest is
   kept. Any common run of at least ``K + W - 1`` tokens (a statement or two) leaves a common fingerprint, whatever
   the names and the layout.
3. **What counts.** A release through X delivers notebooks/<id>/ for the ids up to X, and the toolkit's wheel. Each
   code file and each code cell in it is compared with every graded answer (the ``### BEGIN SOLUTION`` regions of
   one cell of solutions/<id>/*.ipynb) of X and of every later assignment. From an answer's fingerprints, those of
   the answers due by then (every other assignment up to X: 08's Bottleneck extends 06's) and of its own
   assignment's starter code (the student version in lectures/) are removed first. What is left is what the
   student must still write. A file *holds* an answer when it has at least ``THRESHOLD`` of those fingerprints
   and at least ``MIN_SHARED`` of them.

Why these numbers (measured on this course on 2026-12-07; tests/test_bundle.py keeps both sides true): in the
per-release bundles of the course's own tree (00 to 08), the most any delivered code holds of an answer not yet due
is 14% (3 fingerprints: a cell of 00 against 01's LeNet class), 11% (4 fingerprints: 07's reference nets against
08's bottleneck, whose rest is 06's), or 2 fingerprints of a small answer (29% of 08's mlpconv). The whole-course
archive taken as the release of 05 holds, in 07's ``reference_nets.py``, 92% of 06's ResNet builder, 54% of its
bottleneck, 51% of its basic block, 40% of 05's naive Inception module, 36% (12 fingerprints) of 05's GoogLeNet
class and 26% (7) of its Inception module; an answer pasted with its names renamed and its code reformatted holds
more than 80% of itself. ``THRESHOLD`` = 20% sits between the clean maximum (14%) and the smallest of those leaks
(26%), and ``MIN_SHARED`` = 5 between the clean maximum count (4) and the smallest leak's (6): it keeps an answer
of a few tokens (``nn.MaxPool2d(2)``), or two common fingerprints, from matching ordinary code. A short answer is
the line scan's job (tests/test_bundle.py scans every line of the bundle for every answer line).
"""

from __future__ import annotations

import argparse
import builtins
import functools
import hashlib
import io
import keyword
import re
import sys
import tokenize
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

K = 12  # tokens in a k-gram: about one statement (`self.V = nn.Conv2d(V, V, N)` is 13)
W = 8  # hashes in a window: every common run of K + W - 1 = 19 tokens is found
THRESHOLD = 0.20  # the share of an answer's own fingerprints a delivered file may not hold
MIN_SHARED = 5  # ... and the fewest of them that count as holding it

SOLUTION_REGION = re.compile(
    r"^[ \t]*### BEGIN SOLUTION[^\n]*\n(.*?)^[ \t]*### END SOLUTION[^\n]*\n?", re.M | re.S
)
ASSIGNMENT_ID = re.compile(r"\d\d_\w+")


def _api_names() -> frozenset[str]:
    """The names a renaming leaves alone: Python's, and torch's that the course's code calls."""
    import torch

    names = set(dir(builtins)) | set(keyword.kwlist) | set(keyword.softkwlist)
    names |= set(dir(torch)) | set(dir(torch.nn)) | set(dir(torch.nn.functional))
    return frozenset(names | {"self", "torch", "nn", "F"})


_API: frozenset[str] | None = None


def normalised_tokens(source: str) -> list[tuple[str, int]]:
    """(token, line) of ``source``: names, literals and layout normalised as the module docstring says."""
    global _API
    if _API is None:
        _API = _api_names()
    # IPython's magics and shell lines are not Python
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    raw = []
    try:
        for token in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
            raw.append(token)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # a stub or a half-written cell: its tokens up to the error still count
    tokens: list[tuple[str, int]] = []
    brackets: list[str] = []  # "def" for a signature's parentheses, "call" for any other bracket
    for index, token in enumerate(raw):
        kind, text, line = token.type, token.string, token.start[0]
        following = raw[index + 1].string if index + 1 < len(raw) else ""
        if kind == tokenize.NAME:
            keyword_argument = brackets and brackets[-1] == "call" and following == "="
            # `self.relu` is the student's own name, even where torch has one like it
            own_attribute = index >= 2 and raw[index - 1].string == "." and raw[index - 2].string == "self"
            kept = (text in _API and not own_attribute) or keyword_argument
            tokens.append((text if kept else "V", line))
        elif kind == tokenize.NUMBER:
            tokens.append(("N", line))
        elif kind == tokenize.STRING or tokenize.tok_name.get(kind) == "FSTRING_START":
            tokens.append(("S", line))
        elif kind == tokenize.OP:
            if text in "([{":
                signature = text == "(" and len(tokens) >= 2 and tokens[-2][0] == "def"
                brackets.append("def" if signature else "call")
            elif text in ")]}":
                if brackets:
                    brackets.pop()
                if tokens and tokens[-1][0] == ",":
                    tokens.pop()  # a trailing comma is layout (a formatter adds or drops it)
            tokens.append((";" if text == ";" else text, line))
        elif kind == tokenize.NEWLINE:
            tokens.append((";", line))
        elif kind == tokenize.INDENT:
            tokens.append(("{", line))
        elif kind == tokenize.DEDENT:
            tokens.append(("}", line))
        # comments, line breaks inside brackets, the parts of an f-string after its start: layout, not structure
    return tokens


@functools.cache
def fingerprints(source: str) -> dict[int, list[int]]:
    """{winnowed k-gram hash: the source lines of its k-gram's first token}. Kept per source: the releases of one
    build deliver the same files and cells again (read it, never change it)."""
    tokens = normalised_tokens(source)
    hashes = [
        int.from_bytes(
            hashlib.blake2b(" ".join(t for t, _ in tokens[i : i + K]).encode(), digest_size=8).digest(), "big"
        )
        for i in range(len(tokens) - K + 1)
    ]
    chosen: dict[int, list[int]] = {}
    for start in range(max(len(hashes) - W + 1, 1 if hashes else 0)):
        window = hashes[start : start + W]
        smallest = min(window)
        # the rightmost smallest, as winnowing says: a window that shares it with the last one selects nothing new
        position = start + max(i for i, h in enumerate(window) if h == smallest)
        lines = chosen.setdefault(smallest, [])
        if tokens[position][1] not in lines:
            lines.append(tokens[position][1])
    return chosen


@dataclass
class Answer:
    """One graded answer: the solution regions of one cell."""

    assignment: str
    label: str  # "06_resnet/resnet.ipynb bottleneck_block"
    prints: set[int]


@dataclass
class Finding:
    delivered: str  # "notebooks/07_complexity/reference_nets.py", or "... cell 12"
    answer: str
    share: float  # of the answer's own fingerprints
    shared: int
    lines: list[int] = field(default_factory=list)  # where the delivered code holds them

    def __str__(self) -> str:
        where = ", ".join(str(line) for line in self.lines[:6]) + (" ..." if len(self.lines) > 6 else "")
        return (
            f"{self.delivered} holds {self.share:.0%} of the graded answer {self.answer} "
            f"({self.shared} fingerprints, lines {where})"
        )


def _code_cells(notebook_json: str):
    import nbformat

    for index, cell in enumerate(nbformat.reads(notebook_json, as_version=4).cells):
        if cell.cell_type == "code":
            yield index, cell


@functools.cache
def graded_answers(solutions: Path = ROOT / "solutions") -> list[Answer]:
    """Every autograded answer cell of solutions/<id>/*.ipynb, with its winnowed fingerprints (read once: every
    release of one build scans against the same answers)."""
    answers = []
    for notebook in sorted(solutions.glob("*/*.ipynb")):
        for _, cell in _code_cells(notebook.read_text()):
            regions = SOLUTION_REGION.findall(cell.source)
            if regions:
                grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", cell.get("id"))
                label = f"{notebook.parent.name}/{notebook.name} {grade_id}"
                answers.append(Answer(notebook.parent.name, label, set(fingerprints("\n".join(regions)))))
    return answers


@functools.cache
def starter_code(lectures: Path = ROOT / "lectures") -> dict[str, set[int]]:
    """{assignment: the fingerprints of its student version's code}: the given code an answer is written into."""
    given: dict[str, set[int]] = {}
    for notebook in sorted(lectures.glob("*/*.ipynb")):
        prints = given.setdefault(notebook.parent.name, set())
        for _, cell in _code_cells(notebook.read_text()):
            prints |= set(fingerprints(cell.source))
    return given


def delivered_code(bundle: Path):
    """(label, source) of every code file and code cell in ``bundle``, the wheels' modules included."""
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        label = str(path.relative_to(bundle))
        if path.suffix == ".py":
            yield label, path.read_text()
        elif path.suffix == ".ipynb":
            for index, cell in _code_cells(path.read_text()):
                yield f"{label} cell {index}", cell.source
        elif path.suffix == ".whl":
            with zipfile.ZipFile(path) as wheel:
                for member in wheel.namelist():
                    if member.endswith(".py"):
                        yield f"{label}!{member}", wheel.read(member).decode()


def assignments_in(bundle: Path) -> list[str]:
    return sorted(p.name for p in (bundle / "notebooks").iterdir() if ASSIGNMENT_ID.fullmatch(p.name))


def scan(
    bundle: Path, through: str, answers: list[Answer] | None = None, given: dict[str, set[int]] | None = None
) -> list[Finding]:
    """What in ``bundle``, taken as the release through ``through``, holds a graded answer not yet due."""
    answers = graded_answers() if answers is None else answers
    given = starter_code() if given is None else given
    owed = []  # (answer, what of it the student must still write)
    for answer in (answer for answer in answers if answer.assignment >= through):
        # the answers due by then, and the starter code the answer is written into, less what in that starter
        # code answers an assignment not due yet (08's starter code holds 06's blocks)
        due, pending = set(), set()
        for other in answers:
            if other.assignment <= through and other.assignment != answer.assignment:
                due |= other.prints
            elif through < other.assignment < answer.assignment:
                pending |= other.prints
        own = answer.prints - due - (given.get(answer.assignment, set()) - pending)
        if len(own) >= MIN_SHARED:
            owed.append((answer, own))
    findings = []
    for label, source in delivered_code(bundle):
        prints = fingerprints(source)
        for answer, own in owed:
            shared = own & prints.keys()
            share = len(shared) / len(own)
            if share >= THRESHOLD and len(shared) >= MIN_SHARED:
                lines = sorted({line for h in shared for line in prints[h]})
                findings.append(Finding(label, answer.label, share, len(shared), lines))
    return sorted(findings, key=lambda finding: -finding.share)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, help="a bundle's folder (tools/bundle.py writes it under dist/)")
    parser.add_argument(
        "--through", help="the release's last assignment (default: the last one the bundle holds)"
    )
    args = parser.parse_args(argv)
    if not (args.bundle / "notebooks").is_dir():
        parser.error(f"{args.bundle} is not a bundle's folder: it has no notebooks/")
    held = assignments_in(args.bundle)
    through = args.through or held[-1]
    findings = scan(args.bundle, through)
    for finding in findings:
        print(finding)
    verdict = (
        f"fails: {len(findings)} times, delivered code holds a graded answer not yet due"
        if findings
        else "passes: no delivered code holds a graded answer not yet due"
    )
    print(f"{args.bundle.name} as the release through {through} {verdict}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
