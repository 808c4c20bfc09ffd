# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# A bounded fork bomb: up to 2,000 sleeping children. The process limit stops it (BlockingIOError);
# the children are killed again, and tiny_net_check fails (8 of 10).
import os
import signal
import time

children = []
try:
    for _ in range(2000):
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
finally:
    for pid in children:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
print(f"forked {len(children)} children")
