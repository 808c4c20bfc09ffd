# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# Subtly wrong: conv_layer_cost forgets its stride. Only conv_layer_cost_check (3 points) may fail:
# TinyNet's convs all have stride 1, so tiny_net_check still passes.
# --- cell: conv_layer_cost
def conv_layer_cost(input_shape, K, F, S=1, P=0):
    C, H, W = input_shape
    out_shape = (K, output_size(H, F, P=P), output_size(W, F, P=P))
    out_values = out_shape[0] * out_shape[1] * out_shape[2]
    return {
        "output_shape": out_shape,
        "params": conv_params(C, K, F),
        "macs": out_values * F * F * C,
        "activation_bytes": out_values * 4,
    }
