"""Weight initialisation that lets a deep plain ReLU network start learning in a short run."""

from torch import nn

from .errors import ConfigError

__all__ = ["he_init"]


def he_init(model: nn.Module) -> nn.Module:
    """He (Kaiming) normal weights and zero biases in every conv and linear layer; returns ``model``.

    PyTorch's default initialisation shrinks the signal at every ReLU layer. Over LeNet's five
    layers that does not matter; over AlexNet's eight, without batch norm, the logits start near
    zero and a short run does not leave chance. He et al. (2015) scale each layer's weights by
    sqrt(2 / fan_in), which keeps the signal's variance through ReLUs.
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"he_init() takes an nn.Module (a network); got {type(model).__name__}")
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model
