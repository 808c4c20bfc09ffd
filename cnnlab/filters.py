"""First-layer filters as a picture: each filter's weights shown as a small colour image."""

from __future__ import annotations

import torch
from torch import nn

from .errors import ConfigError

__all__ = ["filter_grid", "show_filters"]


def filter_grid(weight: torch.Tensor, columns: int | None = None, gap: int = 1) -> torch.Tensor:
    """The filters of a conv weight (out, in, k, k) tiled into one (H, W, 3) image with values in [0, 1].

    Each filter is stretched to [0, 1] on its own, as in Krizhevsky et al.'s figure 3, so a filter
    with small weights is as visible as one with large weights. Filters with 3 input channels are
    shown in colour; others show their first channel in grey. Gaps between filters are white.
    """
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        got = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ConfigError(f"filter_grid() needs a conv weight of shape (out, in, k, k); got {got}")
    filters = weight.detach().float().cpu()
    filters = filters[:, :3] if filters.shape[1] >= 3 else filters[:, :1].expand(-1, 3, -1, -1)
    low = filters.amin(dim=(1, 2, 3), keepdim=True)
    high = filters.amax(dim=(1, 2, 3), keepdim=True)
    filters = (filters - low) / (high - low).clamp_min(1e-12)
    count, _, height, width = filters.shape
    columns = columns or max(1, round((count * 2) ** 0.5))
    rows = -(-count // columns)
    grid = torch.ones(3, rows * (height + gap) + gap, columns * (width + gap) + gap)
    for index in range(count):
        top = gap + (index // columns) * (height + gap)
        left = gap + (index % columns) * (width + gap)
        grid[:, top : top + height, left : left + width] = filters[index]
    return grid.permute(1, 2, 0)


def show_filters(layer: nn.Module | torch.Tensor, title: str | None = None, columns: int | None = None):
    """Shows a conv layer's filters (or a weight tensor) as an image grid; returns the matplotlib Figure.

    In a notebook it shows once, whether the cell ends with ``show_filters(...)`` or ``show_filters(...);``.
    """
    from .figures import new_figure, show  # only here: the rest of the toolkit needs no plotting

    weight = layer.weight if isinstance(layer, nn.Conv2d) else layer
    if isinstance(layer, nn.Module) and not isinstance(layer, nn.Conv2d):
        raise ConfigError(f"show_filters() takes an nn.Conv2d or its weight; got {type(layer).__name__}")
    grid = filter_grid(weight, columns)
    count, channels, height, width = weight.shape
    grid_height, grid_width = grid.shape[:2]
    figure_width = min(10.0, max(3.0, 0.12 * grid_width))
    figure = new_figure(figsize=(figure_width, figure_width * grid_height / grid_width + 0.4))
    axis = figure.subplots()
    axis.imshow(grid.numpy(), interpolation="nearest")
    axis.set_axis_off()
    axis.set_title(title or f"{count} filters of {channels}×{height}×{width}", fontsize=10)
    figure.tight_layout()
    return show(figure)
