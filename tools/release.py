"""Regenerates the student versions in lectures/ from the instructor notebooks in solutions/.

    .venv/bin/python tools/release.py              # every assignment
    .venv/bin/python tools/release.py 01_lenet     # just one

It runs `nbgrader generate_assignment --force`, which strips solutions, hidden tests and outputs, and
records each assignment in the gradebook. Commit lectures/ afterwards: a test keeps it in sync.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def kernel_env_module():
    """cnnlab/kernel_env.py of this checkout, loaded by its path: without importing the cnnlab package (and
    torch), and also where cnnlab is not installed."""
    spec = importlib.util.spec_from_file_location("_cnnlab_kernel_env", ROOT / "cnnlab" / "kernel_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nbgrader_environment() -> dict[str, str]:
    """The environment to run nbgrader in: this Python's bin folder first on PATH (nbgrader runs `alembic` from
    PATH to create a gradebook), and the course's kernel environment (cnnlab/kernel_env.py), which every kernel
    nbgrader starts inherits, whichever kernel spec it uses."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**kernel_env_module().kernel_environment(), "PATH": path}


def main(argv: list[str]) -> int:
    assignments = argv or sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
    for assignment in assignments:
        if not (ROOT / "solutions" / assignment).is_dir():
            print(f"release.py: no solutions/{assignment}; the assignments are in solutions/")
            return 2
        print(f"==> {assignment}")
        command = [
            sys.executable,
            "-m",
            "nbgrader",
            "generate_assignment",
            assignment,
            "--force",
            "--log-level=WARN",
        ]
        if subprocess.run(command, cwd=ROOT, env=nbgrader_environment()).returncode != 0:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
