"""The offline TFDS builders: splits, shapes, dtypes, determinism, no network,
and the catalog path through tfds.testing.mock_data."""

import socket
import tempfile

import numpy as np
import pytest

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
    assert n_train + n_test == {"diabetes": 442, "breast_cancer": 569}.get(name, 1797)


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
