"""nbgrader's configuration for this course: run nbgrader commands from the repository root."""

import importlib.util
import os
import sys

c = get_config()  # noqa: F821  (nbgrader injects get_config)

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "cnn-architectures"
c.CourseDirectory.root = HERE
c.CourseDirectory.source_directory = "solutions"  # instructor notebooks, with solutions and hidden tests
c.CourseDirectory.release_directory = "lectures"  # student versions, generated and committed
# Everything that comes back from students lives under autograde/ and is ignored by git.
c.CourseDirectory.submitted_directory = "autograde/submitted"
c.CourseDirectory.autograded_directory = "autograde/autograded"
c.CourseDirectory.feedback_directory = "autograde/feedback"
c.ZipCollectApp.downloaded_directory = "autograde/downloaded"  # where `nbgrader zip_collect` looks
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "autograde", "gradebook.db")

# Per-cell limit while autograding. nbgrader 0.9 reads Execute.timeout (not ExecutePreprocessor.timeout).
# Every graded training run takes at most 60 s on a 2-core CPU (120 s at one thread, as the grading kit's
# workers run it; bench/notebook_times.py measures them). 300 s clears the slowest correct cell with a wide
# margin, also on a loaded machine, and still stops a runaway cell (an endless loop, a far too large model)
# within minutes rather than a quarter of an hour.
c.Execute.timeout = 300


def _course_module(name):
    """cnnlab.<name>, or where nbgrader runs from an environment without cnnlab, the copy beside this file."""
    try:
        return importlib.import_module(f"cnnlab.{name}")
    except ImportError:
        spec = importlib.util.spec_from_file_location(
            f"_cnnlab_{name}", os.path.join(HERE, "cnnlab", f"{name}.py")
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


# Kernels. The notebooks name the course's kernel spec, `cnnlab`, which ./setup.sh installs into the venv and
# which starts each kernel with the course's environment (OMP_WAIT_POLICY=PASSIVE, cnnlab/kernel_env.py) set
# before torch loads. That environment goes into nbgrader's own too, so a kernel started from any spec inherits
# it; and where `cnnlab` is not installed (a GPU box with only `python3`, another Jupyter) nbgrader uses ipykernel's
# `python3` instead of failing with "No such kernel". Importing cnnlab.kernel_env is cheap (cnnlab loads torch only
# when a tool is used).
_kernel_env = _course_module("kernel_env")
os.environ.update(_kernel_env.KERNEL_ENV)
# Under `nbgrader autograde` only (not in JupyterLab, which may read this file too): ungraded demonstrations
# that train for minutes shorten themselves (cnnlab/kernel_env.py's AUTOGRADE_ENV).
if "autograde" in sys.argv[1:2]:
    os.environ.update(_kernel_env.AUTOGRADE_ENV)
if not _kernel_env.kernel_spec_installed():
    c.Execute.kernel_name = _kernel_env.FALLBACK_KERNEL_NAME

# Validate (`nbgrader validate` and JupyterLab's Validate button, which both read this file from the folder they
# start in) never says "Success" for a notebook that did not run to the end: a cell stopped at the limit above is
# listed as a failed cell, with the course's sentence (cnnlab/nbgrader_validate.py). Under c.Validator only:
# autograde keeps nbgrader's behaviour, where a stopped cell costs its own points and the rest is graded.
_validate = _course_module("nbgrader_validate")
c.Validator.Execute.error_on_timeout = _validate.ERROR_ON_TIMEOUT
c.Validator.Execute.on_cell_error = _validate.fail_the_stopped_cell

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
