"""The project's own promises: one dependency list, lint-clean code, and a README whose commands CI runs."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINTED = ["cnnlab", "tests", "bench", "tools", "solutions", "lectures", "nbgrader_config.py"]


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


def test_setup_script_starts_jupyterlab_on_lectures_headless():
    script = (ROOT / "setup.sh").read_text()
    assert "jupyter lab --no-browser" in script and "root_dir=lectures" in script and "--allow-root" in script
    assert run("bash", "-n", "setup.sh").returncode == 0
    unknown = run("bash", "setup.sh", "--bogus")
    assert unknown.returncode == 2 and "expected --no-lab" in unknown.stderr
