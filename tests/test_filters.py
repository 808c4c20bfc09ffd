"""filter_grid / show_filters: first-layer filters as one picture."""

import pytest
import torch
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.filters import filter_grid, show_filters


def test_the_grid_tiles_every_filter_with_white_gaps():
    weight = torch.randn(24, 3, 5, 5)
    grid = filter_grid(weight, columns=6)
    assert grid.shape == (4 * 6 + 1, 6 * 6 + 1, 3)  # 4 rows × 6 columns of 5×5 tiles, 1-pixel gaps
    assert grid.min() >= 0 and grid.max() <= 1
    assert torch.all(grid[0] == 1) and torch.all(grid[:, 0] == 1)  # the gaps
    first = grid[1:6, 1:6].permute(2, 0, 1)
    expected = (weight[0] - weight[0].min()) / (weight[0].max() - weight[0].min())
    assert torch.allclose(first, expected)  # each filter stretched to [0, 1] on its own


def test_filters_of_one_channel_are_grey_and_constant_filters_do_not_divide_by_zero():
    grid = filter_grid(torch.ones(2, 1, 3, 3))
    assert torch.all(grid[..., 0] == grid[..., 1]) and torch.isfinite(grid).all()


def test_show_filters_takes_a_layer_or_its_weight():
    layer = nn.Conv2d(3, 8, 5)
    for thing in (layer, layer.weight):
        figure = show_filters(thing)
        assert figure.axes[0].get_title() == "8 filters of 3×5×5"


@pytest.mark.parametrize("bad", [nn.Linear(3, 4), torch.zeros(3, 3), "conv1"])
def test_anything_else_is_refused_with_a_sentence(bad):
    with pytest.raises(ConfigError, match="(?i)conv"):
        show_filters(bad)
