"""A class, end to end, on one machine: nbgrader's exchange between real local users, grading with the kit, and
their servers on a real JupyterHub (docs/class.md shows the same commands).

As root it creates an instructor and two students (removed afterwards), a shared venv of Debian's Python, and an
exchange folder; then, with nbgrader's own commands run as each user:
the instructor releases 01_lenet, both students fetch it, one submits a correct solution and the other the untouched
notebook, the instructor collects and grades with ``python -m cnnlab_grade`` (full autograded marks and 0), and
releases the feedback, which each student fetches, their own and nobody else's. Then JupyterHub starts every user's
server through its REST API, and code run in a student's kernel finds the solutions, the gradebook and the other
student's home closed to it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pytest
from class_hub import COURSE_ID, ClassMachine, Hub, SharedEnvironment, missing_requirements
from course import SOLUTIONS, gradebook_grades, perfect_submission

pytestmark = pytest.mark.slow
ASSIGNMENT = "01_lenet"


@pytest.fixture(scope="module")
def classroom():
    reason = missing_requirements()
    if reason:
        pytest.skip(f"no class machine here: {reason}")
    root = Path(tempfile.mkdtemp(prefix="cnnlab-class-", dir="/tmp"))
    root.chmod(0o755)
    machine = hub = None
    try:
        environment = SharedEnvironment(root / "env").create()
        machine = ClassMachine(root, environment).create()
        hub = Hub(machine, root / "hub")
        yield machine, hub
    finally:
        if hub is not None:
            hub.stop()
        if machine is not None:
            machine.close()
        shutil.rmtree(root, ignore_errors=True)


def _autograded(grades: dict) -> tuple[float, float]:
    """(score, maximum) over the autograded cells."""
    auto = [(score or 0, top) for score, top, manual in grades.values() if not manual]
    return sum(score for score, _ in auto), sum(top for _, top in auto)


def test_a_class_releases_submits_grades_and_returns_feedback_over_the_exchange(classroom):
    machine, _ = classroom
    teacher, course = machine.instructor, machine.course
    alice, bob = machine.students["alice"], machine.students["bob"]

    # 1. The instructor releases the assignment into the exchange
    machine.run_as(teacher, "nbgrader", "generate_assignment", ASSIGNMENT, "--force", cwd=course)
    machine.run_as(teacher, "nbgrader", "release_assignment", ASSIGNMENT, cwd=course)

    # 2. Both students fetch it into their homes
    fetched = {}
    for student in (alice, bob):
        machine.run_as(student, "nbgrader", "fetch_assignment", ASSIGNMENT, "--course", COURSE_ID)
        fetched[student] = machine.home(student) / ASSIGNMENT / "lenet.ipynb"
        assert fetched[student].is_file()

    # 3. Alice fills it in correctly; Bob hands it in untouched; both submit
    solved = perfect_submission(fetched[alice], SOLUTIONS / ASSIGNMENT / "lenet.ipynb")
    nbformat.write(solved, fetched[alice])
    subprocess.run(["chown", f"{alice}:{alice}", str(fetched[alice])], check=True)
    for student in (alice, bob):
        machine.run_as(student, "nbgrader", "submit", ASSIGNMENT, "--course", COURSE_ID)

    # 4. The instructor collects, then grades with the kit (sandboxed, as an ordinary user)
    machine.run_as(teacher, "nbgrader", "collect", ASSIGNMENT, cwd=course)
    assert sorted(p.name for p in (course / "autograde" / "submitted").iterdir()) == sorted([alice, bob])
    machine.run_as(
        teacher,
        "python",
        "-m",
        "cnnlab_grade",
        ASSIGNMENT,
        "autograde/submitted",
        "--csv",
        "grades.csv",
        "--feedback",
        cwd=course,
    )

    # 5. Full autograded marks for the correct solution, 0 for the untouched one
    database = course / "autograde" / "gradebook.db"
    alice_score, top = _autograded(gradebook_grades(database, ASSIGNMENT, alice))
    bob_score, _ = _autograded(gradebook_grades(database, ASSIGNMENT, bob))
    assert (alice_score, bob_score) == (top, 0) and top == 12
    rows = (course / "grades.csv").read_text()
    assert alice in rows and bob in rows

    # 6. The feedback goes back: each student fetches their own, and nobody else's
    machine.run_as(teacher, "nbgrader", "release_feedback", ASSIGNMENT, cwd=course)
    for student in (alice, bob):
        machine.run_as(student, "nbgrader", "fetch_feedback", ASSIGNMENT, "--course", COURSE_ID)
    feedback = {
        student: sorted(machine.home(student).glob(f"{ASSIGNMENT}/feedback/*/lenet.html"))
        for student in (alice, bob)
    }
    assert [len(files) for files in feedback.values()] == [1, 1], feedback
    alice_page, bob_page = (files[0].read_text() for files in feedback.values())
    assert alice_page != bob_page
    assert "BEGIN HIDDEN TESTS" not in alice_page + bob_page


def test_each_users_server_starts_and_a_student_cannot_read_what_is_not_theirs(classroom):
    machine, hub = classroom
    hub.start()
    for user in machine.users:
        model = hub.start_server(user)
        assert model["servers"][""]["ready"], model

    alice, bob = machine.students["alice"], machine.students["bob"]
    bob_home = machine.home(bob)
    (bob_home / "notes.txt").write_text("Bob's own notes\n")
    subprocess.run(["chown", f"{bob}:{bob}", str(bob_home / "notes.txt")], check=True)
    targets = {
        "own home": str(machine.home(alice)),
        "solutions": str(machine.course / "solutions" / ASSIGNMENT / "lenet.ipynb"),
        "course folder": str(machine.course),
        "gradebook": str(machine.course / "autograde" / "gradebook.db"),
        "other student's home": str(bob_home),
        "other student's file": str(bob_home / "notes.txt"),
    }
    probe = f"""
import json, os
result = {{"uid": os.getuid()}}
for label, path in {targets!r}.items():
    try:
        os.listdir(path) if os.path.isdir(path) else open(path, "rb").read(1)
        result[label] = "read"
    except PermissionError:
        result[label] = "denied"
    except FileNotFoundError:
        result[label] = "missing"
print(json.dumps(result))
"""
    seen = json.loads(hub.run_in_kernel(alice, probe).strip().splitlines()[-1])
    assert seen == {
        "uid": machine.uid(alice),
        "own home": "read",
        "solutions": "denied",
        "course folder": "denied",
        "gradebook": "denied",
        "other student's home": "denied",
        "other student's file": "denied",
    }
