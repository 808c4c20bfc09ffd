# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# Wrong: forgets the classifier's biases. Used with the test-cell edits: tiny_net_check must fail.
def tiny_net_params(channels=8, kernel_size=3, num_classes=10, input_size=32):
    convs = conv_params(3, channels, kernel_size) + conv_params(channels, 2 * channels, kernel_size)
    side = input_size // 4
    return convs + 2 * channels * side * side * num_classes
