# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# A wrong answer, and an IPython input transformer that turns every later cell into `pass`, so no test
# can fail. The grader removes the transformer before each graded cell: tiny_net_check fails.
def tiny_net_params(channels=8, kernel_size=3, num_classes=10, input_size=32):
    return 0


get_ipython().input_transformers_cleanup.append(lambda lines: ["pass\n"])
