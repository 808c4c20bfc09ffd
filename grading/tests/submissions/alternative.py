# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# A valid solution written differently from the course's: it must get full marks.
# --- cell: output_size
def output_size(N, F, S=1, P=0):
    """Output width of a conv layer, or ValueError when the filter does not fit."""
    padded = N + 2 * P
    if F > padded:
        raise ValueError(f"a {F}-wide filter does not fit in {padded} padded columns")
    steps, uncovered = divmod(padded - F, S)
    if uncovered:
        raise ValueError(f"stride {S} leaves {uncovered} column(s) of the padded input uncovered")
    return steps + 1


# --- cell: conv_params
def conv_params(C_in, K, F, bias=True):
    return K * F * F * C_in + (K if bias else 0)


# --- cell: conv_layer_cost
def conv_layer_cost(input_shape, K, F, S=1, P=0):
    channels, height, width = input_shape
    rows, cols = output_size(height, F, S, P), output_size(width, F, S, P)
    positions = rows * cols
    return {
        "params": conv_params(channels, K, F),
        "output_shape": (K, rows, cols),
        "activation_bytes": 4 * K * positions,
        "macs": K * positions * channels * F * F,
    }


# --- cell: tiny_net_params
def tiny_net_params(channels=8, kernel_size=3, num_classes=10, input_size=32):
    total, c_in, side = 0, 3, input_size
    for c_out in (channels, 2 * channels):
        total += conv_params(c_in, c_out, kernel_size)
        c_in, side = c_out, side // 2
    return total + (c_in * side * side + 1) * num_classes
