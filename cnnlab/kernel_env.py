"""The environment every course kernel starts with, set before torch loads (OpenMP reads it once, at start-up).

With torch's default OpenMP wait policy an idle worker thread spins, waiting for a busy one; when something else
shares the cores (a browser beside the kernel, a second grading worker), training slows many-fold. PASSIVE makes
waiting threads sleep instead (docs/benchmarks.md, bench/contention.py). Every way the course starts a kernel
starts it with this environment:

- JupyterLab: the course's kernel spec ``cnnlab`` ("CNN Architectures (Python 3)"), which the notebooks name in
  their metadata, holds it in its ``env``; ``./setup.sh`` installs it into the venv (``python -m cnnlab.kernel_env
  install``), and tools/start-lab.sh gives it to the server too;
- nbgrader: nbgrader_config.py puts it into nbgrader's environment, which its kernels inherit, and falls back to
  the ``python3`` kernel where ``cnnlab`` is not installed (a GPU box, another Jupyter);
- the tests and bench/ scripts: they start kernels with ``kernel_environment()`` and ``kernel_name()``.

    python -m cnnlab.kernel_env install    # (re)installs the kernel spec into this Python's prefix
    python -m cnnlab.kernel_env install --env CNNLAB_DATA /path/data   # with more variables (the student bundle)
    python -m cnnlab.kernel_env            # prints the environment, one NAME=value a line
"""

from __future__ import annotations

import os
import sys

KERNEL_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}
# What an autograding kernel gets on top (the grading kit's kernels; nbgrader's, under `nbgrader autograde`): a cell
# that trains for minutes to show something, graded by nothing (notebook 06's degradation experiment), reads it
# and runs a couple of steps, since nobody watches its curves while a class is graded.
AUTOGRADE_ENV = {"CNNLAB_AUTOGRADING": "1"}
KERNEL_NAME = "cnnlab"
KERNEL_DISPLAY_NAME = "CNN Architectures (Python 3)"
FALLBACK_KERNEL_NAME = "python3"  # ipykernel's own, present wherever ipykernel is


def kernel_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the course's kernel settings on top."""
    return {**(os.environ if base is None else base), **KERNEL_ENV}


def kernel_spec_installed() -> bool:
    """Whether Jupyter finds the course's kernel spec (installed by ./setup.sh)."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL_NAME in KernelSpecManager().find_kernel_specs()


def kernel_name() -> str:
    """The kernel to execute course notebooks with: ``cnnlab`` where it is installed, else ``python3``.

    With ``python3`` the caller must pass ``kernel_environment()`` as the kernel's environment (the
    spec's ``env`` is what it misses); with either, passing it does no harm."""
    return KERNEL_NAME if kernel_spec_installed() else FALLBACK_KERNEL_NAME


def install_kernel_spec(prefix: str | None = None, extra_env: dict[str, str] | None = None) -> str:
    """Installs (or replaces) the course's kernel spec under ``prefix`` (default: this Python's, the venv),
    with ``extra_env`` beside KERNEL_ENV (the student bundle adds CNNLAB_DATA). Returns the folder that holds
    its kernel.json."""
    from ipykernel.kernelspec import install

    return install(
        kernel_name=KERNEL_NAME,
        display_name=KERNEL_DISPLAY_NAME,
        prefix=sys.prefix if prefix is None else prefix,
        env={**KERNEL_ENV, **(extra_env or {})},
    )


def main(argv: list[str]) -> int:
    if argv[:1] == ["install"] and len(argv) % 3 == 1 and all(flag == "--env" for flag in argv[1::3]):
        folder = install_kernel_spec(extra_env=dict(zip(argv[2::3], argv[3::3])))
        print(f"installed the kernel spec {KERNEL_NAME!r} ({KERNEL_DISPLAY_NAME}) in {folder}")
        return 0
    if not argv:
        for name, value in KERNEL_ENV.items():
            print(f"{name}={value}")
        return 0
    print(
        f"python -m cnnlab.kernel_env: expected no argument, or 'install' [--env NAME VALUE]...; got {' '.join(argv)!r}",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
