"""The first code cell of every notebook: seed, device and versions, in one line each."""

import platform

import torch

from .device import default_device, describe
from .train import cpu_threads, seed_everything

__all__ = ["setup_notebook"]


def setup_notebook(seed: int = 0) -> torch.device:
    """Seed everything, pick the device, print what this notebook runs on; returns the device.

    On a CPU it sets torch's thread count to what ``fit`` trains with (``cpu_threads()``), so the
    line it prints, the cells that follow and every training run agree.
    """
    seed_everything(seed)
    device = default_device()
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads())
    print(f"cnnlab: torch {torch.__version__}, Python {platform.python_version()}, seed {seed}")
    print(f"device: {describe(device)}")
    return device
