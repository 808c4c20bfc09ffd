"""What every assignment's unit shares: its ``mistakes.toml`` read as the fixture ``unit_data``, its checked cells as
``checked_cells``, one test per mistake, and the slow tier for the units whose runs take seconds each.

A unit's test file is ``tests/assignments/<id>/test_<name>.py``; it collects the generic tests of fair_grading.py
by importing them, and this file gives them the unit's own data.
"""

from __future__ import annotations

import pytest
from harness import UNITS, unit


def _assignment(path) -> str | None:
    """The assignment id of a test file inside a unit's folder, else None."""
    return path.parent.name if path.parent.parent == UNITS else None


@pytest.fixture(scope="module")
def assignment(request) -> str:
    return _assignment(request.path)


@pytest.fixture(scope="module")
def unit_data(assignment):
    """The unit (harness.Unit: its cells, mistakes, tier and failure types), for tests that only read it."""
    return unit(assignment)


@pytest.fixture(scope="module")
def checked_cells(assignment):
    """The unit's CheckedCells, for tests that run them."""
    return unit(assignment).cells


def pytest_generate_tests(metafunc):
    if "mistake" in metafunc.fixturenames:
        mistakes = unit(_assignment(metafunc.definition.path)).mistakes
        metafunc.parametrize("mistake", mistakes, ids=[mistake.name for mistake in mistakes])


def pytest_collection_modifyitems(items):
    # A unit whose checked cells take seconds to run (`slow = true` in its mistakes.toml): every test that runs
    # them is slow.
    for item in items:
        assignment = _assignment(item.path)
        if assignment and "checked_cells" in getattr(item, "fixturenames", ()) and unit(assignment).slow:
            item.add_marker(pytest.mark.slow)
