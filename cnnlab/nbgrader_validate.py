"""nbgrader's Validate fails a notebook whose cell it had to stop at the time limit, and says which cell.

nbgrader (0.9) stops a cell that runs past its limit (``c.Execute.timeout``): it interrupts the kernel, records a
``CellTimeoutError`` in the cell and runs the rest. Its Validator then counts failures in graded cells only, so a
read-only training run or an ungraded experiment that was stopped left every check after it passing, and Validate
said "Success! Your notebook passes all the tests." for a notebook that never ran to the end.

The course's nbgrader_config.py gives Validate, and nothing else (``c.Validator.Execute``: autograde keeps
nbgrader's behaviour, where a stopped cell costs its own points only), the two settings below:

- ``ERROR_ON_TIMEOUT``, the error nbgrader records in the stopped cell: the course's sentence instead of "No reply
  from kernel before timeout";
- ``fail_the_stopped_cell``, nbclient's ``on_cell_error`` hook: it makes the stopped cell count as a failed test for
  this one run, so Validate lists it ("The following cell failed:" with its code, then the sentence). The
  notebook on disk is not touched: Validate works on a copy in memory.

Both ``nbgrader validate`` and JupyterLab's Validate button read nbgrader_config.py from the folder they start in
(the repository's root, the student bundle's root), and both build nbgrader's Validator, which passes its
configuration to the cells' executor. tests/test_nbgrader_validate.py runs both paths on a cell that sleeps past a
3-second limit.
"""

from __future__ import annotations

import textwrap

TIMEOUT_ERROR_NAME = "CellTimeoutError"  # the name nbgrader gives the error it records in a stopped cell

STOPPED_MESSAGE = (
    "Validate stopped this cell: it ran past the time limit for one cell (c.Execute.timeout in "
    "nbgrader_config.py), so the notebook did not run to the end and Validate cannot pass it. Run the cell on its "
    "own to see how long it takes: a loop that never ends or a model far larger than the notebook's would explain "
    "it. On a busy machine, try again when it is idle."
)

ERROR_ON_TIMEOUT = {
    "ename": TIMEOUT_ERROR_NAME,
    "evalue": STOPPED_MESSAGE,
    # lines of at most 80 characters: `nbgrader validate` cuts every line of an error at 87, indent included
    "traceback": textwrap.wrap(f"{TIMEOUT_ERROR_NAME}: {STOPPED_MESSAGE}", 80),
}


def fail_the_stopped_cell(cell, cell_index: int, execute_reply: dict, **_) -> None:
    """nbclient's ``on_cell_error`` hook: a cell stopped at the time limit becomes a failed test of this run.

    nbgrader's Validator fails the graded cells that hold an error, so the stopped cell is given the metadata of a
    graded test cell of one point (its grade id kept). The metadata is replaced, not added to: a read-only cell's
    checksum covers its metadata, and a stale one would make Validate report the cell as changed instead.
    """
    if execute_reply["content"].get("ename") != TIMEOUT_ERROR_NAME:
        return  # an ordinary error: nbgrader already fails it where it counts
    # The interrupt that stopped the cell shows up as a KeyboardInterrupt: the course's sentence says what happened.
    cell.outputs = [
        output
        for output in cell.outputs
        if not (output.get("output_type") == "error" and output.get("ename") == "KeyboardInterrupt")
    ]
    nbgrader = cell.metadata.get("nbgrader", {})
    if nbgrader.get("grade"):
        return  # a graded cell with an error already fails
    cell.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": False,
        "points": 1,
        "grade_id": nbgrader.get("grade_id", f"cell_{cell_index}"),
        "schema_version": nbgrader.get("schema_version", 3),
    }
