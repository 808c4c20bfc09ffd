"""Why a graded cell lost its points, read from the executed notebook, and feedback that explains it without
giving the hidden tests away.

A test cell scores 0 when it raised. Its reason names the cell and the error, and the first error of an earlier
cell when there was one, since that is often the real cause:

    lenet_training_check: NameError: name 'history' is not defined (first error: cell 37, DataError: ...)

The feedback (nbgrader's ``GenerateFeedback``) shows a test cell's points and its error message, what was
expected and what came, but neither the source of its hidden tests nor a traceback, which would quote them
(nbgrader#917). ``HideHiddenTests`` takes that step in the feedback's pipeline.
"""

from __future__ import annotations

import re

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_output
from traitlets import Bool

# The grader's own errors: what they mean is already in the reason, from the execution's notes
KIT_ERRORS = {
    "NotRun",
    "KernelStopped",
    "NotebookTimeout",
    "GradingIntegrityError",
    "UnreadableKernelMessage",
}
HIDDEN_REGION = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS.*?(^[ \t]*### END HIDDEN TESTS[^\n]*(\n|$)|\Z)", re.M | re.S
)
HIDDEN_NOTE = "# (hidden tests ran here: their result is below)\n"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MESSAGE_CHARS = 200


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test_cell(cell) -> bool:
    meta = _meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def cell_name(cell, index: int) -> str:
    """A cell as an instructor finds it: its grade id, else its position, counted from 1."""
    return _meta(cell).get("grade_id") or f"cell {index + 1}"


def error_text(output) -> str:
    """``Name: first line of the message``, without terminal colours, at most 200 characters."""
    ename = _ANSI.sub("", str(output.get("ename", ""))) or "Error"
    lines = [
        line.strip() for line in _ANSI.sub("", str(output.get("evalue", ""))).splitlines() if line.strip()
    ]
    text = f"{ename}: {lines[0]}" if lines else ename
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def _first_error(cell):
    return next((out for out in cell.get("outputs", []) if out.get("output_type") == "error"), None)


def failed_checks(notebook) -> list[dict]:
    """Each test cell that raised: {cell, error, first}, where ``first`` is ``"cell N, Error: ..."`` for the first
    error of an earlier cell that is not a check (the student's code, the set-up), or ''. Cells stopped by the grader (timeout, dead kernel, tampering) are left out:
    the execution's notes say why."""
    failures = []
    first = ""
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        raised = _first_error(cell)
        if raised is None:
            continue
        if is_test_cell(cell):  # checks are independent: an earlier failed check causes nothing
            if raised.get("ename") not in KIT_ERRORS:
                failures.append({"cell": cell_name(cell, index), "error": error_text(raised), "first": first})
        elif not first:
            first = f"{cell_name(cell, index)}, {error_text(raised)}"
    return failures


def failure_reason(failure: dict) -> str:
    first = f" (first error: {failure['first']})" if failure["first"] else ""
    return f"{failure['cell']}: {failure['error']}{first}"


def failure_reasons(failures: list[dict]) -> list[str]:
    """One reason per error: checks that failed alike (often all those after one broken cell) share one line."""
    groups: dict[tuple[str, str], list[str]] = {}
    for failure in failures:
        groups.setdefault((failure["error"], failure["first"]), []).append(failure["cell"])
    return [
        failure_reason({"cell": ", ".join(cells), "error": error, "first": first})
        for (error, first), cells in groups.items()
    ]


def strip_hidden_tests(source: str) -> str:
    return HIDDEN_REGION.sub(HIDDEN_NOTE, source)


class HideHiddenTests(Preprocessor):
    """The feedback's step that hides hidden tests: a test cell keeps its visible lines, its points (nbgrader's
    template shows them) and its error as ``Name: message``; its hidden lines and its traceback go. A failed
    check that followed an earlier error also says which."""

    enabled = Bool(True)  # nbconvert runs a registered preprocessor only when it is enabled

    def preprocess(self, nb, resources):
        failures = {failure["cell"]: failure for failure in failed_checks(nb)}
        for index, cell in enumerate(nb.cells):
            if not is_test_cell(cell):
                continue
            cell.source = strip_hidden_tests(cell.source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [error_text(output)]
            failure = failures.get(cell_name(cell, index))
            if failure and failure["first"]:
                note = f"This check failed after an earlier error: {failure['first']}\n"
                cell.outputs.append(new_output("stream", name="stderr", text=note))
        return nb, resources
