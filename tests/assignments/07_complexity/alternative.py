"""Notebook 07's answers written in another style than the solution's, each as correct: they must get full marks.

Each ``# %% <grade id>`` line starts the answer to that solution cell; the cells it does not name keep the
solution's answer. The style: one timed pass as an inner function, ``torch.inference_mode`` instead of
``no_grad``, the median taken by hand from the sorted readings, the ranking from (cost, name) pairs, and a phone
cost in MiB of weights. tests/assignments/test_alternatives.py runs them.
"""
# ruff: noqa: F821, E402 - the names come from earlier cells; each cell is one notebook cell


# %% latency_function
def measure_latency(model, inputs, warmup=3, repeats=7):
    """The median time in seconds of one forward pass, after ``warmup`` untimed passes."""

    def one_pass():
        if inputs.is_cuda:
            torch.cuda.synchronize()
        begin = time.perf_counter()
        model(inputs)
        if inputs.is_cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - begin

    with torch.inference_mode():
        for _ in range(warmup):
            model(inputs)
        readings = sorted(one_pass() for _ in range(repeats))
    middle = len(readings) // 2
    return readings[middle] if len(readings) % 2 else (readings[middle - 1] + readings[middle]) / 2


# %% ranking_function
def rank_models(table, cost):
    costs = {name: cost(row) for name, row in table.items()}
    return [name for _, name in sorted((value, name) for name, value in costs.items())]


# %% phone_cost_function
def phone_cost(row):
    # the download in MiB of float32 weights plus the battery in G MACs, per point of accuracy
    return (row["params"] * 4 / 2**20 + row["macs"] / 1e9) / row.get("top1")
