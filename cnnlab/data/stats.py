"""Per-channel mean and standard deviation of uint8 images, the same to the last digit everywhere."""

import math

import numpy as np

__all__ = ["channel_mean_std"]

_STEP = 2048  # images per pass: bounds the int64 temporaries to a few MB per channel


def channel_mean_std(images: np.ndarray, digits: int = 6) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and (population) standard deviation of each channel of (N, C, H, W) uint8 images, on a 0..1 scale.

    The sums are exact integers and the one division per statistic is correctly rounded, so the
    result does not depend on summation order, CPU or library version; rounding to ``digits``
    decimals keeps printed values short.
    """
    channels = images.shape[1]
    values = np.arange(256, dtype=np.int64)
    means, stds = [], []
    for c in range(channels):
        counts = np.zeros(256, dtype=np.int64)
        for start in range(0, len(images), _STEP):
            counts += np.bincount(images[start : start + _STEP, c].ravel(), minlength=256)
        n = int(counts.sum())
        if n == 0:
            means.append(0.0)
            stds.append(0.0)
            continue
        total = int((counts * values).sum())
        squares = int((counts * values * values).sum())
        means.append(round(total / (n * 255), digits))
        variance = (squares * n - total * total) / (n * n * 255 * 255)  # exact integers until this division
        stds.append(round(math.sqrt(variance), digits))
    return tuple(means), tuple(stds)
