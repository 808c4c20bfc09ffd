"""Which device to compute on, and how to describe it in one line."""

import os

import torch

__all__ = ["default_device", "describe"]


def default_device() -> torch.device:
    """The GPU when there is one (CUDA or Apple's MPS), else the CPU.

    ``CNNLAB_DEVICE=cpu`` forces a device, so a GPU owner can reproduce a CPU run.
    """
    forced = os.environ.get("CNNLAB_DEVICE")
    if forced:
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe(device: torch.device | str | None = None) -> str:
    """'cuda: NVIDIA H100 80GB HBM3' or 'cpu: 2 threads'."""
    device = torch.device(device) if device is not None else default_device()
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu: {threads} thread{'s' if threads != 1 else ''}"
    return device.type
