"""he_init: He-normal weights and zero biases, so a deep plain ReLU net starts learning."""

import math

import pytest
import torch
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.init import he_init


def test_weights_have_he_scale_and_biases_are_zero():
    torch.manual_seed(0)
    model = he_init(nn.Sequential(nn.Conv2d(64, 256, 3), nn.ReLU(), nn.Flatten(), nn.Linear(1024, 512)))
    for layer, fan_in in ((model[0], 64 * 9), (model[3], 1024)):
        assert layer.weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.02)
        assert torch.all(layer.bias == 0)


def test_the_signal_keeps_its_scale_through_eight_relu_layers():
    torch.manual_seed(0)
    layers = [m for _ in range(8) for m in (nn.Linear(512, 512), nn.ReLU())]
    x = torch.randn(256, 512)
    default, he = nn.Sequential(*layers)(x), he_init(nn.Sequential(*layers))(x)
    assert 0.3 < he.pow(2).mean().sqrt() < 3  # about the input's scale
    assert default.pow(2).mean().sqrt() < 0.05  # PyTorch's default shrinks it


def test_it_refuses_what_is_not_a_module():
    with pytest.raises(ConfigError, match="nn.Module"):
        he_init(torch.zeros(3))
