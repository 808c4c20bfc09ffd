"""What the instructor sees: a progress bar with an ETA, a summary, and the CSV of grades."""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

RAN = ("graded", "timeout", "crashed")  # statuses of a submission whose notebooks ran


def say(message: str) -> None:
    print(f"cnnlab_grade: {message}", file=sys.stderr, flush=True)


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 90:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """A bar over the submissions to grade, with an ETA, and a tally of their statuses."""

    def __init__(self, total: int):
        self.statuses: Counter[str] = Counter()
        self.failures: list[
            set[tuple[str, str]]
        ] = []  # per submission whose notebooks ran: (check, first error)
        self.seconds = 0.0
        # In a log file (a batch job), one line every half minute rather than a redraw every few seconds
        every = 0.5 if sys.stderr.isatty() else 30
        self._bar = tqdm(
            total=total,
            unit="submission",
            file=sys.stderr,
            dynamic_ncols=True,
            smoothing=0.1,
            mininterval=every,
        )

    def done(self, student: str, status: str, seconds: float, failures=None) -> None:
        self.statuses[status] += 1
        if status in RAN:
            self.failures.append({tuple(failure) for failure in failures or ()})
        self.seconds += seconds
        self._bar.set_postfix_str(f"{student}: {status}", refresh=False)
        self._bar.update(1)
        if status != "graded":
            self._bar.write(f"  {student}: {status}", file=sys.stderr)

    def close(self) -> None:
        self._bar.close()

    def shared_failure(self) -> tuple[int, str, str] | None:
        """(how many, check, first error) when two or more submissions ran and every one failed that check
        after that same first error: almost always a broken course, not a class that made one mistake."""
        if len(self.failures) < 2:
            return None
        common = set.intersection(*self.failures)
        if not common:
            return None
        check, first = sorted(common)[0]
        return len(self.failures), check, first


def summary(progress: Progress, kept: int, elapsed: float, workers: int) -> str:
    graded = sum(progress.statuses.values())
    tally = ", ".join(f"{count} {status}" for status, count in sorted(progress.statuses.items()))
    text = f"graded {graded} submission{'s' if graded != 1 else ''} in {duration(elapsed)}"
    if graded:
        text += f" ({tally}; {duration(progress.seconds / graded)} each on one of {workers} workers)"
    if kept:
        text += f"; {kept} already graded and unchanged, kept"
    return text


def write_csv(path: Path, rows: list[dict], cells: list[tuple[str, str]]) -> None:
    """One row per student: id, status, total, maximum, late penalty, each graded cell, reason.

    A written answer not graded by hand yet is empty, not 0.
    """
    one_notebook = len({nb for nb, _ in cells}) <= 1
    headers = [cell if one_notebook else f"{nb}:{cell}" for nb, cell in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["student_id", "status", "score", "max_score", "late_submission_penalty", *headers, "reason"]
        )
        for row in rows:
            scores = row.get("scores")
            if scores is None:
                writer.writerow(
                    [row["student"], row["status"], "", "", "", *[""] * len(cells), row["reason"]]
                )
                continue
            values = []
            for key in cells:
                cell = scores["cells"].get(key)
                values.append("" if cell is None or cell["pending"] else _number(cell["score"]))
            writer.writerow(
                [
                    row["student"],
                    row["status"],
                    _number(scores["score"]),
                    _number(scores["max_score"]),
                    _number(scores["late_submission_penalty"]),
                    *values,
                    row["reason"],
                ]
            )


def _number(value) -> str:
    value = float(value or 0.0)
    return str(int(value)) if value == int(value) else f"{value:g}"
