# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# The class report's class: missing_bias.py's mistake written another way. It fails as missing_bias does:
# conv_params_check, conv_layer_cost_check and tiny_net_check.
# --- cell: conv_params
def conv_params(C_in, K, F, bias=True):
    per_filter = C_in * F * F
    return per_filter * K
