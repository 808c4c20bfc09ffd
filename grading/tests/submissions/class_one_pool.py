# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# The class report's class: TinyNet's classifier counted after one pool, not two. tiny_net_check fails with
# the same message as wrong_tiny_net_params.py's, other numbers.
def tiny_net_params(channels=8, kernel_size=3, num_classes=10, input_size=32):
    first = conv_params(3, channels, kernel_size)
    second = conv_params(channels, 2 * channels, kernel_size)
    side = input_size // 2
    return first + second + (2 * channels * side * side + 1) * num_classes
