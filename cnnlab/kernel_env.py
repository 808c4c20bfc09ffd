"""The environment every course kernel starts with, set before torch loads (OpenMP reads it once, at start-up).

With torch's default OpenMP wait policy an idle worker thread spins, waiting for a busy one; when something else
shares the cores (a browser beside the kernel, a second grading worker), training slows many-fold. PASSIVE makes
waiting threads sleep instead (docs/benchmarks.md). The course's kernel spec, the grading kit's kernels and the
tests' kernels all start with this environment.
"""

from __future__ import annotations

import os

KERNEL_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def kernel_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the course's kernel settings on top."""
    return {**(os.environ if base is None else base), **KERNEL_ENV}


KERNEL_NAME = "cnnlab"
KERNEL_DISPLAY_NAME = "CNN Architectures (Python 3)"


def install_kernel(
    prefix: str | None = None, user: bool = False, extra_env: dict[str, str] | None = None
) -> str:
    """Installs the course's kernel spec (this Python, started with KERNEL_ENV); returns where it went."""
    from ipykernel.kernelspec import install

    return install(
        kernel_name=KERNEL_NAME,
        display_name=KERNEL_DISPLAY_NAME,
        prefix=prefix,
        user=user,
        env={**KERNEL_ENV, **(extra_env or {})},
    )


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m cnnlab.kernel_env", description="The course's Jupyter kernel."
    )
    parser.add_argument("command", choices=["install"])
    parser.add_argument(
        "--sys-prefix", action="store_true", help="into this environment (a venv), not for the user"
    )
    parser.add_argument("--env", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    args = parser.parse_args(argv)
    where = install_kernel(
        prefix=sys.prefix if args.sys_prefix else None, user=not args.sys_prefix, extra_env=dict(args.env)
    )
    print(f"installed the kernel '{KERNEL_NAME}' ({KERNEL_DISPLAY_NAME}) in {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
