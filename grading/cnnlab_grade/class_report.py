"""The class report: what a graded assignment says about the class, as one HTML page and CSVs beside it.

    python -m cnnlab_grade report ASSIGNMENT --out DIR [--db DB] [--submitted DIR] [--threshold 0.5]

It reads the gradebook through nbgrader's tables and the kit's own (SQLite and PostgreSQL alike) and writes:

- ``report.html``: one page that opens from disk, with no network (its plots are inline SVG);
- ``students.csv``: per student the status, the total, the grading time and the kit's reason;
- ``distribution.csv``: the totals, counted per bin;
- ``cells.csv``: per graded cell the pass rate (full points), the mean points and the discrimination;
- ``reasons.csv``: the failed checks' messages, numbers turned into ``#``, with the students each one hit;
- ``not_graded.csv``: the submissions that did not run, and why;
- ``copies.csv``: the pairs of submissions whose answers match (copies.py), with their matching passages on the page.

The discrimination of a cell is the upper-lower index: its mean share of points among the 27% of the class with
the highest totals minus the same among the 27% with the lowest (Kelley 1939). Near 0 (or below) a cell does not
tell the strong from the weak. The cell statistics count the submissions whose notebooks ran (RAN); those not
graded are listed apart. Nothing here writes to the gradebook.
"""

from __future__ import annotations

import csv
import html
import re
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from . import copies as cp
from . import gradebook as gb
from .report import RAN, _number, duration, say

TOP_SHARE = 0.27  # the groups of the discrimination index
# A number as a message writes it: a sign, thousands separators, decimals, an exponent, a K/M/G suffix
_NUMBER = re.compile(r"[-+−]?\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?(?:[kKMG](?![A-Za-z]))?")


@dataclass
class StudentResult:
    student: str
    status: str  # the kit's status (run.py); "graded" for a submission nbgrader graded without the kit
    reason: str
    seconds: float | None
    score: float | None  # the total after the late penalty, as nbgrader exports it; None without grades
    max_score: float
    cells: dict[tuple[str, str], float | None] = field(default_factory=dict)  # None: a manual grade pending
    failures: list[dict] = field(default_factory=list)


@dataclass
class CellStats:
    notebook: str
    cell: str
    max_score: float
    counted: int  # submissions whose notebooks ran and whose cell has a score
    passed: int  # with full points
    mean_points: float | None
    discrimination: float | None

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.counted if self.counted else None


@dataclass
class Reason:
    message: str  # numbers as '#'
    cells: list[str]
    students: list[str]


# --- reading the gradebook ---------------------------------------------------------------------------------------


def read_class(gradebook, assignment: str) -> tuple[list[tuple[str, str, float]], list[StudentResult]]:
    """The assignment's graded cells (notebook, cell, max points) and every student's results, in a few queries."""
    from nbgrader.api import Assignment, BaseCell, Grade, SubmittedAssignment, SubmittedNotebook
    from nbgrader.api import Notebook as NotebookRecord
    from sqlalchemy import select

    from .errors import GraderError

    structure = gb.assignment_structure(gradebook, assignment)
    if structure is None:
        raise GraderError(f"the assignment {assignment} is not in the gradebook: nothing to report")
    cells = [
        (notebook["name"], cell["name"], float(cell["max_score"] or 0.0))
        for notebook in structure["notebooks"]
        for cell in sorted(notebook["grade_cells"] + notebook["task_cells"], key=lambda c: c["name"])
    ]
    maximum = {(nb, name): points for nb, name, points in cells}
    query = (
        select(
            SubmittedAssignment.student_id,
            NotebookRecord.name,
            BaseCell.name,
            Grade.score,
            Grade.needs_manual_grade,
            Grade.manual_score,
        )
        .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
        .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
        .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
        .join(NotebookRecord, SubmittedNotebook.notebook_id == NotebookRecord.id)
        .join(BaseCell, Grade.cell_id == BaseCell.id)
        .where(Assignment.name == assignment)
    )
    grades: dict[str, dict] = defaultdict(dict)
    for student, notebook, cell, score, needs_manual, manual in gradebook.db.execute(query):
        grades[student][(notebook, cell)] = None if needs_manual and manual is None else float(score or 0.0)
    penalties_query = (
        select(SubmittedAssignment.student_id, SubmittedNotebook.late_submission_penalty)
        .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
        .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
        .where(Assignment.name == assignment)
    )
    penalties: dict[str, float] = defaultdict(float)
    for student, penalty in gradebook.db.execute(penalties_query):
        penalties[student] += float(penalty or 0.0)
    gradebook.db.commit()  # end the read: SQLite would otherwise hold its lock
    records = {student: record for (_, student), record in gb.read_records(gradebook, assignment).items()}
    total_max = sum(maximum.values())
    results = []
    for student in sorted(set(grades) | set(records)):
        # A submission nbgrader graded without the kit (plain ``nbgrader autograde``) ran, but has no record
        record = records.get(student) or {
            "status": "graded",
            "reason": "graded without the kit: no time or reasons",
        }
        scored = grades.get(student)
        total = None
        if scored is not None:
            # nbgrader's total counts a pending manual grade as 0, and so does this (export's score)
            total = max(0.0, sum(v or 0.0 for v in scored.values()) - penalties[student])
        results.append(
            StudentResult(
                student=student,
                status=record["status"],
                reason=record["reason"],
                seconds=record.get("seconds"),
                score=total,
                max_score=total_max,
                cells=scored or {},
                failures=record.get("failures", []),
            )
        )
    return cells, results


# --- the statistics ----------------------------------------------------------------------------------------------


def ran(results: list[StudentResult]) -> list[StudentResult]:
    """The submissions whose notebooks ran and that hold grades: those the cell statistics count."""
    return [r for r in results if r.status in RAN and r.score is not None]


def extremes(results: list[StudentResult], share: float = TOP_SHARE):
    """(top, bottom): the ``share`` of ``results`` with the highest and the lowest totals (ties by student id)."""
    ordered = sorted(results, key=lambda r: (-(r.score or 0.0), r.student))
    size = max(1, round(share * len(ordered))) if ordered else 0
    return ordered[:size], ordered[len(ordered) - size :]


def cell_stats(cells: list[tuple[str, str, float]], results: list[StudentResult]) -> list[CellStats]:
    counted = ran(results)
    top, bottom = extremes(counted)
    stats = []
    for notebook, cell, points in cells:
        key = (notebook, cell)
        scores = [r.cells[key] for r in counted if r.cells.get(key) is not None]
        mean = statistics.fmean(scores) if scores else None
        passed = sum(1 for score in scores if points > 0 and score >= points)

        def share(group, key=key, points=points):
            values = [r.cells[key] / points for r in group if r.cells.get(key) is not None]
            return statistics.fmean(values) if values else None

        high, low = (share(top), share(bottom)) if points > 0 and len(counted) >= 2 else (None, None)
        discrimination = high - low if high is not None and low is not None else None
        stats.append(CellStats(notebook, cell, points, len(scores), passed, mean, discrimination))
    return stats


def normalised(message: str) -> str:
    """A message with its numbers as '#': 'expected 11,642, got 11,618 (-24)' and 'expected 11,642, got 42,362
    (+30.7K)' are one."""
    return _NUMBER.sub("#", " ".join(message.split()))


def reasons(results: list[StudentResult]) -> list[Reason]:
    """The failed checks grouped by their normalised message (and the earlier error they followed), most
    frequent first; each with the cells it was seen in and the students it hit."""
    groups: dict[str, Reason] = {}
    for result in results:
        for failure in result.failures:
            message = failure["error"]
            if failure["first"]:
                message += f" (after an earlier error: {failure['first']})"
            key = normalised(message)
            group = groups.setdefault(key, Reason(key, [], []))
            if failure["cell"] not in group.cells:
                group.cells.append(failure["cell"])
            if result.student not in group.students:
                group.students.append(result.student)
    return sorted(groups.values(), key=lambda g: (-len(g.students), g.message))


def bins(results: list[StudentResult], max_score: float) -> list[tuple[float, float, int]]:
    """(from, to, students) over the totals: one bin per point up to 40 points, else 20 equal bins; the last
    bin holds the maximum."""
    count = max(1, int(max_score)) if max_score <= 40 else 20
    width = max_score / count if max_score > 0 else 1.0
    tally = [0] * count
    for result in results:
        if result.score is not None:
            tally[min(count - 1, int(result.score / width))] += 1
    return [(i * width, (i + 1) * width, tally[i]) for i in range(count)]


# --- the copies --------------------------------------------------------------------------------------------------


def released_cells(release_folder: Path, structure_notebooks: list[str], source_cells: dict) -> dict:
    """{notebook: cells the students were handed}: the released notebook where it is there, and the gradebook's
    copy of the student version's nbgrader cells in any case."""
    released = {}
    for name in structure_notebooks:
        cells = [
            cp.Cell(f"{name}:{cell['name']}", cell["cell_type"], cell["source"] or "")
            for cell in source_cells.get(name, [])
        ]
        path = release_folder / f"{name}.ipynb"
        if path.is_file():
            cells += cp.notebook_cells(path, name)
        released[name] = cells
    return released


def find_class_copies(
    submitted: Path, assignment: str, released: dict, threshold: float, students: list[str] | None = None
) -> tuple[list[cp.Pair], int]:
    """The pairs above ``threshold`` among the submissions in ``submitted`` (nbgrader's layout), and how many
    submissions were compared."""
    from .course import find_submissions

    fingerprints = []
    for submission in find_submissions(submitted, assignment):
        if students is not None and submission.student not in students:
            continue
        answers = cp.answer_cells(submission.folder, released)
        fingerprints.append(cp.fingerprint(submission.student, answers))
    starter = cp.starter_hashes([cell for cells in released.values() for cell in cells])
    return cp.find_copies(fingerprints, starter, threshold), len(fingerprints)


# --- the page and the CSVs ---------------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def _svg_bars(values: list[tuple[str, float]], unit: str, width: int = 640, height: int = 180) -> str:
    """A bar chart as inline SVG: one bar per (label, value)."""
    if not values:
        return "<p>(nothing to plot)</p>"
    top = max(v for _, v in values) or 1.0
    slot = (width - 40) / len(values)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" role="img" '
        f'aria-label="{html.escape(unit)}">'
    ]
    for i, (label, value) in enumerate(values):
        bar = (height - 20) * value / top
        x = 30 + i * slot
        parts.append(
            f'<rect x="{x:.1f}" y="{height - bar:.1f}" width="{max(1.0, slot - 2):.1f}" height="{bar:.1f}" '
            f'fill="#4a7ab5"><title>{html.escape(label)}: {_number(value)} {html.escape(unit)}</title></rect>'
        )
        if value:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{height - bar - 4:.1f}" font-size="11" '
                f'text-anchor="middle">{_number(value)}</text>'
            )
        if len(values) <= 25 or i % max(1, len(values) // 10) == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{height + 14}" font-size="10" '
                f'text-anchor="middle">{html.escape(label)}</text>'
            )
    parts.append(f'<line x1="28" y1="{height}" x2="{width - 8}" y2="{height}" stroke="#333"/>')
    parts.append(
        f'<text x="{width / 2:.0f}" y="{height + 34}" font-size="11" text-anchor="middle">'
        f"{html.escape(unit)}</text></svg>"
    )
    return "".join(parts)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 80em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
pre { margin: 0; white-space: pre-wrap; font-size: 0.85em; }
.passages td { width: 50%; background: #fff8e0; }
.note { color: #555; }
"""


def _table(table_id: str, headers: list[str], rows: list[list[tuple[str, str | None]]]) -> str:
    """A table whose cells are (shown text, raw value or None): a number's raw value rides in data-value."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for text, raw in row:
            if raw is None:
                cells.append(f"<td>{text}</td>")
            else:
                cells.append(f'<td class="number" data-value="{html.escape(raw)}">{html.escape(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _raw(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def render(
    assignment: str,
    results: list[StudentResult],
    stats: list[CellStats],
    grouped: list[Reason],
    pairs: list[cp.Pair] | None,
    compared: int,
    threshold: float,
) -> str:
    max_score = results[0].max_score if results else 0.0
    scored = [r for r in results if r.score is not None]
    not_graded = [r for r in results if r.status not in RAN]
    totals = [r.score for r in scored]
    times = [r.seconds for r in results if r.seconds is not None and r.status in RAN]
    one_notebook = len({s.notebook for s in stats}) <= 1
    name = (lambda s: s.cell) if one_notebook else (lambda s: f"{s.notebook}:{s.cell}")
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Class report: {html.escape(assignment)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Class report: {html.escape(assignment)}</h1>",
        f'<p id="summary">{len(results)} submissions in the gradebook; <span id="ran-count">{len(ran(results))}'
        f'</span> ran, <span id="not-graded-count">{len(not_graded)}</span> not graded. Mean total '
        f'<span id="mean-score">{_fmt(statistics.fmean(totals) if totals else None)}</span> of '
        f'<span id="max-score">{_number(max_score)}</span>, median '
        f'<span id="median-score">{_fmt(statistics.median(totals) if totals else None)}</span>.</p>',
        "<h2>Score distribution</h2>",
        '<p class="note">Every submission with grades, those not graded included (nbgrader scores them 0).</p>',
        _svg_bars(
            [(f"{_number(low)}", float(count)) for low, _, count in bins(scored, max_score)],
            "points: students",
        ),
        "<h2>Graded cells</h2>",
        f'<p class="note">Over the {len(ran(results))} submissions that ran; a manual grade not given yet is not '
        "counted. Pass: full points. Discrimination: the mean share of points of the top 27% of totals minus "
        "that of the bottom 27%; near 0 or below, the cell does not tell strong from weak.</p>",
        _table(
            "cells",
            ["cell", "points", "counted", "pass rate", "mean points", "discrimination"],
            [
                [
                    (html.escape(name(s)), None),
                    (_number(s.max_score), _raw(s.max_score)),
                    (str(s.counted), str(s.counted)),
                    (_percent(s.pass_rate), _raw(s.pass_rate)),
                    (_fmt(s.mean_points), _raw(s.mean_points)),
                    (_fmt(s.discrimination), _raw(s.discrimination)),
                ]
                for s in stats
            ],
        ),
        "<h2>Why checks failed</h2>",
        '<p class="note">Each failed check\'s message, numbers as #, most frequent first.</p>',
        _table(
            "reasons",
            ["message", "students", "cells", "who"],
            [
                [
                    (f"<code>{html.escape(g.message)}</code>", None),
                    (str(len(g.students)), str(len(g.students))),
                    (html.escape(", ".join(g.cells)), None),
                    (html.escape(", ".join(g.students)), None),
                ]
                for g in grouped
            ],
        ),
        "<h2>Not graded</h2>",
        _table(
            "not-graded",
            ["student", "status", "why"],
            [
                [(html.escape(r.student), None), (html.escape(r.status), None), (html.escape(r.reason), None)]
                for r in not_graded
            ],
        )
        if not_graded
        else "<p>Every submission ran.</p>",
        "<h2>Grading time</h2>",
    ]
    if times:
        out.append(
            f'<p id="times">Per submission that ran: median {duration(statistics.median(times))}, '
            f"slowest {duration(max(times))}, all together {duration(sum(times))} (students.csv lists each).</p>"
        )
        out.append(
            _svg_bars([(f"#{i + 1}", t) for i, t in enumerate(sorted(times))], "seconds per submission")
        )
    else:
        out.append("<p>The gradebook records no grading time.</p>")
    out.append("<h2>Copies</h2>")
    if pairs is None:
        out.append("<p>Not looked for: no submissions folder was given or found.</p>")
    else:
        out.append(
            f'<p class="note">{compared} submissions compared pair by pair on their answer cells (code and written '
            f"answers), the released notebook left out; listed when the passages they share cover at least "
            f"{_percent(threshold)} of the smaller one's answers. A match is a reason to look, not a verdict.</p>"
        )
        out.append(
            _table(
                "copies",
                ["student", "student", "similarity", "shared fingerprints"],
                [
                    [
                        (html.escape(p.student_a), None),
                        (html.escape(p.student_b), None),
                        (_percent(p.similarity), _raw(p.similarity)),
                        (str(p.shared), str(p.shared)),
                    ]
                    for p in pairs
                ],
            )
            if pairs
            else "<p>No pair above the threshold.</p>"
        )
        for pair in pairs:
            out.append(
                f'<h3 class="pair">{html.escape(pair.student_a)} and {html.escape(pair.student_b)}: '
                f"{_percent(pair.similarity)}</h3>"
            )
            rows = "".join(
                f"<tr><td><b>{html.escape(p.cell_a)}</b> lines {p.lines_a[0]}–{p.lines_a[1]}"
                f"<pre>{html.escape(p.text_a)}</pre></td><td><b>{html.escape(p.cell_b)}</b> lines "
                f"{p.lines_b[0]}–{p.lines_b[1]}<pre>{html.escape(p.text_b)}</pre></td></tr>"
                for p in pair.passages
            )
            out.append(
                f'<table class="passages"><thead><tr><th>{html.escape(pair.student_a)}</th>'
                f"<th>{html.escape(pair.student_b)}</th></tr></thead><tbody>{rows}</tbody></table>"
            )
    out.append("</body></html>")
    return "\n".join(out)


def _write_csv(path: Path, headers: list[str], rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        writer.writerows(rows)


def _csv_number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def write_report(
    out: Path,
    assignment: str,
    cells,
    results: list[StudentResult],
    pairs: list[cp.Pair] | None,
    compared: int,
    threshold: float,
) -> Path:
    """The page and its CSVs in ``out``; the page's path."""
    out.mkdir(parents=True, exist_ok=True)
    stats = cell_stats(cells, results)
    grouped = reasons(results)
    max_score = results[0].max_score if results else 0.0
    _write_csv(
        out / "students.csv",
        ["student_id", "status", "score", "max_score", "seconds", "reason"],
        [
            [
                r.student,
                r.status,
                _csv_number(r.score),
                _number(r.max_score),
                _csv_number(r.seconds),
                r.reason,
            ]
            for r in results
        ],
    )
    _write_csv(
        out / "distribution.csv",
        ["score_from", "score_to", "students"],
        [[f"{low:g}", f"{high:g}", count] for low, high, count in bins(results, max_score)],
    )
    _write_csv(
        out / "cells.csv",
        ["notebook", "cell", "max_score", "counted", "passed", "pass_rate", "mean_points", "discrimination"],
        [
            [
                s.notebook,
                s.cell,
                _number(s.max_score),
                s.counted,
                s.passed,
                _csv_number(s.pass_rate),
                _csv_number(s.mean_points),
                _csv_number(s.discrimination),
            ]
            for s in stats
        ],
    )
    _write_csv(
        out / "reasons.csv",
        ["message", "count", "cells", "students"],
        [[g.message, len(g.students), " ".join(g.cells), " ".join(g.students)] for g in grouped],
    )
    _write_csv(
        out / "not_graded.csv",
        ["student_id", "status", "reason"],
        [[r.student, r.status, r.reason] for r in results if r.status not in RAN],
    )
    if pairs is not None:
        _write_csv(
            out / "copies.csv",
            ["student_a", "student_b", "similarity", "shared", "share_a", "share_b", "cells_a", "cells_b"],
            [
                [
                    p.student_a,
                    p.student_b,
                    f"{p.similarity:.3f}",
                    p.shared,
                    f"{p.share_a:.3f}",
                    f"{p.share_b:.3f}",
                    " ".join(dict.fromkeys(x.cell_a for x in p.passages)),
                    " ".join(dict.fromkeys(x.cell_b for x in p.passages)),
                ]
                for p in pairs
            ],
        )
    page = out / "report.html"
    page.write_text(render(assignment, results, stats, grouped, pairs, compared, threshold), encoding="utf-8")
    return page


# --- the command -------------------------------------------------------------------------------------------------


def report_command(options) -> int:
    from .course import load_course, with_tools_on_path

    started = time.monotonic()
    with_tools_on_path()
    course = load_course()
    url = options.db_url or course.db_url
    with gb.opened(url, course.course_id, must_exist=True) as gradebook:
        cells, results = read_class(gradebook, options.assignment)
        structure = gb.assignment_structure(gradebook, options.assignment)
        gradebook.db.commit()
    if not results:
        say(f"the gradebook {url} holds no submission of {options.assignment}: grade it first")
    submitted = options.submitted or course.root / course.submitted_directory
    pairs, compared = None, 0
    if submitted.is_dir():
        sources = {notebook["name"]: list(notebook["source_cells"]) for notebook in structure["notebooks"]}
        released = released_cells(
            course.root / course.release_directory / options.assignment,
            [notebook["name"] for notebook in structure["notebooks"]],
            sources,
        )
        pairs, compared = find_class_copies(submitted, options.assignment, released, options.threshold)
    elif options.submitted:
        from .errors import GraderError

        raise GraderError(f"expected a folder of submissions at {submitted}, found none")
    page = write_report(options.out, options.assignment, cells, results, pairs, compared, options.threshold)
    found = (
        "no copies looked for" if pairs is None else f"{len(pairs)} pairs above {_percent(options.threshold)}"
    )
    say(
        f"{options.assignment}: {len(results)} submissions, {len(ran(results))} ran; {found}; report written to "
        f"{page} in {duration(time.monotonic() - started)}"
    )
    return 0
