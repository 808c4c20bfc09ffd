"""A grid of example images per class: the first look at any dataset."""

import torch

from ..errors import ConfigError
from .images import ImageData

__all__ = ["show_examples"]


def show_examples(data: ImageData, per_class: int = 8, split: str = "train"):
    """Shows ``per_class`` images of every class, one row per class; returns the matplotlib Figure.

    In a notebook the grid shows once, whether the cell ends with ``show_examples(data)`` or not.
    """
    from ..figures import new_figure, show  # only here: the rest of the toolkit needs no plotting

    if not isinstance(data, ImageData):
        raise ConfigError(
            f"show_examples() needs the ImageData that a loader returns; got {type(data).__name__}"
        )
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test'; got {split!r}")
    images, labels = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
    figure = new_figure(figsize=(per_class * 0.9, data.num_classes * 0.95))
    axes = figure.subplots(data.num_classes, per_class, squeeze=False)
    for label, row in enumerate(axes):
        picked = torch.nonzero(labels == label).flatten()[:per_class]
        for column, axis in enumerate(row):
            axis.set_xticks([])
            axis.set_yticks([])
            if column < len(picked):
                image = images[picked[column]]
                axis.imshow(
                    image.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray" if image.shape[0] == 1 else None
                )
        row[0].set_ylabel(data.classes[label], rotation=0, ha="right", va="center", fontsize=9)
    figure.suptitle(f"{data.name}: {per_class} {split} images per class", fontsize=10)
    figure.tight_layout()
    return show(figure)
