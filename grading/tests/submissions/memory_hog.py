# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# Asks for 50 GB, one touched gigabyte at a time: the memory limit stops it with a MemoryError.
# tiny_net_check fails (8 of 10); the reason says the cell ran out of memory.
hog = []
for _ in range(50):
    hog.append(b"\x01" * (1 << 30))
