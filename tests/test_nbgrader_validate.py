"""nbgrader's Validate never says "Success" for a notebook that did not run to the end (cnnlab/nbgrader_validate.py).

Under load a cell ran past Validate's limit for one cell: nbgrader stopped it, ran the rest, and said "Success! Your
notebook passes all the tests." because the stopped cell was not a graded one. Here a notebook whose read-only cell
sleeps past a 3-second limit is validated with the course's nbgrader_config.py, the two ways a student validates:
`nbgrader validate` on the command line, and what JupyterLab's Validate button runs (nbgrader's server extension
loads nbgrader_config.py from the server's folder and calls nbgrader's Validator, as below). Both must fail, naming
the stopped cell. The button itself is driven in tests/browser/test_jupyterlab.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from course import ROOT, nbgrader_environment
from nbgrader.utils import compute_checksum
from traitlets.config.loader import PyFileConfigLoader

from cnnlab import nbgrader_validate
from cnnlab.kernel_env import KERNEL_DISPLAY_NAME, KERNEL_NAME

LIMIT_S = 3  # the test's limit for one cell: small, so that the test is fast
SLOW_CELL = "import time\n\ntime.sleep(60)  # a training run that takes longer than Validate allows"
SENTENCE_START = "CellTimeoutError: Validate stopped this cell"
# nbgrader's own words: the summary when a cell failed, and the ones that must not appear
FAILED = "VALIDATION FAILED ON 1 CELL(S)!"
SUCCESS = "Success!"
CHANGED = "HAVE CHANGED"
# What JupyterLab's Validate button runs on the server (nbgrader's validate_assignment handler, nbgrader 0.9): the
# configuration from the folder the server started in, and nbgrader's Validator on the notebook.
LAB_VALIDATE = """
import json, sys
from nbgrader.server_extensions.validate_assignment.handlers import ValidateAssignmentHandler
from nbgrader.validator import Validator

config = ValidateAssignmentHandler.load_config(None)  # reads nothing of the handler: os.getcwd() and Jupyter's paths
print(json.dumps(Validator(config=config).validate(sys.argv[1])))
"""


def graded(cell, **nbgrader):
    cell.metadata["nbgrader"] = {"schema_version": 3, "solution": False, **nbgrader}
    if nbgrader.get("locked"):
        cell.metadata["nbgrader"]["checksum"] = compute_checksum(cell)
    return cell


def notebook_with_a_slow_cell() -> nbformat.NotebookNode:
    """A setup cell, a read-only cell that runs past the limit (as a graded training run's cell is read-only), and a
    graded check that passes: before the fix, Validate said "Success!" for it."""
    new = nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": KERNEL_NAME,
        "display_name": KERNEL_DISPLAY_NAME,
        "language": "python",
    }
    nb.cells = [
        new("answer = 6 * 7"),
        graded(new(SLOW_CELL), grade=False, locked=True, grade_id="slow_run"),
        graded(new("assert answer == 42"), grade=True, locked=True, points=1, grade_id="answer_check"),
    ]
    return nb


@pytest.fixture
def student_folder(tmp_path: Path) -> Path:
    """A folder with the notebook and an nbgrader_config.py that is the course's with a 3-second limit."""
    nbformat.write(notebook_with_a_slow_cell(), tmp_path / "slow.ipynb")
    # The course's config names the repository as the course's root, and nbgrader reads the root's config after the
    # one in the working folder: the root is set here, so that the limit below is the one that counts.
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"load_subconfig({str(ROOT / 'nbgrader_config.py')!r})\n"
        f"c.CourseDirectory.root = {str(tmp_path)!r}\n"
        f"c.Execute.timeout = {LIMIT_S}\n"
    )
    return tmp_path


def run(folder: Path, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *command],
        cwd=folder,
        env=nbgrader_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_only_validate_fails_a_stopped_cell_autograde_keeps_grading_the_rest():
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert config.Validator.Execute.on_cell_error is nbgrader_validate.fail_the_stopped_cell
    assert config.Validator.Execute.error_on_timeout["ename"] == nbgrader_validate.TIMEOUT_ERROR_NAME
    assert "on_cell_error" not in config.Execute and "error_on_timeout" not in config.Execute


@pytest.mark.slow
def test_nbgrader_validate_fails_a_notebook_whose_cell_ran_past_the_limit_and_names_the_cell(student_folder):
    done = run(student_folder, "-m", "nbgrader", "validate", "slow.ipynb")
    shown = done.stdout
    reached = f"Timeout waiting for execute reply ({LIMIT_S}s)"  # nbgrader's log line when it stops a cell
    assert reached in done.stderr, done.stderr
    assert SUCCESS not in shown and CHANGED not in shown, shown
    assert FAILED in shown, shown
    failure = shown.split("The following cell failed:", 1)[1]
    cell, error = failure.split("The error was:", 1)
    assert [line.strip() for line in cell.strip().splitlines()] == SLOW_CELL.splitlines()
    assert error.strip().startswith(SENTENCE_START), error
    assert "c.Execute.timeout" in error and "did not run" in error, error


@pytest.mark.slow
def test_the_lab_validate_button_fails_it_too_with_the_cell_and_the_sentence(student_folder):
    done = run(student_folder, "-c", LAB_VALIDATE, "slow.ipynb")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # the button shows "The following cell failed:", each failed cell's source, and its error
    assert list(result) == ["failed"], result
    (failed,) = result["failed"]
    assert failed["source"] == SLOW_CELL
    assert failed["raw_error"].startswith(SENTENCE_START), failed["raw_error"]
