"""The one container every dataset loader returns and every training run takes."""

from dataclasses import dataclass

import torch

__all__ = ["ImageData"]


@dataclass(frozen=True)
class ImageData:
    """A labelled image classification dataset, held as uint8 tensors.

    Images are (N, C, H, W) uint8 in 0..255, labels (N,) int64. ``mean`` and ``std`` are the
    per-channel statistics of the training images on a 0..1 scale: ``fit`` normalises with them
    on the fly, so the dataset stays compact (and can live on the GPU whole).
    """

    name: str
    classes: tuple[str, ...]
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        c, h, w = self.image_shape
        return (
            f"ImageData({self.name!r}: {len(self.x_train):,} train / {len(self.x_test):,} test images, "
            f"{c}×{h}×{w}, {self.num_classes} classes)"
        )
