"""The course dataset on disk: where it lives, building it once, checking it, loading it.

The images are generated (``render.py``), never downloaded: the course runs offline. The build is
byte-identical on every machine, so one SHA-256, kept below, checks every copy. The hash covers
a canonical byte string of the arrays, not the .npz file, whose zip headers can hold timestamps.
"""

import contextlib
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .images import ImageData
from .render import IMAGE_SIZE, render_images
from .shapes import COURSE_CLASSES
from .stats import channel_mean_std

__all__ = [
    "COURSE_SPEC",
    "CourseSpec",
    "arrays_sha256",
    "build_course_data",
    "data_root",
    "dataset_path",
    "ensure_course_data",
    "generate",
    "load_course_data",
    "verify_course_data",
]


@dataclass(frozen=True)
class CourseSpec:
    """What to generate, and the SHA-256 the result must have."""

    name: str
    seed: int
    train_count: int
    test_count: int
    sha256: str


COURSE_SPEC = CourseSpec(
    name="course-shapes-v1",
    seed=231,
    train_count=20_000,
    test_count=5_000,
    sha256="46219a024802cb2f1a722b9ff9a4769933554e8bfa3e2c960bd5d56d60af0c89",
)

# The arrays in the file, in the order the hash reads them, with the dtype and shape tail each must have.
_LAYOUT = {
    "x_train": (np.uint8, (3, IMAGE_SIZE, IMAGE_SIZE)),
    "y_train": (np.int64, ()),
    "x_test": (np.uint8, (3, IMAGE_SIZE, IMAGE_SIZE)),
    "y_test": (np.int64, ()),
}
_TRAIN, _TEST = 0, 1  # the second word of each split's seed


def _say(message: str) -> None:
    print(message, flush=True)


def data_root() -> Path:
    """The folder that holds generated datasets.

    ``$CNNLAB_DATA`` when set; else ``data/`` in the course checkout when the toolkit is used from
    there (an editable install) and that folder is writable; else ``~/.cache/cnnlab``.
    """
    configured = os.environ.get("CNNLAB_DATA")
    if configured:
        return Path(configured).expanduser()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file():
        folder = checkout / "data"
        if os.access(folder if folder.exists() else checkout, os.W_OK):
            return folder
    return Path.home() / ".cache" / "cnnlab"


def dataset_path(root: str | os.PathLike | None = None, spec: CourseSpec = COURSE_SPEC) -> Path:
    """Where the dataset's .npz file lives under ``root`` (default: ``data_root()``)."""
    return Path(root if root is not None else data_root()).expanduser() / f"{spec.name}.npz"


def generate(spec: CourseSpec = COURSE_SPEC) -> dict[str, np.ndarray]:
    """Renders the whole dataset in memory: x_train, y_train, x_test, y_test."""
    x_train, y_train = render_images(spec.train_count, (spec.seed, _TRAIN))
    x_test, y_test = render_images(spec.test_count, (spec.seed, _TEST))
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def arrays_sha256(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the arrays' canonical bytes: for each, in a fixed order, a header line then its
    little-endian C-order contents."""
    digest = hashlib.sha256()
    for key, (dtype, _) in _LAYOUT.items():
        array = np.ascontiguousarray(arrays[key], dtype=np.dtype(dtype).newbyteorder("<"))
        digest.update(f"{key} {np.dtype(dtype).name} {array.shape}\n".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _read(path: Path) -> dict[str, np.ndarray]:
    """The arrays in ``path``; a DataError saying what is wrong when it is not a dataset file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in _LAYOUT if key not in archive.files]
            if missing:
                raise DataError(f"{path} lacks the arrays {', '.join(missing)}.")
            arrays = {key: archive[key] for key in _LAYOUT}
    except DataError:
        raise
    except Exception as error:  # a truncated zip, a bad CRC, a folder in its place...: all mean "damaged"
        raise DataError(f"{path} cannot be read as a dataset file ({error}).") from error
    for key, (dtype, tail) in _LAYOUT.items():
        array = arrays[key]
        if array.dtype != dtype or array.shape[1:] != tail:
            raise DataError(
                f"{path} holds {key} as {array.dtype} of shape {array.shape}, "
                f"expected {np.dtype(dtype).name} of shape {('N', *tail)}.".replace("'", "")
            )
    return arrays


def _check(path: Path, spec: CourseSpec) -> dict[str, np.ndarray]:
    """The arrays in ``path`` if their SHA-256 is the expected one, else a DataError."""
    arrays = _read(path)
    found = arrays_sha256(arrays)
    if found != spec.sha256:
        raise DataError(
            f"{path} has SHA-256 {found[:12]}…, expected {spec.sha256[:12]}…: it is damaged or stale."
        )
    return arrays


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Writes atomically, so an interrupted build never leaves a half-written file behind."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temporary, path)
    except OSError as error:
        raise DataError(
            f"Could not write the course dataset to {path} ({error.strerror or error}); "
            "set the environment variable CNNLAB_DATA to a writable folder."
        ) from error
    finally:  # also after Ctrl-C
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def _generate_checked(spec: CourseSpec) -> dict[str, np.ndarray]:
    arrays = generate(spec)
    found = arrays_sha256(arrays)
    if found != spec.sha256:
        raise DataError(
            f"The generated {spec.name} dataset has SHA-256 {found}, expected {spec.sha256}: this machine "
            "renders different pixels than the reference one. Please report it with your OS, CPU and "
            "numpy version."
        )
    return arrays


def build_course_data(
    root: str | os.PathLike | None = None, force: bool = False, *, spec: CourseSpec = COURSE_SPEC
) -> Path:
    """Generates the course dataset under ``root`` unless an intact copy is already there.

    ``force`` rebuilds even an intact copy. Returns the path of the .npz file.
    """
    return ensure_course_data(root, force, spec=spec)[0]


def ensure_course_data(
    root: str | os.PathLike | None = None, force: bool = False, *, spec: CourseSpec = COURSE_SPEC
) -> tuple[Path, bool]:
    """Like ``build_course_data``, and also says whether it had to build."""
    path = dataset_path(root, spec)
    if not force and path.exists():
        try:
            _check(path, spec)
            return path, False
        except DataError as problem:
            _say(f"Rebuilding the course dataset: {problem}")
    _write(path, _generate_checked(spec))
    return path, True


def verify_course_data(root: str | os.PathLike | None = None, *, spec: CourseSpec = COURSE_SPEC) -> str:
    """The SHA-256 of the dataset under ``root`` when it is the expected one; else a DataError."""
    path = dataset_path(root, spec)
    if not path.exists():
        raise DataError(f"There is no course dataset at {path}; build it with: python -m cnnlab.data build")
    _check(path, spec)
    return spec.sha256


def load_course_data(root: str | os.PathLike | None = None, *, spec: CourseSpec = COURSE_SPEC) -> ImageData:
    """The course dataset: 10 shape classes, 32×32 RGB, 20,000 training and 5,000 test images.

    Builds it first when it is missing (a few seconds, once) and rebuilds a damaged copy; either
    way it says so in one line. The SHA-256 is checked on every load.
    """
    path = dataset_path(root, spec)
    arrays = None
    if path.exists():
        try:
            arrays = _check(path, spec)
        except DataError as problem:
            _say(f"Rebuilding the course dataset: {problem}")
    else:
        _say(f"Building the course dataset {spec.name} in {path.parent} (once, a few seconds)…")
    if arrays is None:
        start = time.perf_counter()
        arrays = _generate_checked(spec)
        _write(path, arrays)
        _say(f"Built {path} in {time.perf_counter() - start:.1f} s.")
    mean, std = channel_mean_std(arrays["x_train"])
    return ImageData(
        name=spec.name,
        classes=COURSE_CLASSES,
        x_train=torch.from_numpy(arrays["x_train"]),
        y_train=torch.from_numpy(arrays["y_train"]),
        x_test=torch.from_numpy(arrays["x_test"]),
        y_test=torch.from_numpy(arrays["y_test"]),
        mean=mean,
        std=std,
    )
