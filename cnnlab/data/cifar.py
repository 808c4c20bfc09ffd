"""A reader for a local copy of CIFAR-10 in its standard python-pickle format. Nothing is downloaded.

The folder ``cifar-10-batches-py/`` (from ``cifar-10-python.tar.gz``) holds ``data_batch_1`` to
``data_batch_5`` and ``test_batch``, each a pickled dict with b"data", uint8 (N, 3072): the red,
green then blue 32×32 planes of each image, row by row, and b"labels", a list of N class
indices; and ``batches.meta``, with b"label_names". The unpickler accepts numpy arrays, lists,
strings and numbers only, so a file that is not what it claims cannot run code.
"""

import codecs
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .images import ImageData
from .stats import channel_mean_std

__all__ = ["CIFAR_FILES", "load_cifar10"]

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
CIFAR_FILES = (*TRAIN_FILES, TEST_FILE, META_FILE)
SUBFOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
HOW_TO_GET = (
    "Nothing is downloaded automatically: download cifar-10-python.tar.gz by hand from "
    "https://www.cs.toronto.edu/~kriz/cifar.html, extract it (tar xzf cifar-10-python.tar.gz) "
    "and pass the folder it makes, cifar-10-batches-py, or the folder that contains it."
)


def _numpy_global(name: str):
    """numpy's pickle helpers, found through objects rather than module paths, which moved in numpy 2."""
    return {
        "_reconstruct": np.zeros(1).__reduce__()[0],
        "scalar": np.float64(0).__reduce__()[0],
        "ndarray": np.ndarray,
        "dtype": np.dtype,
        "encode": codecs.encode,
    }[name]


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain data and numpy arrays; refuses any other class or function."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes at pickle protocol 2
    }

    def find_class(self, module: str, name: str):
        if (module.replace("numpy._core", "numpy.core"), name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR-10 batch never does")
        return _numpy_global(name)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as file:
            content = _ArrayUnpickler(file, encoding="bytes").load()  # the batches were pickled by Python 2
    except Exception as error:  # any failure to unpickle means the same to the user: not a batch file
        raise DataError(f"{path} is not a CIFAR-10 python batch ({error}). {HOW_TO_GET}") from error
    if not isinstance(content, dict):
        raise DataError(f"{path} holds a {type(content).__name__}, expected a CIFAR-10 batch (a dict).")
    # Python 2 pickles give bytes keys; a copy re-saved by Python 3 may give str keys.
    return {key.decode("latin-1") if isinstance(key, bytes) else key: value for key, value in content.items()}


def _field(batch: dict, key: str, path: Path):
    if key not in batch:
        raise DataError(
            f"{path} has no {key!r} entry (it has {sorted(map(str, batch))}), so it is not a CIFAR-10 batch."
        )
    return batch[key]


def _read_batch(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 32, 32) uint8 images and (N,) int64 labels of one batch file."""
    batch = _unpickle(path)
    data = _field(batch, "data", path)
    labels = _field(batch, "labels", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        described = (
            f"{data.dtype} array of shape {data.shape}"
            if isinstance(data, np.ndarray)
            else type(data).__name__
        )
        raise DataError(
            f"{path} holds its images as a {described}, expected a uint8 array of shape (N, 3072)."
        )
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError) as error:
        raise DataError(f"{path} holds labels that are not whole numbers ({error}).") from error
    if labels.shape != (len(data),):
        raise DataError(
            f"{path} holds {len(data)} images but {labels.size} labels; each image needs one label."
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(
            f"{path} holds labels from {labels.min()} to {labels.max()}, expected 0 to {num_classes - 1}."
        )
    return data.reshape(-1, 3, 32, 32), labels


def _batch_folder(folder: Path) -> Path:
    """``folder`` itself, or its cifar-10-batches-py/ subfolder; a DataError when neither holds the batches."""
    if not folder.is_dir():
        what = "a file" if folder.exists() else "nothing"
        raise DataError(
            f"Expected a folder with the CIFAR-10 python batches at {folder}, but there is {what} there. {HOW_TO_GET}"
        )
    inner = folder / SUBFOLDER
    if inner.is_dir() and not (folder / META_FILE).exists():
        folder = inner
    missing = [name for name in CIFAR_FILES if not (folder / name).is_file()]
    if missing:
        found = sorted(entry.name for entry in folder.iterdir())
        shown = ", ".join(found[:12]) + (f" and {len(found) - 12} more" if len(found) > 12 else "")
        extract = f" {ARCHIVE} is there: extract it first." if ARCHIVE in found else ""
        raise DataError(
            f"Expected the CIFAR-10 python batches {', '.join(CIFAR_FILES)} in {folder}, but "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing "
            f"(found: {shown or 'nothing'}).{extract} {HOW_TO_GET}"
        )
    return folder


def load_cifar10(folder: str | os.PathLike) -> ImageData:
    """CIFAR-10 from a local folder: 50,000 training and 10,000 test images, 32×32 RGB, 10 classes.

    ``folder`` is ``cifar-10-batches-py`` (extracted from ``cifar-10-python.tar.gz``) or the folder
    that contains it. Nothing is downloaded; a missing or malformed file gives a DataError that
    says which and how to get the data.
    """
    folder = _batch_folder(Path(folder).expanduser())
    meta = _unpickle(folder / META_FILE)
    names = _field(meta, "label_names", folder / META_FILE)
    classes = tuple(name.decode() if isinstance(name, bytes) else str(name) for name in names)
    train = [_read_batch(folder / name, len(classes)) for name in TRAIN_FILES]
    x_test, y_test = _read_batch(folder / TEST_FILE, len(classes))
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    mean, std = channel_mean_std(x_train)
    return ImageData(
        name="cifar-10",
        classes=classes,
        x_train=torch.from_numpy(x_train),
        y_train=torch.from_numpy(y_train),
        x_test=torch.from_numpy(x_test),
        y_test=torch.from_numpy(y_test),
        mean=mean,
        std=std,
    )
