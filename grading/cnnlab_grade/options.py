"""The command line: what to grade, how, and where the grades go."""

from __future__ import annotations

import argparse
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import GraderError

DEFAULT_TIMEOUT_S = 1800  # a notebook's whole run; one cell still stops at nbgrader's Execute.timeout
DEFAULT_MEMORY_MB = 4096  # a kernel with torch and the course data needs under 1.5 GB


@dataclass(frozen=True)
class Shard:
    """The share ``index`` of ``count`` (1-based) of a class: a student's share depends on their id alone,
    so a student keeps their shard when others are added or removed."""

    index: int
    count: int

    def holds(self, student: str) -> bool:
        digest = hashlib.sha256(student.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class GradeOptions:
    assignment: str
    submitted: Path
    workers: int
    csv: Path | None
    db_url: str | None
    timeout: float
    memory_mb: int
    shard: Shard | None
    feedback: bool
    force: bool
    unsafe: bool


@dataclass(frozen=True)
class ReportOptions:
    assignment: str
    out: Path
    db_url: str | None
    submitted: Path | None
    threshold: float


@dataclass(frozen=True)
class MergeOptions:
    sources: list[str]
    target: str


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line ends in one line, not a usage block."""

    def error(self, message: str):
        raise GraderError(f"{message} (see python -m cnnlab_grade --help)", exit_code=2)


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))  # the cores this process may use, in a container too
    return os.cpu_count() or 1


def db_url(value: str) -> str:
    """A SQLAlchemy URL, or a path to a SQLite file (made absolute, so workers and shards agree)."""
    if "://" in value:
        return value
    return "sqlite:///" + str(Path(value).expanduser().resolve())


def parse_shard(text: str) -> Shard:
    index, slash, count = text.partition("/")
    if not (slash and index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise GraderError(f"--shard expects I/N with 1 ≤ I ≤ N, such as 2/8; got {text!r}", exit_code=2)
    return Shard(int(index), int(count))


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got {text!r}")
    return int(text)


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 0, got {text!r}")
    return int(text)


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return seconds


def grade_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m cnnlab_grade",
        description="Autograde every submission of one assignment with nbgrader: in parallel, each kernel in a "
        "sandbox, resumable, optionally one shard of the class. Run it from the course's root, where "
        "nbgrader_config.py is. 'python -m cnnlab_grade merge --help' joins shard gradebooks; "
        "'python -m cnnlab_grade report --help' reports on a graded class and finds copies.",
    )
    parser.add_argument("assignment", help="the assignment id, e.g. 01_lenet")
    parser.add_argument(
        "submitted",
        type=Path,
        help="nbgrader's layout: SUBMITTED_DIR/<student_id>/<assignment>/<notebook>.ipynb",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=usable_cores(),
        help="submissions graded at once (default: cores)",
    )
    parser.add_argument(
        "--csv", type=Path, help="write one row per student: scores per graded cell and a status"
    )
    parser.add_argument(
        "--db",
        dest="db_url",
        metavar="DB",
        type=db_url,
        help="the gradebook to write (a SQLAlchemy URL or a SQLite file); default: the course's, or "
        "autograde/shard-I-of-N.db with --shard",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT_S,
        help=f"wall-clock limit of one notebook, in seconds (default {DEFAULT_TIMEOUT_S}); one cell also stops "
        "at nbgrader's Execute.timeout",
    )
    parser.add_argument(
        "--memory",
        dest="memory_mb",
        metavar="MEMORY",
        type=_non_negative_int,
        default=DEFAULT_MEMORY_MB,
        help=f"memory limit of one kernel in MB (default {DEFAULT_MEMORY_MB}; 0: no limit)",
    )
    parser.add_argument("--shard", type=parse_shard, help="grade only the share I of N of the students")
    parser.add_argument(
        "--feedback", action="store_true", help="also write nbgrader's HTML feedback per student"
    )
    parser.add_argument(
        "--force", action="store_true", help="regrade submissions already graded and unchanged"
    )
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="grade even where the sandbox cannot work: student code then runs with only resource limits",
    )
    return parser


def merge_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m cnnlab_grade merge",
        description="Join gradebooks (shards) into one: every submission with its grades, comments and status. "
        "Where a student is in several, the most recent grading wins; manual grades are never "
        "replaced by empty ones.",
    )
    parser.add_argument(
        "sources", nargs="+", type=db_url, help="the gradebooks to read (URLs or SQLite files)"
    )
    parser.add_argument("--db", dest="target", type=db_url, required=True, help="the gradebook to write")
    return parser


def _share(text: str) -> float:
    try:
        share = float(text)
    except ValueError:
        share = -1.0
    if not 0 < share <= 1:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, such as 0.5; got {text!r}")
    return share


def report_parser() -> argparse.ArgumentParser:
    from .copies import DEFAULT_THRESHOLD

    parser = _Parser(
        prog="python -m cnnlab_grade report",
        description="Report on a graded assignment: an HTML page (opens from disk) and CSVs with the score "
        "distribution, each graded cell's pass rate, mean and discrimination, the failed checks' messages grouped, "
        "the submissions not graded and why, the grading times, and the pairs of submissions whose answers match. "
        "Run it from the course's root; it changes no grade.",
    )
    parser.add_argument("assignment", help="the assignment id, e.g. 01_lenet")
    parser.add_argument(
        "--out", type=Path, required=True, help="the folder to write report.html and the CSVs to"
    )
    parser.add_argument(
        "--db",
        dest="db_url",
        metavar="DB",
        type=db_url,
        help="the gradebook to read (a SQLAlchemy URL or a SQLite file); default: the course's",
    )
    parser.add_argument(
        "--submitted",
        type=Path,
        help="the submissions to compare for copies, in nbgrader's layout; default: the course's submitted folder",
    )
    parser.add_argument(
        "--threshold",
        type=_share,
        default=DEFAULT_THRESHOLD,
        help=f"list a pair when what it shares covers this share of the smaller one's answers "
        f"(default {DEFAULT_THRESHOLD})",
    )
    return parser


def parse_report_args(argv: list[str]) -> ReportOptions:
    return ReportOptions(**vars(report_parser().parse_args(argv)))


def parse_grade_args(argv: list[str]) -> GradeOptions:
    return GradeOptions(**vars(grade_parser().parse_args(argv)))  # each option's dest is the field's name


def parse_merge_args(argv: list[str]) -> MergeOptions:
    args = merge_parser().parse_args(argv)
    if args.target in args.sources:
        raise GraderError(f"the target gradebook {args.target} is also one of the sources", exit_code=2)
    return MergeOptions(**vars(args))
