# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# The first answer cell starts 400 sleeping processes and leaves them running (issue 10: with --workers 2 the
# grader itself failed, "ValueError: Invalid Signature"). The process limit stops the loop (BlockingIOError);
# the function is defined before it, and nothing graded depends on it: every check passes. The sleepers die
# with the kernel's sandbox.
# --- cell: autograd_by_hand
import subprocess


def gradients_by_hand(x, y, z):
    """(dc/dx, dc/dy, dc/dz) for c = sum((x * y + z) ** 2), derived with the chain rule."""
    dc_db = 2 * (x * y + z)
    return dc_db * y, dc_db * x, dc_db


for _ in range(400):
    subprocess.Popen(["sleep", "1234.5"])
