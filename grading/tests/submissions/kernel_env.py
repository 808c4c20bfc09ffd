# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# A correct answer that prints the kernel's OpenMP wait policy: every kernel the kit starts has the course's
# KERNEL_ENV (cnnlab.kernel_env) in its environment from the start, before torch loads. Full marks.
import os

print(f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")


def tiny_net_params(channels=8, kernel_size=3, num_classes=10, input_size=32):
    convs = conv_params(3, channels, kernel_size) + conv_params(channels, 2 * channels, kernel_size)
    side = input_size // 4
    return convs + 2 * channels * side * side * num_classes + num_classes
