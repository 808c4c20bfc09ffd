"""The course dataset (cnnlab.data): determinism, layout, difficulty, cache handling, the CIFAR-10 reader."""

import math
import os
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnlab.data import COURSE_CLASSES, build_course_data, course, data_root, load_cifar10, load_course_data
from cnnlab.data import __main__ as cli
from cnnlab.data.render import render_images, render_scenes, sample_scenes
from cnnlab.data.shapes import COS_TABLE, SIN_TABLE, signed_distance
from cnnlab.data.stats import channel_mean_std
from cnnlab.errors import DataError

SPEC = course.COURSE_SPEC


# --- the full dataset, generated once into a fresh folder: this is the cross-machine check ----------


@pytest.fixture(scope="module")
def built_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("course-data")
    build_course_data(root)  # raises DataError unless the bytes match the committed SHA-256
    return root


@pytest.fixture(scope="module")
def data(built_root):
    return load_course_data(built_root)


def test_generated_dataset_matches_the_committed_sha256(built_root):
    with np.load(course.dataset_path(built_root)) as archive:
        arrays = {key: archive[key] for key in archive.files}
    assert course.arrays_sha256(arrays) == SPEC.sha256


def test_layout_dtypes_and_balance(data):
    assert data.name == SPEC.name
    assert data.classes == COURSE_CLASSES and len(COURSE_CLASSES) == 10
    assert data.x_train.shape == (SPEC.train_count, 3, 32, 32) and data.x_train.dtype == torch.uint8
    assert data.x_test.shape == (SPEC.test_count, 3, 32, 32) and data.x_test.dtype == torch.uint8
    assert data.y_train.dtype == data.y_test.dtype == torch.int64
    assert data.y_train.bincount().tolist() == [SPEC.train_count // 10] * 10
    assert data.y_test.bincount().tolist() == [SPEC.test_count // 10] * 10
    assert data.x_train.min() == 0 and data.x_train.max() == 255
    assert len(data.mean) == len(data.std) == 3
    assert all(0.2 < m < 0.8 for m in data.mean) and all(0.1 < s < 0.5 for s in data.std)


def test_mean_and_std_are_those_of_the_training_images(data):
    x = data.x_train[:2000].numpy()
    mean, std = channel_mean_std(x)
    pixels = x.transpose(1, 0, 2, 3).reshape(3, -1).astype(np.float64) / 255
    np.testing.assert_allclose(mean, pixels.mean(axis=1), atol=2e-6)
    np.testing.assert_allclose(std, pixels.std(axis=1), atol=2e-6)


def test_a_chunk_regenerated_alone_matches_the_dataset(data):
    images, labels = render_images(1000, (SPEC.seed, 0))
    assert np.array_equal(images, data.x_train[:1000].numpy())
    assert np.array_equal(labels, data.y_train[:1000].numpy())


def _nearest_class_mean_accuracy(train_x, train_y, test_x, test_y) -> float:
    """Accuracy of predicting the class whose mean feature vector is closest."""
    means = torch.stack([train_x[train_y == c].mean(0) for c in range(10)])
    predicted = torch.cdist(test_x, means).argmin(1)
    return (predicted == test_y).float().mean().item()


def test_colour_alone_does_not_give_the_class_away(data):
    colour_train = data.x_train.double().mean(dim=(2, 3))
    colour_test = data.x_test.double().mean(dim=(2, 3))
    accuracy = _nearest_class_mean_accuracy(colour_train, data.y_train, colour_test, data.y_test)
    assert accuracy < 0.2, f"mean colour predicts the class {accuracy:.0%} of the time; chance is 10%"


def test_position_and_size_alone_do_not_give_the_class_away():
    scenes = sample_scenes(5000, np.random.Generator(np.random.PCG64(11)))
    features = torch.from_numpy(np.stack([scenes.centre_x, scenes.centre_y, scenes.radius], axis=1))
    labels = torch.from_numpy(scenes.labels)
    accuracy = _nearest_class_mean_accuracy(features[:4000], labels[:4000], features[4000:], labels[4000:])
    assert accuracy < 0.2, f"position and size predict the class {accuracy:.0%} of the time; chance is 10%"


# --- the generator ------------------------------------------------------------------------------------


def test_rendering_is_repeatable_and_seeds_matter():
    first, labels = render_images(30, 5)
    again, labels_again = render_images(30, 5)
    other, _ = render_images(30, 6)
    assert np.array_equal(first, again) and np.array_equal(labels, labels_again)
    assert (first != other).mean() > 0.5


def test_render_scenes_has_no_randomness_of_its_own():
    scenes = sample_scenes(20, np.random.Generator(np.random.PCG64(3)))
    assert np.array_equal(render_scenes(scenes), render_scenes(scenes))


def test_trig_table_is_exact_at_right_angles_and_in_millionths():
    assert (COS_TABLE[0], COS_TABLE[90], COS_TABLE[180], COS_TABLE[270]) == (1.0, 0.0, -1.0, 0.0)
    assert (SIN_TABLE[0], SIN_TABLE[90], SIN_TABLE[180], SIN_TABLE[270]) == (0.0, 1.0, 0.0, -1.0)
    assert np.array_equal(np.rint(COS_TABLE * 1e6) / 1e6, COS_TABLE)


def test_trig_table_does_not_depend_on_the_last_bit_of_libm():
    # Each exact value lies far from a rounding boundary (x.5 millionths), so a libm that is off by
    # a few ulps on another machine still rounds to the same table.
    for function in (math.cos, math.sin):
        scaled = [function(math.radians(d)) * 1e6 for d in range(360)]
        assert min(abs(x - math.floor(x) - 0.5) for x in scaled) > 1e-6


@pytest.mark.parametrize("label", range(10), ids=COURSE_CLASSES)
def test_each_shape_is_solid_and_fits_in_the_unit_circle(label):
    u, v = np.meshgrid(np.linspace(-1.5, 1.5, 301), np.linspace(-1.5, 1.5, 301))
    inside = signed_distance(label, u, v) < 0
    area = inside.mean() * 9.0  # the grid spans 3 × 3 local units
    assert 0.6 < area < 2.6, f"{COURSE_CLASSES[label]} covers {area:.2f} square units"
    assert not inside[u * u + v * v > 1.05**2].any(), f"{COURSE_CLASSES[label]} reaches past radius 1.05"


# --- the cache: building, damage, messages ------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_spec() -> course.CourseSpec:
    """A 60-image dataset with its own checksum, to exercise the cache quickly."""
    spec = replace(SPEC, name="tiny-shapes", train_count=40, test_count=20, sha256="")
    return replace(spec, sha256=course.arrays_sha256(course.generate(spec)))


def test_load_builds_once_then_reuses(tmp_path, tiny_spec, capsys):
    data = load_course_data(tmp_path, spec=tiny_spec)
    assert "Building the course dataset" in capsys.readouterr().out
    assert len(data.x_train) == 40 and len(data.x_test) == 20
    again = load_course_data(tmp_path, spec=tiny_spec)
    assert capsys.readouterr().out == ""
    assert torch.equal(again.x_train, data.x_train)


@pytest.mark.parametrize(
    "damage", ["truncated", "garbage", "one pixel changed", "array missing", "wrong dtype"]
)
def test_a_damaged_cache_is_rebuilt_with_a_message(tmp_path, tiny_spec, capsys, damage):
    path = build_course_data(tmp_path, spec=tiny_spec)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:500])
    elif damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    else:
        with np.load(path) as archive:
            arrays = {key: archive[key] for key in archive.files}
        if damage == "one pixel changed":
            arrays["x_test"][0, 0, 0, 0] ^= 1
        elif damage == "wrong dtype":
            arrays["y_test"] = arrays["y_test"].astype(np.int32)
        else:
            del arrays["y_test"]
        with open(path, "wb") as file:
            np.savez(file, **arrays)
    capsys.readouterr()
    with pytest.raises(DataError, match=str(path.name)):
        course.verify_course_data(tmp_path, spec=tiny_spec)
    data = load_course_data(tmp_path, spec=tiny_spec)
    assert "Rebuilding the course dataset" in capsys.readouterr().out
    assert len(data.x_test) == 20
    assert course.verify_course_data(tmp_path, spec=tiny_spec) == tiny_spec.sha256


def test_a_build_that_does_not_match_its_checksum_writes_nothing(tmp_path, tiny_spec):
    wrong = replace(tiny_spec, sha256="0" * 64)
    with pytest.raises(DataError, match="Please report it"):
        build_course_data(tmp_path, spec=wrong)
    assert not course.dataset_path(tmp_path, wrong).exists()
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_folder_is_a_data_error(tmp_path, tiny_spec):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(DataError, match="CNNLAB_DATA"):
        build_course_data(blocker / "data", spec=tiny_spec)


def test_data_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path))
    assert data_root() == tmp_path
    monkeypatch.delenv("CNNLAB_DATA")
    checkout = Path(course.__file__).resolve().parents[2]
    if os.access(checkout / "data", os.W_OK):
        assert data_root() == checkout / "data"


def test_command_line(built_root, tmp_path, capsys):
    assert cli.main(["verify", "--root", str(built_root)]) == 0
    assert SPEC.sha256 in capsys.readouterr().out
    assert cli.main(["build", "--root", str(built_root)]) == 0
    assert "already built" in capsys.readouterr().out
    assert cli.main(["info", "--root", str(built_root)]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COURSE_CLASSES) and "2000" in out and "mean" in out
    assert cli.main(["verify", "--root", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: There is no course dataset") and captured.err.count("\n") == 1


# --- the CIFAR-10 reader --------------------------------------------------------------------------------

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _write_batch(path: Path, data, labels) -> None:
    with open(path, "wb") as file:
        pickle.dump(
            {b"batch_label": b"test", b"data": data, b"labels": labels, b"filenames": []}, file, protocol=2
        )


def _write_cifar(folder: Path, per_batch: int = 10) -> np.ndarray:
    """A miniature CIFAR-10 in the real format; returns all its pixel rows, training batches first."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 256, (6 * per_batch, 3072), dtype=np.uint8)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        chunk = rows[k * per_batch : (k + 1) * per_batch]
        _write_batch(folder / name, chunk, [(k + i) % 10 for i in range(per_batch)])
    with open(folder / "batches.meta", "wb") as file:
        pickle.dump({b"label_names": [n.encode() for n in CIFAR_NAMES], b"num_vis": 3072}, file, protocol=2)
    return rows


def test_cifar_reader_reads_the_standard_format(tmp_path):
    rows = _write_cifar(tmp_path / "cifar-10-batches-py")
    for folder in (tmp_path / "cifar-10-batches-py", tmp_path):  # the batch folder, or the one holding it
        data = load_cifar10(folder)
        assert data.name == "cifar-10" and data.classes == tuple(CIFAR_NAMES)
        assert data.x_train.shape == (50, 3, 32, 32) and data.x_test.shape == (10, 3, 32, 32)
        assert data.x_train.dtype == torch.uint8 and data.y_train.dtype == torch.int64
        # Row-major RGB planes: the first 1024 values are the red plane, row by row.
        assert torch.equal(data.x_train[7, 0, 2, 5], torch.tensor(rows[7, 0 * 1024 + 2 * 32 + 5]))
        assert torch.equal(data.x_test[3, 2, 31, 0], torch.tensor(rows[53, 2 * 1024 + 31 * 32]))
        assert data.y_train[:3].tolist() == [0, 1, 2] and data.y_test[:2].tolist() == [5, 6]
        assert len(data.mean) == 3


def test_cifar_missing_folder_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as caught:
        load_cifar10(tmp_path / "nowhere")
    message = str(caught.value)
    assert str(tmp_path / "nowhere") in message
    assert "cifar-10-python.tar.gz" in message and "Nothing is downloaded" in message


def test_cifar_missing_files_are_named(tmp_path):
    folder = tmp_path / "cifar"
    _write_cifar(folder)
    (folder / "data_batch_3").unlink()
    (folder / "test_batch").unlink()
    with pytest.raises(DataError) as caught:
        load_cifar10(folder)
    message = str(caught.value)
    assert str(folder) in message and "data_batch_3, test_batch are missing" in message
    assert (
        "found: batches.meta, data_batch_1" in message
        and "https://www.cs.toronto.edu/~kriz/cifar.html" in message
    )


def test_cifar_archive_not_extracted(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"")
    with pytest.raises(DataError, match="extract it first"):
        load_cifar10(tmp_path)


class _Payload:
    def __reduce__(self):
        return (os.getcwd, ())


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"this is not a pickle", "is not a CIFAR-10 python batch"),
        (pickle.dumps(_Payload()), "refers to posix.getcwd|refers to nt.getcwd"),
        (pickle.dumps([1, 2, 3]), "holds a list"),
        (pickle.dumps({b"labels": []}), "has no 'data' entry"),
        (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), r"shape \(N, 3072\)"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), "2 images but 1 labels"),
        (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}), "expected 0 to 9"),
    ],
    ids=["garbage", "code", "not a dict", "no data", "wrong shape", "label count", "label range"],
)
def test_cifar_malformed_batch_is_a_data_error(tmp_path, content, expected):
    _write_cifar(tmp_path / "cifar")
    (tmp_path / "cifar" / "data_batch_2").write_bytes(content)
    with pytest.raises(DataError, match=expected) as caught:
        load_cifar10(tmp_path / "cifar")
    assert "data_batch_2" in str(caught.value)
