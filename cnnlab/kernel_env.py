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
