"""Every kernel the course starts has the course's environment (OMP_WAIT_POLICY=PASSIVE) before torch loads.

The ways: the `cnnlab` kernel spec that ./setup.sh installs and the notebooks name (JupyterLab), nbgrader (its
config puts the environment into its own, and falls back to `python3` where `cnnlab` is missing), and the tests'
and bench scripts' kernels (kernel_name() and kernel_environment()).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from course import ROOT, nbgrader_environment
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

from cnnlab import kernel_env
from cnnlab.kernel_env import KERNEL_DISPLAY_NAME, KERNEL_ENV, KERNEL_NAME

# What a kernel reports: the setting, and whether torch was already loaded when the first cell ran.
PROBE = "import os, sys\nprint(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)"


def without_kernel_env(env=None) -> dict[str, str]:
    return {k: v for k, v in (os.environ if env is None else env).items() if k not in KERNEL_ENV}


def probe_notebook(kernel: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)])
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": KERNEL_DISPLAY_NAME, "language": "python"}
    return nb


def test_the_environment_is_passive_waiting():
    assert KERNEL_ENV["OMP_WAIT_POLICY"] == "PASSIVE"
    assert kernel_env.kernel_environment({"A": "1", "OMP_WAIT_POLICY": "ACTIVE"}) == {"A": "1", **KERNEL_ENV}


def test_setup_installed_the_course_kernel_spec_into_the_venv():
    specs = KernelSpecManager().find_kernel_specs()
    assert KERNEL_NAME in specs, f"no {KERNEL_NAME!r} kernel spec: run ./setup.sh --no-lab (it installs it)"
    folder = Path(specs[KERNEL_NAME])
    assert folder.is_relative_to(Path(sys.prefix)), f"{folder} is not in the venv ({sys.prefix})"
    spec = json.loads((folder / "kernel.json").read_text())
    assert spec["display_name"] == KERNEL_DISPLAY_NAME
    assert spec["env"] == KERNEL_ENV
    assert Path(spec["argv"][0]).parent == Path(sys.executable).parent, spec["argv"]
    assert kernel_env.kernel_name() == KERNEL_NAME


def test_setup_sh_installs_the_kernel_spec():
    assert ".venv/bin/python -m cnnlab.kernel_env install" in (ROOT / "setup.sh").read_text()


def test_install_writes_a_spec_with_the_environment(tmp_path):
    folder = Path(kernel_env.install_kernel_spec(prefix=str(tmp_path)))
    assert folder == tmp_path / "share" / "jupyter" / "kernels" / KERNEL_NAME
    spec = json.loads((folder / "kernel.json").read_text())
    assert (spec["display_name"], spec["env"], spec["language"]) == (
        KERNEL_DISPLAY_NAME,
        KERNEL_ENV,
        "python",
    )


def test_a_course_kernel_has_the_setting_before_torch_loads():
    """Started from an environment without the setting: the kernel spec alone provides it."""
    nb = probe_notebook(KERNEL_NAME)
    NotebookClient(nb, timeout=60, resources={"metadata": {"path": str(ROOT)}}).execute(
        env=without_kernel_env()
    )
    assert nb.cells[0].outputs[0]["text"].split() == ["PASSIVE", "False"]


def test_without_the_course_kernel_the_fallback_gets_the_setting_from_its_environment():
    """A machine without the `cnnlab` spec (a GPU box with `python3` only): kernel_environment() provides it."""
    nb = probe_notebook("python3")
    client = NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute(env=kernel_env.kernel_environment(without_kernel_env()))
    assert nb.cells[0].outputs[0]["text"].split() == ["PASSIVE", "False"]


def test_the_tests_and_nbgrader_run_with_the_setting():
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"  # conftest.py, before torch loaded
    assert nbgrader_environment()["OMP_WAIT_POLICY"] == "PASSIVE"


def load_nbgrader_config(monkeypatch, installed: bool):
    from jupyter_client import kernelspec
    from traitlets.config.loader import PyFileConfigLoader

    for name in KERNEL_ENV:
        monkeypatch.delenv(name, raising=False)
    found = {KERNEL_NAME: "somewhere"} if installed else {"python3": "somewhere"}
    monkeypatch.setattr(kernelspec.KernelSpecManager, "find_kernel_specs", lambda self: found)
    return PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()


def test_nbgrader_config_sets_the_environment_and_keeps_the_course_kernel(monkeypatch):
    config = load_nbgrader_config(monkeypatch, installed=True)
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert "kernel_name" not in config.Execute  # the notebook's own: cnnlab
    assert 60 * 2 < config.Execute.timeout <= 600


def test_nbgrader_config_falls_back_to_python3_without_the_course_kernel(monkeypatch):
    config = load_nbgrader_config(monkeypatch, installed=False)
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert config.Execute.kernel_name == "python3"


@pytest.mark.slow
def test_a_kernel_nbgrader_starts_has_the_setting_before_torch_loads(tmp_path):
    """A one-cell assignment that names the course's kernel, autograded by nbgrader started from an environment
    without the setting: its test cell gets its point only if the kernel had it before torch loaded."""
    source = tmp_path / "source" / "probe"
    source.mkdir(parents=True)
    nb = probe_notebook(KERNEL_NAME)
    nb.cells[0].source = "import os, sys\nassert os.environ.get('OMP_WAIT_POLICY') == 'PASSIVE'\n"
    nb.cells[0].source += "assert 'torch' not in sys.modules"
    nb.cells[0].metadata["nbgrader"] = {
        "grade": True, "grade_id": "probe", "locked": True, "points": 1, "schema_version": 3, "solution": False,
    }  # fmt: skip
    nbformat.write(nb, source / "probe.ipynb")
    (tmp_path / "nbgrader_config.py").write_text(
        f"c = get_config()\nload_subconfig({str(ROOT / 'nbgrader_config.py')!r})\n"
        f"c.CourseDirectory.root = {str(tmp_path)!r}\nc.CourseDirectory.source_directory = 'source'\n"
        f"c.CourseDirectory.release_directory = 'release'\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{tmp_path / 'gradebook.db'}'\n"
    )
    env = without_kernel_env(nbgrader_environment())

    def nbgrader(*args):
        done = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr

    nbgrader("generate_assignment", "probe", "--force")
    submitted = tmp_path / "autograde" / "submitted" / "student" / "probe"
    submitted.mkdir(parents=True)
    (submitted / "probe.ipynb").write_bytes((tmp_path / "release" / "probe" / "probe.ipynb").read_bytes())
    nbgrader("autograde", "probe", "--force")

    from course import gradebook_grades

    assert gradebook_grades(tmp_path / "gradebook.db", "probe", "student") == {"probe": (1.0, 1.0, False)}


def test_only_nbgrader_autograde_shortens_ungraded_demonstrations(monkeypatch):
    """(The grading kit's kernels get it too: grading/tests/test_kit_units.py.)"""
    from cnnlab.kernel_env import AUTOGRADE_ENV

    for argv in (
        ["nbgrader", "generate_assignment", "06_resnet"],
        ["jupyter-lab"],
        ["nbgrader", "autograde"],
    ):
        for name in AUTOGRADE_ENV:
            monkeypatch.setenv(name, "")  # so that the test's end restores the variable as it was
            monkeypatch.delenv(name)
        monkeypatch.setattr(sys, "argv", argv)
        load_nbgrader_config(monkeypatch, installed=True)
        autograding = argv[1:2] == ["autograde"]
        assert all((os.environ.get(k) == v) == autograding for k, v in AUTOGRADE_ENV.items()), argv
