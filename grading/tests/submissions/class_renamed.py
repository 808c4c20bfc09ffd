# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# The class report's class: alternative.py with its variables renamed (a planted copy); the class's builder also
# moves its conv_params cells before output_size's, and swaps its two written answers.
# --- cell: output_size
def output_size(N, F, S=1, P=0):
    """Output width of a conv layer, or ValueError when the filter does not fit."""
    full = N + 2 * P
    if F > full:
        raise ValueError(f"a {F}-wide filter does not fit in {full} padded columns")
    moves, left_over = divmod(full - F, S)
    if left_over:
        raise ValueError(f"stride {S} leaves {left_over} column(s) of the padded input uncovered")
    return moves + 1


# --- cell: conv_params
def conv_params(C_in, K, F, bias=True):
    return K * F * F * C_in + (K if bias else 0)


# --- cell: conv_layer_cost
def conv_layer_cost(input_shape, K, F, S=1, P=0):
    depth, h, w = input_shape
    out_h, out_w = output_size(h, F, S, P), output_size(w, F, S, P)
    spots = out_h * out_w
    return {
        "params": conv_params(depth, K, F),
        "output_shape": (K, out_h, out_w),
        "activation_bytes": 4 * K * spots,
        "macs": K * spots * depth * F * F,
    }


# --- cell: tiny_net_params
def tiny_net_params(channels=8, kernel_size=3, num_classes=10, input_size=32):
    n, depth, size = 0, 3, input_size
    for width in (channels, 2 * channels):
        n += conv_params(depth, width, kernel_size)
        depth, size = width, size // 2
    return n + (depth * size * size + 1) * num_classes
