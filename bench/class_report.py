"""The class report and the copy finder over a class of hundreds: ``python -m cnnlab_grade report`` timed.

    .venv/bin/python bench/class_report.py [--students 300] [--copies 5]

Builds a throwaway course (tests/course.py) with 00_foundations released, then a generated class:
``--students`` submissions whose answer cells are the course's, alternative.py's or the class report's own
answers (grading/tests/submissions/), each with generated lines of its own (statements with random names and
numbers) and generated written answers (random words), so that every pair of submissions differs as independent
students' do; ``--copies`` of them are handed in again by another student with the names changed and the cells
in another order. The grades are written straight into the gradebook (nbgrader's tables and the kit's, with a
failed check or two per student, a grading time, a few submissions not graded): no notebook is executed.

Times the command as an instructor runs it (one process: nbgrader's configuration, the gradebook, the statistics,
the page and CSVs, every pair compared), and inside it the report's and the copy finder's parts. Checks that the
planted copies, and only they, are found. Target on a 2-core machine: 300 submissions in ≤ 60 s together.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "grading" / "tests")]

import grading_submissions as subs  # noqa: E402  (test folders hold helpers, not packages)
import nbformat  # noqa: E402
from course import SOLUTIONS, Course, nbgrader_environment, perfect_submission  # noqa: E402

BASES = ["alternative", "class_own", "class_renamed", "class_float_size", "class_no_bias", "wrong_stride"]
WRITTEN_CELLS = (
    "recap_framework",
    "recap_gpu",
    "recap_output_volume",
    "discussion_input_size",
    "discussion_stride",
)
WORDS = (
    "filter stride padding channel kernel weight bias layer output input pool map feature shape size memory cost "
    "grows shrinks doubles halves because so the a of each every one two more fewer area side network image "
    "linear conv parameters compute activation batch epoch loss gradient shared position slides over then when"
).split()
FAILURES = [  # (check, message) as the kit records them: numbers differ from student to student
    ("tiny_net_check", "CheckFailed: TinyNet's parameters: expected 11,642, got {n} (-{d})."),
    (
        "conv_params_check",
        "CheckFailed: the lecture's layer: 10 filters of 5×5 over 3 channels: expected 760, got {n}.",
    ),
    ("output_size_check", "CheckFailed: the type of output_size(7, 3, S=2): expected 'int', got 'float'."),
]


def own_lines(rng: random.Random, count: int) -> str:
    """Statements no other student wrote: random names, operators and numbers."""
    lines = []
    for _ in range(count):
        name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 8)))
        terms = [
            str(rng.randint(2, 999)) if rng.random() < 0.6 else rng.choice(("N", "F", "S", "P"))
            for _ in range(4)
        ]
        operators = [rng.choice(("+", "-", "*", "//", "%")) for _ in range(3)]
        expression = terms[0] + "".join(f" {op} {term}" for op, term in zip(operators, terms[1:]))
        lines.append(f"    {name} = {expression}")
    return "\n".join(lines)


def with_own_lines(answer: str, rng: random.Random) -> str:
    """The answer with generated statements after its ``def`` line (or lines, for several functions)."""
    return re.sub(
        r"^(def [^\n]*:\n)",
        lambda m: m.group(1) + own_lines(rng, rng.randint(2, 5)) + "\n",
        answer,
        flags=re.M,
    )


def prose(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def renamed_copy(notebook: nbformat.NotebookNode, rng: random.Random) -> nbformat.NotebookNode:
    """Another student's notebook handed in again: local names changed, the cells of conv_params moved first."""
    copy = nbformat.from_dict(notebook)
    for cell in copy.cells:
        if subs.nbgrader_meta(cell).get("solution") and cell.cell_type == "code":
            names = set(re.findall(r"^    ([a-z]\w*) =", cell.source, flags=re.M))
            for name in names:
                cell.source = re.sub(rf"\b{name}\b", name + "_" + rng.choice(("v", "x", "tmp")), cell.source)
    moved = [
        c for c in copy.cells if subs.nbgrader_meta(c).get("grade_id") in ("conv_params", "conv_params_check")
    ]
    for cell in moved:
        copy.cells.remove(cell)
    copy.cells[1:1] = moved
    return copy


def build_class(course: Course, students: int, copies: int, rng: random.Random) -> set[tuple[str, str]]:
    """Write ``students`` submissions (``copies`` of them copies); the planted pairs."""
    release = course.release / subs.ASSIGNMENT / subs.NOTEBOOK
    template = subs.light(perfect_submission(release, SOLUTIONS / subs.ASSIGNMENT / subs.NOTEBOOK))
    answers = {name: subs.answer_cells((subs.SNIPPETS / f"{name}.py").read_text()) for name in BASES}
    names = [f"student{index:03d}" for index in range(students)]
    notebooks = {}
    for name in names[: students - copies]:
        notebook = nbformat.from_dict(template)
        chosen = {
            grade_id: with_own_lines(text, rng) for grade_id, text in answers[rng.choice(BASES)].items()
        }
        chosen.update({cell: prose(rng, rng.randint(40, 90)) for cell in WRITTEN_CELLS})
        notebooks[name] = subs.with_answers(notebook, chosen)
    planted = set()
    for name, original in zip(names[students - copies :], rng.sample(names[: students - copies], copies)):
        notebooks[name] = renamed_copy(notebooks[original], rng)
        planted.add(tuple(sorted((original, name))))
    for name, notebook in notebooks.items():
        folder = course.submitted / name / subs.ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, folder / subs.NOTEBOOK)
    return planted


def write_grades(course: Course, students: list[str], rng: random.Random) -> None:
    """Each student's grades and the kit's record, as a grading run would leave them (nothing executed)."""
    from datetime import datetime

    from cnnlab_grade import gradebook as gb

    with gb.opened(f"sqlite:///{course.root / 'gradebook.db'}", "default_course") as gradebook:
        structure = gb.assignment_structure(gradebook, subs.ASSIGNMENT)
        cells = {c["name"]: c for nb in structure["notebooks"] for c in nb["grade_cells"]}
        for student in students:
            status = "graded" if rng.random() > 0.03 else rng.choice(("invalid", "missing"))
            failed = rng.sample(FAILURES, rng.choice((0, 0, 1, 2))) if status == "graded" else []
            lost = {check for check, _ in failed}
            grades = {
                name: {
                    "auto_score": None
                    if cell["cell_type"] == "markdown"
                    else (0.0 if name in lost else cell["max_score"]),
                    "manual_score": None,
                    "extra_credit": None,
                    "needs_manual_grade": cell["cell_type"] == "markdown",
                }
                for name, cell in cells.items()
            }
            submission = {
                "assignment": subs.ASSIGNMENT,
                "student": {
                    "id": student,
                    "first_name": None,
                    "last_name": None,
                    "email": None,
                    "lms_user_id": None,
                },
                "timestamp": None,
                "extension": None,
                "notebooks": {
                    "foundations": {
                        "flagged": False,
                        "late_submission_penalty": None,
                        "grades": grades,
                        "comments": {},
                    }
                },
            }
            record = {
                "assignment": subs.ASSIGNMENT,
                "student": student,
                "checksum": "-",
                "fingerprint": "-",
                "status": status,
                "reason": "; ".join(message for _, message in failed)
                if status == "graded"
                else f"{status}: it scores 0",
                "graded_at": datetime.now(),
                "seconds": rng.uniform(5, 15) if status == "graded" else 0.1,
                "failures": [
                    {
                        "notebook": "foundations",
                        "cell": check,
                        "error": message.format(n=rng.randint(9000, 12000), d=rng.randint(1, 99)),
                        "first": "",
                    }
                    for check, message in failed
                ],
            }
            gb.save(gradebook, submission, record)


def phases(course: Course) -> tuple[float, float, int, int]:
    """The report's part and the copy finder's part, timed in this process: (report s, copies s, students, pairs)."""
    from cnnlab_grade import class_report as cr
    from cnnlab_grade import gradebook as gb

    started = time.perf_counter()
    with gb.opened(f"sqlite:///{course.root / 'gradebook.db'}", "default_course") as gradebook:
        cells, results = cr.read_class(gradebook, subs.ASSIGNMENT)
        structure = gb.assignment_structure(gradebook, subs.ASSIGNMENT)
    with tempfile.TemporaryDirectory() as out:
        cr.write_report(Path(out), subs.ASSIGNMENT, cells, results, [], 0, 0.5)
    report_s = time.perf_counter() - started
    started = time.perf_counter()
    released = cr.released_cells(
        course.release / subs.ASSIGNMENT,
        [nb["name"] for nb in structure["notebooks"]],
        {nb["name"]: nb["source_cells"] for nb in structure["notebooks"]},
    )
    pairs, compared = cr.find_class_copies(course.submitted, subs.ASSIGNMENT, released, 0.5)
    return report_s, time.perf_counter() - started, len(results), len(pairs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument(
        "--copies", type=int, default=5, help="students who hand in another's notebook, renamed"
    )
    args = parser.parse_args()
    rng = random.Random(22)
    with tempfile.TemporaryDirectory(prefix="report-bench-") as scratch:
        course = Course(Path(scratch) / "course")
        course.generate(subs.ASSIGNMENT)
        planted = build_class(course, args.students, args.copies, rng)
        write_grades(course, sorted(p.name for p in course.submitted.iterdir()), rng)
        out = Path(scratch) / "report"
        load = os.getloadavg()[0]  # other work on the machine skews the timing: say how much there was
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "cnnlab_grade", "report", subs.ASSIGNMENT, "--out", str(out)],
            cwd=course.root,
            env=nbgrader_environment(),
            capture_output=True,
            text=True,
        )
        command_s = time.perf_counter() - started
        if result.returncode != 0:
            sys.exit(f"class_report: the report command failed:\n{result.stderr[-3000:]}")
        with open(out / "copies.csv", newline="", encoding="utf-8") as handle:
            found = {tuple(sorted((row["student_a"], row["student_b"]))) for row in csv.DictReader(handle)}
        report_s, copies_s, students, pairs = phases(course)
    exact = found == planted
    print(
        f"{students} submissions of {subs.ASSIGNMENT}, {len(planted)} planted copies; load {load:.2f} before"
    )
    print(f"python -m cnnlab_grade report (whole command):  {command_s:6.1f} s")
    print(f"  of which the report (gradebook, statistics, page, CSVs): {report_s:6.1f} s")
    print(f"  of which the copy finder ({students * (students - 1) // 2} pairs):    {copies_s:6.1f} s")
    print(f"pairs found: {len(found)}; the planted ones exactly: {'yes' if exact else 'NO'}")
    print(
        f"students={students} assignment={subs.ASSIGNMENT} command_s={command_s:.1f} report_s={report_s:.1f} "
        f"copies_s={copies_s:.1f} planted={len(planted)} found={len(found)} exact={str(exact).lower()} "
        f"target_s=60 within_target={str(command_s <= 60).lower()} load_before={load:.2f}"
    )
    return 0 if exact and command_s <= 60 else 1


if __name__ == "__main__":
    raise SystemExit(main())
