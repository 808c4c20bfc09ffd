"""The project's own promises: one dependency list, lint-clean code, and a README whose commands CI runs."""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINTED = [
    "cnnlab",
    "grading",
    "tests",
    "bench",
    "tools",
    "solutions",
    "lectures",
    "nbgrader_config.py",
    "conftest.py",
]


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def test_environment_yml_agrees_with_pyproject():
    result = run(sys.executable, "tools/sync_environment.py", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean_on_code_and_notebooks():
    ruff = Path(sys.executable).with_name("ruff")
    lint = run(str(ruff), "check", *LINTED)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    formatted = run(str(ruff), "format", "--check", *LINTED)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_readme_opens_with_the_commands_ci_runs():
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    setup, tests = blocks[0].strip(), blocks[1].strip()
    assert setup == "./setup.sh"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./setup.sh --no-lab" in ci and tests in ci


def test_setup_script_checks_its_arguments():
    assert run("bash", "-n", "setup.sh").returncode == 0
    unknown = run("bash", "setup.sh", "--bogus")
    assert unknown.returncode == 2 and "expected --no-lab" in unknown.stderr
    assert "exec tools/start-lab.sh" in (ROOT / "setup.sh").read_text()


def test_jupyterlab_serves_both_lectures_headless():
    """What setup.sh starts last: JupyterLab on lectures/, no browser, listing the notebooks."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = "course-test"
    lab = subprocess.Popen(
        ["tools/start-lab.sh", f"--port={port}", f"--IdentityProvider.token={token}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "DISPLAY"},
    )
    try:
        listing = None
        deadline = time.monotonic() + 60
        while listing is None and time.monotonic() < deadline and lab.poll() is None:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=2
                ) as r:
                    listing = json.load(r)
            except OSError:
                time.sleep(0.5)
        assert listing is not None, (
            f"JupyterLab did not answer: {lab.stderr.read() if lab.poll() is not None else ''}"
        )
        served = {item["name"] for item in listing["content"]}
        assert {"00_foundations", "01_lenet", "02_alexnet", "03_zfnet"} <= served
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=10) as page:
            assert page.status == 200
    finally:
        lab.terminate()
        lab.wait(timeout=30)
