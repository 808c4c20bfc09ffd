"""Grading a class: plain sequential ``nbgrader autograde`` against the kit at ``--workers 2``, same submissions.

    .venv/bin/python bench/grade_throughput.py [--students 12] [--workers 2] [--full]

Builds a throwaway course (tests/course.py) holding the same class twice: ``--students`` submissions of
00_foundations, the course's cheapest notebook, cycling through four students who get different grades
(a perfect solution, a valid alternative, a wrong stride, a missing bias: grading/tests/submissions/). The first
copy is graded by ``nbgrader autograde`` as the README documents it, the second by ``python -m
cnnlab_grade --workers N`` (sandboxed when bubblewrap works). Prints both times, their ratio, and whether
every student got the same score in every graded cell; ends with one line of key=value pairs.

By default the notebooks are those the test suite grades: without the notebook's ungraded demonstrations
(a timing, the explorer, a 12-epoch training run). ``--full`` keeps them: each notebook then trains a
network for most of its run, and the comparison measures torch's threads more than the grader.
Target on a 2-core machine: a ratio ≥ 1.8.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "grading" / "tests")]

import grading_submissions as subs  # noqa: E402  (test folders hold helpers, not packages)
from course import Course, nbgrader_environment  # noqa: E402

STUDENTS = ["perfect", "alternative", "wrong_stride", "missing_bias"]


def build_class(course: Course, students: int, full: bool) -> None:
    """``students`` submissions, cycling through STUDENTS; ``full`` keeps the ungraded demonstrations."""
    subs.build(course, STUDENTS, demonstrations=full)
    for index in range(students):
        shutil.copytree(
            course.submitted / STUDENTS[index % len(STUDENTS)], course.submitted / f"student{index:03d}"
        )
    for name in STUDENTS:
        shutil.rmtree(course.submitted / name)


def scores(db: Path) -> dict[tuple[str, str], float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gradebook:
        return {
            (submission.student.id, grade.name): grade.score
            for submission in gradebook.find_assignment(subs.ASSIGNMENT).submissions
            for notebook in submission.notebooks
            for grade in notebook.grades
        }


def timed(command: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=nbgrader_environment(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"grade_throughput: {' '.join(command[:4])} failed:\n{result.stderr[-3000:]}")
    return seconds, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="keep the notebook's ungraded training run")
    args = parser.parse_args()

    load = os.getloadavg()[0]  # other work on the machine skews both timings: say how much there was
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as scratch:
        sequential = Course(Path(scratch) / "sequential")
        sequential.generate(subs.ASSIGNMENT)
        build_class(sequential, args.students, args.full)
        shutil.copytree(sequential.root, Path(scratch) / "kit")
        kit = Course(Path(scratch) / "kit")  # rewrites its config for its own root

        nbgrader_s, _ = timed(
            [sys.executable, "-m", "nbgrader", "autograde", subs.ASSIGNMENT], sequential.root
        )
        kit_s, result = timed(
            [sys.executable, "-m", "cnnlab_grade", subs.ASSIGNMENT, "autograde/submitted"]
            + ["--workers", str(args.workers)],
            kit.root,
        )
        sandbox = "bubblewrap" if "sandbox: bubblewrap" in result.stderr else "none"
        expected, got = scores(sequential.root / "gradebook.db"), scores(kit.root / "gradebook.db")
        identical = expected == got and len(got) > 0

    variant = "full" if args.full else "graded-cells-only"
    ratio = nbgrader_s / kit_s
    print(
        f"{args.students} submissions of {subs.ASSIGNMENT} ({variant}), on {_cores()} cores, load {load:.2f} before"
    )
    print(f"sequential nbgrader autograde:        {nbgrader_s:7.1f} s")
    print(f"python -m cnnlab_grade --workers {args.workers}: {kit_s:7.1f} s   (sandbox: {sandbox})")
    print(
        f"speed-up {ratio:.2f}x; scores identical, cell by cell: {'yes' if identical else 'NO'} ({len(got)} cells)"
    )
    print(
        f"students={args.students} assignment={subs.ASSIGNMENT} variant={variant} workers={args.workers} "
        f"sequential_s={nbgrader_s:.1f} kit_s={kit_s:.1f} ratio={ratio:.2f} identical={str(identical).lower()} "
        f"load_before={load:.2f} sandbox={sandbox}"
    )
    return 0 if identical else 1


def _cores() -> int:
    from cnnlab_grade.options import usable_cores

    return usable_cores()


if __name__ == "__main__":
    raise SystemExit(main())
