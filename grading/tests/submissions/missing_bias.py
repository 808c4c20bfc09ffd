# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# Subtly wrong: conv_params forgets the biases. Every check that counts parameters fails:
# conv_params_check (2), conv_layer_cost_check (3) and tiny_net_check (2); output_size_check (3) passes.
# --- cell: conv_params
def conv_params(C_in, K, F, bias=True):
    return K * F * F * C_in
