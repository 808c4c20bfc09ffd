# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# Kills its own kernel. The cells before keep their scores; tiny_net_check does not run (8 of 10);
# status crashed.
import os

os._exit(3)
