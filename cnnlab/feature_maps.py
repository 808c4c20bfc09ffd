"""What the layers do to an image: one image through a trained net, and, per stage, its most active feature maps.

    from cnnlab import show_feature_maps
    show_feature_maps(model, data.x_test[0], data)   # a course image (uint8), normalised as fit normalises it

A *stage* is a run of layers that keep the map's size: its maps are those of the last layer before the size
changes (after a conv's ReLU, before the pool that halves the map), so a row shows what the net sees at that depth.
A map of 1×1 is one number per channel, and is left out. ``layers=`` names the layers to show instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .errors import ConfigError

__all__ = ["StageMaps", "feature_maps", "show_feature_maps"]


@dataclass
class StageMaps:
    """One stage's maps: the layer they come from and the ``channels`` chosen, most active first."""

    layer: str  # the module's path ("features.4"), "#2" for its second call
    kind: str  # its class ("ReLU")
    shape: tuple[int, ...]  # the layer's output, channels×H×W
    channels: list[int]  # the channels shown, most active first
    activity: list[float]  # each one's mean absolute activation
    maps: torch.Tensor  # (len(channels), H, W), on the CPU


def _as_input(image: torch.Tensor, data, device: torch.device) -> torch.Tensor:
    """A batch of one float image on ``device``: a uint8 image is normalised with the dataset's mean and std,
    as ``fit`` feeds the model; a float image is taken as already normalised."""
    if not isinstance(image, torch.Tensor) or image.dim() != 3:
        got = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ConfigError(f"show_feature_maps() needs one image of shape (C, H, W); got {got}")
    if image.dtype == torch.uint8:
        if data is None:
            raise ConfigError(
                "a uint8 image is normalised as fit normalises it, with the dataset's mean and std: "
                "pass the dataset too, show_feature_maps(model, data.x_test[0], data)"
            )
        mean = torch.tensor(data.mean, dtype=torch.float32).view(-1, 1, 1)
        std = torch.tensor(data.std, dtype=torch.float32).view(-1, 1, 1)
        image = (image.float() / 255 - mean) / std
    return image.float().unsqueeze(0).to(device)


def _leaf_outputs(model: nn.Module, x: torch.Tensor) -> list[tuple[str, str, torch.Tensor]]:
    """(name, class, output of one image) of every leaf module's call that gave a map (C, H, W), in call order."""
    outputs: list[tuple[str, str, torch.Tensor]] = []
    calls: dict[str, int] = {}

    def record(name):
        def hook(module, args, output):
            if isinstance(output, torch.Tensor) and output.dim() == 4:
                calls[name] = calls.get(name, 0) + 1
                label = name if calls[name] == 1 else f"{name}#{calls[name]}"
                # a copy: an in-place ReLU after this layer would change the tensor it returned
                outputs.append((label, type(module).__name__, output[0].detach().float().cpu().clone()))

        return hook

    handles = [
        module.register_forward_hook(record(name or type(module).__name__))
        for name, module in model.named_modules()
        if not module._modules
    ]
    training = {module: module.training for module in model.modules()}
    model.eval()  # batch norm with its running statistics, no dropout: what the trained net does at test time
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in training.items():
            vars(module)["training"] = flag  # put back as it was, without __setattr__
    return outputs


def _stage_ends(outputs, min_size: int) -> list[tuple[str, str, torch.Tensor]]:
    """The last output of each run of consecutive calls with the same map size, of maps at least min_size wide."""
    ends = []
    for index, (name, kind, maps) in enumerate(outputs):
        following = outputs[index + 1][2] if index + 1 < len(outputs) else None
        if following is not None and following.shape[1:] == maps.shape[1:]:
            continue
        if min(maps.shape[1:]) >= min_size:
            ends.append((name, kind, maps))
    return ends


def feature_maps(
    model: nn.Module,
    image: torch.Tensor,
    data=None,
    *,
    channels: int = 6,
    layers: list[str] | None = None,
    min_size: int = 2,
) -> list[StageMaps]:
    """Passes ``image`` (C, H, W) through ``model`` in eval mode and returns, per stage, the maps of its
    ``channels`` most active channels (largest mean absolute activation), most active first.

    ``image``: uint8, as the dataset holds it (then ``data`` gives the mean and std to normalise it with, as
    ``fit`` does), or float, already normalised. ``layers``: the module names to show instead of the stages
    (each call of a layer that gives a map; "name#2" for a layer's second call). The model's weights and its
    training or eval mode are left as they were.
    """
    if not isinstance(channels, int) or channels < 1:
        raise ConfigError(f"channels should be a positive int; got {channels!r}")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    outputs = _leaf_outputs(model, _as_input(image, data, device))
    if layers is not None:
        by_name = {name: (name, kind, maps) for name, kind, maps in outputs}
        unknown = [name for name in layers if name not in by_name]
        if unknown:
            raise ConfigError(
                f"no layer named {', '.join(map(repr, unknown))} gave a map; those that did: "
                f"{', '.join(by_name)}"
            )
        chosen = [by_name[name] for name in layers]
    else:
        chosen = _stage_ends(outputs, min_size)
    stages = []
    for name, kind, maps in chosen:
        activity = maps.abs().mean(dim=(1, 2))
        order = torch.argsort(activity, descending=True, stable=True)[:channels].tolist()
        stages.append(
            StageMaps(name, kind, tuple(maps.shape), order, [activity[c].item() for c in order], maps[order])
        )
    return stages


def show_feature_maps(
    model: nn.Module,
    image: torch.Tensor,
    data=None,
    *,
    channels: int = 6,
    layers: list[str] | None = None,
    title: str | None = None,
):
    """Shows the image, then one row per stage: the maps of its most active channels. Returns the Figure.

    Each map is stretched to its own range (bright: strong activation). Arguments as for ``feature_maps``.
    """
    from .figures import new_figure, show  # only here: the rest of the toolkit needs no plotting

    stages = feature_maps(model, image, data, channels=channels, layers=layers)
    columns = max([1, *(len(s.channels) for s in stages)])
    # the first row holds the image; each stage's row, its name in the first column, then its maps
    figure = new_figure(figsize=(1.4 * (columns + 1), 1.4 * (len(stages) + 1) + 0.5))
    axes = figure.subplots(len(stages) + 1, columns + 1, squeeze=False)
    for axis in axes.flat:
        axis.set_axis_off()
    picture = image.detach().float().cpu()
    picture = (picture - picture.min()) / (picture.max() - picture.min()).clamp_min(1e-12)
    if picture.shape[0] == 3:
        axes[0][0].imshow(picture.permute(1, 2, 0).numpy(), interpolation="nearest")
    else:
        axes[0][0].imshow(picture[0].numpy(), cmap="gray", interpolation="nearest")
    axes[0][0].set_title("the image", fontsize=8)
    for stage, axis_row in zip(stages, axes[1:]):
        label = f"{stage.layer}\n{stage.kind}\n{'×'.join(map(str, stage.shape))}"
        axis_row[0].text(
            0.5, 0.5, label, ha="center", va="center", fontsize=7, transform=axis_row[0].transAxes
        )
        for axis, channel, maps in zip(axis_row[1:], stage.channels, stage.maps):
            axis.imshow(maps.numpy(), cmap="viridis", interpolation="nearest")
            axis.set_title(f"channel {channel}", fontsize=7)
    figure.suptitle(title or "the most active channels at each stage", fontsize=10)
    figure.tight_layout()
    return show(figure)
