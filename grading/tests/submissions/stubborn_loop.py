# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# Never ends, and ignores the interrupt: the kernel is killed after the per-cell timeout. tiny_net_check
# does not run (8 of 10); status timeout.
import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    pass
