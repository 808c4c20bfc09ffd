# ruff: noqa: F821, E402  (a notebook cell: its names come from the notebook's other cells)
# The first answer cell starts 400 sleeping processes and leaves them running (issue 10). The process limit stops
# the loop (BlockingIOError); the function is defined before it. Later, the kernel, still at its limit, shows a
# figure: its message reaches the grader with an invalid signature, which made the grader itself fail
# ("ValueError: Invalid Signature", status error, every time). Now the message is dropped and noted, nothing
# graded depends on it, and every check passes. The sleepers die with the kernel's sandbox.
# --- cell: autograd_by_hand
import subprocess


def gradients_by_hand(x, y, z):
    """(dc/dx, dc/dy, dc/dz) for c = sum((x * y + z) ** 2), derived with the chain rule."""
    dc_db = 2 * (x * y + z)
    return dc_db * y, dc_db * x, dc_db


for _ in range(400):
    subprocess.Popen(["sleep", "1234.5"])


# --- cell: tiny_net_params
# At the process limit, a figure's output is what came back with an invalid signature (01_lenet's show_examples)
import matplotlib.pyplot as plt


def tiny_net_params(channels=8, kernel_size=3, num_classes=10, input_size=32):
    convs = conv_params(3, channels, kernel_size) + conv_params(channels, 2 * channels, kernel_size)
    side = input_size // 4
    return convs + 2 * channels * side * side * num_classes + num_classes


figure, axes = plt.subplots(4, 8, figsize=(12, 6))
for index, ax in enumerate(axes.flat):
    ax.imshow(torch.rand(32, 32, 3).numpy())
    ax.set_title(f"image {index}")
plt.show()
