"""cnnlab.show_feature_maps: which maps it picks per stage, on a tiny net whose channels' activity is set by hand,
on the CPU in seconds, leaving the model's weights and mode as they were."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.errors import ConfigError
from cnnlab.feature_maps import feature_maps, show_feature_maps


def tiny_net() -> nn.Sequential:
    """Two stages: a 1×1 conv whose channel k is k times the image's first channel (k = 0..3, so channel 3 is the
    most active, then 2, 1, 0), then a 2×2 max pool and a conv of 2 channels, and a classifier on 1×1."""
    first = nn.Conv2d(3, 4, 1)
    second = nn.Conv2d(4, 2, 3, padding=1)
    with torch.no_grad():
        first.weight.zero_()
        first.bias.zero_()
        for channel in range(4):
            first.weight[channel, 0] = float(channel)
        second.weight.zero_()
        second.bias.copy_(torch.tensor([0.5, -3.0]))  # channel 1 is negative everywhere: more active in size
    return nn.Sequential(
        first,
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        second,
        nn.BatchNorm2d(2),
        nn.MaxPool2d(4),  # 4×4 -> 1×1: a map of one value per channel is left out
        nn.Flatten(),
        nn.Linear(2, 3),
    )


COURSE_LIKE = SimpleNamespace(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def bright_image() -> torch.Tensor:
    return torch.full((3, 8, 8), 255, dtype=torch.uint8)  # normalised: (1 - 0.5) / 0.25 = 2 everywhere


def test_each_stage_shows_the_last_map_at_its_size_and_its_most_active_channels_first():
    stages = feature_maps(tiny_net(), bright_image(), COURSE_LIKE, channels=3)
    # 8×8: the ReLU after the first conv (its output, not the conv's: the ReLU works in place on it);
    # 4×4: batch norm after the second conv; the 1×1 map after the last pool is left out
    assert [(s.layer, s.kind, s.shape) for s in stages] == [
        ("1", "ReLU", (4, 8, 8)),
        ("4", "BatchNorm2d", (2, 4, 4)),
    ]
    first, second = stages
    assert first.channels == [3, 2, 1]  # channel k holds k × 2: the most active first, three of four
    assert first.activity == pytest.approx([6.0, 4.0, 2.0])
    assert torch.allclose(first.maps, torch.stack([torch.full((8, 8), v) for v in (6.0, 4.0, 2.0)]))
    assert second.channels == [1, 0]  # by the size of its activation: -3 is more active than 0.5
    assert second.maps.shape == (2, 4, 4)


def test_a_float_image_is_taken_as_normalised_and_a_uint8_one_needs_the_datasets_statistics():
    normalised = torch.full((3, 8, 8), 2.0)
    from_float = feature_maps(tiny_net(), normalised, channels=1)
    from_uint8 = feature_maps(tiny_net(), bright_image(), COURSE_LIKE, channels=1)
    assert torch.equal(from_float[0].maps, from_uint8[0].maps)
    with pytest.raises(ConfigError, match="pass the dataset too"):
        feature_maps(tiny_net(), bright_image())
    with pytest.raises(ConfigError, match=r"one image of shape \(C, H, W\)"):
        feature_maps(tiny_net(), normalised.unsqueeze(0))


def test_layers_names_the_maps_to_show_and_an_unknown_name_is_refused():
    stages = feature_maps(tiny_net(), bright_image(), COURSE_LIKE, channels=2, layers=["0", "3"])
    assert [(s.layer, s.kind, s.channels) for s in stages] == [
        ("0", "Conv2d", [3, 2]),
        ("3", "Conv2d", [1, 0]),
    ]
    with pytest.raises(ConfigError, match="no layer named 'features.9'"):
        feature_maps(tiny_net(), bright_image(), COURSE_LIKE, layers=["features.9"])


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_the_model_keeps_its_weights_and_its_mode(mode):
    model = tiny_net().train(mode == "train")
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    show_feature_maps(model, bright_image(), COURSE_LIKE)
    # batch norm's running statistics included: the image ran in eval mode, under no_grad
    assert all(torch.equal(tensor, before[name]) for name, tensor in model.state_dict().items())
    assert all(m.training == (mode == "train") for m in model.modules())
    assert all(p.grad is None for p in model.parameters())


def test_the_figure_has_the_image_and_one_row_per_stage_and_takes_seconds_on_the_cpu():
    torch.manual_seed(0)
    model = nn.Sequential(  # an AlexNet-mini's size: 32×32 images, three stages
        nn.Conv2d(3, 24, 5, 2, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(24, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 96, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(), nn.Linear(96, 10),
    )  # fmt: skip
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    start = time.perf_counter()
    figure = show_feature_maps(model, image, COURSE_LIKE, channels=4, title="AlexNet-mini")
    seconds = time.perf_counter() - start
    assert seconds < 10, f"{seconds:.1f} s"
    rows, columns = figure.axes[0].get_subplotspec().get_gridspec().get_geometry()
    assert (rows, columns) == (1 + 3, 1 + 4)  # the image, then 16×16, 7×7 and 3×3 maps, each with 4 channels
    assert figure._suptitle.get_text() == "AlexNet-mini"
    assert sum(len(axis.images) for axis in figure.axes) == 1 + 3 * 4


def test_show_feature_maps_is_exported_lazily():
    assert cnnlab.show_feature_maps is show_feature_maps
    assert "show_feature_maps" in cnnlab.__all__
