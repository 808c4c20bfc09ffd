"""The first code cell of every notebook: seed, device and versions, in one line each."""

import platform

import torch

from .device import default_device, describe
from .train import seed_everything

__all__ = ["setup_notebook"]


def setup_notebook(seed: int = 0) -> torch.device:
    """Seed everything, pick the device, print what this notebook runs on; returns the device."""
    seed_everything(seed)
    device = default_device()
    print(f"cnnlab: torch {torch.__version__}, Python {platform.python_version()}, seed {seed}")
    print(f"device: {describe(device)}")
    return device
