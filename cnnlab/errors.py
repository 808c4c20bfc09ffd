"""Errors meant for a student: each one is a sentence, shown in Jupyter without a traceback."""

import os

__all__ = ["CourseError", "CheckFailed", "ConfigError", "DataError"]


class CourseError(Exception):
    """Base class of the toolkit's own errors.

    IPython calls ``_render_traceback_`` when it shows an exception, so a student sees the
    sentence alone. The cell still fails, so nbgrader still scores a failed check as 0.
    Set ``CNNLAB_TRACEBACK=1`` to see the full traceback when debugging the toolkit.
    """

    title = "Error"

    @property
    def _render_traceback_(self):
        if os.environ.get("CNNLAB_TRACEBACK"):
            raise AttributeError("full traceback requested")  # hasattr() is then False
        return self._short_traceback

    def _short_traceback(self):
        return [f"\x1b[1;31m{self.title}:\x1b[0m {self}"]


class CheckFailed(CourseError, AssertionError):
    """A graded or self-check failed: the message says what was expected and what came."""

    title = "Check failed"


class ConfigError(CourseError, ValueError):
    """A configuration that cannot work: a map that shrinks to nothing, a bad argument."""

    title = "This configuration cannot work"


class DataError(CourseError, OSError):
    """A dataset that is missing, damaged or in the wrong format."""

    title = "Data problem"


def first_line(error: BaseException) -> str:
    """``Type: message``, the message cut to its first line: how the course names an error in one line."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__
