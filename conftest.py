"""What every test session shares (tests/ and the grading kit's grading/tests/): the course's kernel environment,
the two tiers, and the course's test helpers on the path.

Kernel environment: the course starts every kernel with cnnlab/kernel_env.py's KERNEL_ENV (OMP_WAIT_POLICY=PASSIVE,
read by OpenMP when torch loads). It goes into this process's environment before any test module imports torch,
so the tests' own training runs, and every kernel or subprocess a test starts (nbclient, nbgrader, the grading kit),
have it whichever kernel spec they use.

Tiers:
    pytest -m "not slow"     the inner loop: everything but the slow tests, at most 3 minutes on 2 cores
    pytest                   everything (CI): each notebook's nbgrader round trip, the grading kit, the widgets

A test is slow when it is marked ``@pytest.mark.slow``, when its file is in SLOW_FILES (every test of the file),
or when it uses a fixture in SLOW_FIXTURES (an nbgrader round trip, a class graded by the kit).
Add your file or fixture here rather than marking each test. An assignment's unit puts the runs of its checked
cells in the slow tier with ``slow = true`` in its mistakes.toml (tests/assignments/conftest.py). A test outside the
slow tier that takes longer than FAST_TEST_SECONDS is listed at the end of the session, so that it gets marked.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
# tools/ is a folder of scripts; tests/ holds the helpers the kit's tests share (course.py): neither is a package
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]
from release import kernel_env_module  # noqa: E402  (this does not import torch)

os.environ.update(kernel_env_module().KERNEL_ENV)

# Files whose every test is slow: they start real components (a browser, Slurm, PostgreSQL) or execute notebooks.
SLOW_FILES: set[str] = set()
# Fixtures that execute whole notebooks or train: every test that uses one is slow.
SLOW_FIXTURES = {
    "graded",  # tests/test_notebooks.py: one assignment generated, submitted and autograded by nbgrader
    "class_run",  # grading/tests/test_grade.py: a class graded by the grading kit
    "report_class",  # grading/tests/test_class_report.py: the class of the class report, graded by the kit
}
FAST_TEST_SECONDS = 20.0

_durations: dict[str, float] = {}
# Every test's setup, call and teardown, summed by file: where the suite's time goes.
_file_seconds: dict[str, float] = {}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_FILES or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_runtest_logreport(report):
    file = report.nodeid.split("::")[0]
    _file_seconds[file] = _file_seconds.get(file, 0.0) + report.duration
    if "slow" not in report.keywords:
        _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    if _file_seconds:
        terminalreporter.section("time per test file (setup, tests and teardown)")
        for file, seconds in sorted(_file_seconds.items(), key=lambda item: -item[1]):
            if seconds >= 1.0:
                terminalreporter.write_line(f"  {seconds:7.1f} s  {file}")
    too_slow = sorted(((s, n) for n, s in _durations.items() if s > FAST_TEST_SECONDS), reverse=True)
    if too_slow:
        terminalreporter.section("tests too slow for the fast tier")
        terminalreporter.write_line(
            f"These took over {FAST_TEST_SECONDS:.0f} s without the slow marker: mark them slow (@pytest.mark.slow, "
            "or SLOW_FILES / SLOW_FIXTURES in conftest.py), or make them faster."
        )
        for seconds, nodeid in too_slow:
            terminalreporter.write_line(f"  {seconds:6.1f} s  {nodeid}")
