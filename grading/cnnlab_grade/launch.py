"""Runs first inside the sandbox: sets the kernel's limits, then becomes the kernel.

    python -m cnnlab_grade.launch --memory-mb M --memory-kind as|data --nproc N --fsize-mb F -- KERNEL ARGV...

It imports nothing from the kit (it runs where the kit's other modules need not be importable) and
uses only the standard library. Limits are set here, not around bubblewrap, so they bind the kernel
and whatever it starts, and not the sandbox's own set-up.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import signal
import sys

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Without a sandbox nothing else stops the kernel from outliving a killed grader."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m cnnlab_grade.launch")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--memory-kind", choices=("as", "data"), default="as")
    parser.add_argument("--nproc", type=int, default=0)
    parser.add_argument("--fsize-mb", type=int, default=0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("expected the kernel's command after --")

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash must not write gigabytes of core dump
    if args.memory_mb:
        limit = args.memory_mb << 20
        kind = resource.RLIMIT_AS if args.memory_kind == "as" else resource.RLIMIT_DATA
        resource.setrlimit(kind, (limit, limit))
    if args.nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (args.nproc, args.nproc))
    if args.fsize_mb:
        limit = args.fsize_mb << 20
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    _die_with_parent()
    # ipykernel exits when the process of this pid is gone; in the sandbox's own process tree it is never
    # there. The sandbox (or, without one, the death signal above) ends the kernel with the grader instead.
    os.environ.pop("JPY_PARENT_PID", None)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
