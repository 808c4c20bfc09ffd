# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# The class report's class (test_class_report.py): output_size divides with / and returns a float.
# Only output_size_check (3 points) may fail (tests/assignments/00_foundations/mistakes.toml).
# --- cell: output_size
def output_size(N, F, S=1, P=0):
    travel = N - F + 2 * P
    if travel < 0:
        raise ValueError(f"the filter is larger than the padded input ({N + 2 * P})")
    if travel % S != 0:
        raise ValueError(f"stride {S} does not fit the padded input")
    return travel / S + 1
