"""The grading kit run by an instructor who is not root, as on a shared server (issue 10).

The test creates a system user, gives it a course of its own and a Python it can read, and has it grade the hostile
submissions whose outcome depends on the sandbox. bubblewrap then takes its user-namespace path (``--unshare-user``,
nested namespaces forbidden) and kernels run as that user. Where the machine forbids user namespaces, the kit must
refuse in one sentence instead.

This project's Python lives under /root/.pyenv, which other users cannot reach: the user gets a virtual environment
of Debian's /usr/bin/python3.11 (the same minor version) whose .pth file adds the worktree's site-packages, which are
world-readable. Nothing outside the test's own folder changes permissions; the user is removed afterwards.
"""

from __future__ import annotations

import csv
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import grading_submissions as subs
import pytest
from course import ROOT
from grading_runs import ASSIGNMENT, class_args, grades, new_course, records, submit_hostile_class

pytestmark = pytest.mark.slow
USER = "cnnlab-grader"
# the last one hits the process limit
CASES = ["perfect", "read_solutions", "write_gradebook", "network", "spawn_sleepers"]


@pytest.fixture(scope="module")
def instructor():
    """(user name, its Python): a system user with no home, created for the test and removed after it."""
    if os.getuid() != 0:
        pytest.skip("this suite already runs as an unprivileged user: every grading test exercises that path")
    system_python = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system_python.is_file():
        pytest.skip(f"no {system_python} to build a Python the test user can read")
    created = False
    try:
        pwd.getpwnam(USER)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER]
        )
        assert made.returncode == 0
        created = True
    folder = Path(tempfile.mkdtemp(prefix="cnnlab-user-", dir="/tmp"))
    folder.chmod(0o755)
    venv = folder / "venv"
    subprocess.run([str(system_python), "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (purelib / "cnnlab-host.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n"
    )
    try:
        yield USER, folder, venv / "bin" / "python"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if created:
            subprocess.run(["userdel", USER])


def as_user(user: str, command: list[str], cwd: Path, home: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "CNNLAB_DATA": str(ROOT / "data"),  # built by setup.sh, readable by all
    }
    switch = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--"]
    return subprocess.run(switch + command, cwd=cwd, env=env, capture_output=True, text=True, **kwargs)


def test_an_instructor_who_is_not_root_grades_in_the_sandbox(instructor):
    user, folder, python = instructor
    course = new_course(folder / "course")
    listener = submit_hostile_class(course, CASES)
    home = folder / "home"
    home.mkdir()
    subprocess.run(["chown", "-R", f"{user}:", str(course.root), str(home)], check=True)
    probe = as_user(user, [str(python), "-c", "import cnnlab_grade, nbgrader, torch"], course.root, home)
    assert probe.returncode == 0, probe.stderr
    table = course.root / "grades.csv"
    result = as_user(
        user,
        [str(python), "-m", "cnnlab_grade", *class_args(table)],
        course.root,
        home,
        timeout=900,
    )
    namespaces = subprocess.run(
        ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--"]
        + ["bwrap", "--unshare-user", "--ro-bind", "/", "/", "true"],
        capture_output=True,
        text=True,
    )
    if namespaces.returncode != 0:  # user namespaces forbidden: a refusal in one sentence, nothing graded
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and "the sandbox cannot work on this machine" in result.stderr
        return
    assert result.returncode == 0, result.stderr
    assert "sandbox: bubblewrap" in result.stderr and "kernels run as this user" in result.stderr
    assert listener.connections == 0
    with open(table, newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    for name in CASES:
        case = subs.BY_NAME[name]
        got = grades(course.root / "gradebook.db", name)
        assert {cell: got[cell][0] for cell in case.scores} == case.scores, name
        assert rows[name]["status"] == case.status, name
        if case.reason:
            assert case.reason in rows[name]["reason"], name
        executed = course.autograded / name / ASSIGNMENT / subs.NOTEBOOK
        for text in case.output:
            assert text in executed.read_text(), name
    assert records(course.root / "gradebook.db")["perfect"] == ("graded", "")
