"""The tensors in a module's output, and whether one is new memory or a view of its input."""

from __future__ import annotations

import torch


def first_tensor(output) -> torch.Tensor | None:
    """The output itself, or the first tensor of a tuple, list or dict of outputs."""
    tensors = output_tensors(output)
    return tensors[0] if tensors else None


def output_tensors(output) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for t in output if isinstance(t, torch.Tensor)]
    if isinstance(output, dict):
        return [t for t in output.values() if isinstance(t, torch.Tensor)]
    return []


def shares_memory_with(tensor: torch.Tensor, inputs: list[torch.Tensor]) -> bool:
    """True for in-place results and views (ReLU(inplace=True), Flatten): they allocate nothing new."""
    roots = {id(i._base if i._base is not None else i) for i in inputs}
    root = tensor._base if tensor._base is not None else tensor
    return id(root) in roots
