# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# The class report's class: a correct solution in a style of its own, which class_own_copy hands in again
# (full marks both; the copy finder must pair them).
# --- cell: output_size
def output_size(N, F, S=1, P=0):
    span = N + P + P - F
    if span < 0:
        raise ValueError(f"filter {F} is wider than the padded input {N + 2 * P}")
    whole, rest = span // S, span % S
    if rest:
        raise ValueError(f"stride {S} leaves {rest} column(s) unreached")
    return 1 + whole


# --- cell: conv_params
def conv_params(C_in, K, F, bias=True):
    count = 0
    for _ in range(K):
        count += C_in * F * F
        if bias:
            count += 1
    return count


# --- cell: conv_layer_cost
def conv_layer_cost(input_shape, K, F, S=1, P=0):
    depth, rows, cols = input_shape
    new_rows = output_size(rows, F, S=S, P=P)
    new_cols = output_size(cols, F, S=S, P=P)
    cells = K * new_rows * new_cols
    result = {}
    result["output_shape"] = (K, new_rows, new_cols)
    result["params"] = conv_params(depth, K, F)
    result["macs"] = cells * depth * F * F
    result["activation_bytes"] = 4 * cells
    return result


# --- cell: tiny_net_params
def tiny_net_params(channels=8, kernel_size=3, num_classes=10, input_size=32):
    layers = [(3, channels), (channels, 2 * channels)]
    total = sum(conv_params(a, b, kernel_size) for a, b in layers)
    flat = 2 * channels * (input_size // 4) ** 2
    total += flat * num_classes
    total += num_classes
    return total
