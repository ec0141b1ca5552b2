"""Every argument the Keras losses take, on the custom twins: label_smoothing,
axis, ignore_class, reductions, input kinds, dtype (issue: drop-in twins)."""

import keras
import numpy as np
import pytest

import custom_layers
from custom_layers import losses
from tests.helpers import gradient

RNG = np.random.default_rng(0)
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]


def _assert_twins(ours, theirs, y_true, y_pred, sample_weight=None, grad=True):
    got = ours(y_true, y_pred, sample_weight=sample_weight)
    want = theirs(y_true, y_pred, sample_weight=sample_weight)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    if grad:
        g_ours = gradient(lambda v: ours(y_true, v, sample_weight=sample_weight), y_pred)
        g_theirs = gradient(lambda v: theirs(y_true, v, sample_weight=sample_weight), y_pred)
        np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
def test_bce_label_smoothing(from_logits, label_smoothing):
    y = RNG.integers(0, 2, (8, 4)).astype("float32")
    z = RNG.standard_normal((8, 4)).astype("float32")
    x = z if from_logits else 1 / (1 + np.exp(-z))
    kw = {"from_logits": from_logits, "label_smoothing": label_smoothing}
    _assert_twins(
        custom_layers.BinaryCrossentropy(**kw), keras.losses.BinaryCrossentropy(**kw), y, x
    )
    # the formula: y ← y·(1 − ε) + ε/2
    smoothed = y * (1 - label_smoothing) + 0.5 * label_smoothing
    np.testing.assert_allclose(
        losses.binary_crossentropy(y, x, from_logits, label_smoothing),
        losses.binary_crossentropy(smoothed, x, from_logits),
        rtol=1e-6,
    )


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_bce_axis(axis):
    y = RNG.integers(0, 2, (4, 3, 5)).astype("float32")
    z = RNG.standard_normal((4, 3, 5)).astype("float32")
    kw = {"from_logits": True, "axis": axis}
    _assert_twins(
        custom_layers.BinaryCrossentropy(**kw), keras.losses.BinaryCrossentropy(**kw), y, z
    )


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cce_label_smoothing(from_logits, label_smoothing):
    labels = RNG.integers(0, 5, 8)
    y = np.eye(5, dtype="float32")[labels]
    z = RNG.standard_normal((8, 5)).astype("float32")
    x = z if from_logits else np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    kw = {"from_logits": from_logits, "label_smoothing": label_smoothing}
    _assert_twins(
        custom_layers.CategoricalCrossentropy(**kw),
        keras.losses.CategoricalCrossentropy(**kw),
        y,
        x,
    )


@pytest.mark.parametrize("from_logits", [False, True])
def test_cce_class_axis_other_than_last(from_logits):
    # (batch, classes, positions): classes on axis 1
    labels = RNG.integers(0, 4, (3, 6))
    y = np.moveaxis(np.eye(4, dtype="float32")[labels], -1, 1)
    z = RNG.standard_normal((3, 4, 6)).astype("float32")
    x = z if from_logits else np.exp(z) / np.exp(z).sum(1, keepdims=True)
    kw = {"from_logits": from_logits, "axis": 1}
    _assert_twins(
        custom_layers.CategoricalCrossentropy(**kw),
        keras.losses.CategoricalCrossentropy(**kw),
        y,
        x,
    )
    # the same numbers as with the classes moved last
    np.testing.assert_allclose(
        losses.categorical_crossentropy(y, x, from_logits, axis=1),
        losses.categorical_crossentropy(np.moveaxis(y, 1, -1), np.moveaxis(x, 1, -1), from_logits),
        rtol=1e-6,
    )


def test_cce_label_smoothing_spreads_over_the_class_axis_where_keras_uses_the_last():
    # Documented difference: Keras divides ε by the last axis' size even when
    # the classes are on another axis; here N is the class axis' size.
    y = np.moveaxis(np.eye(4, dtype="float32")[RNG.integers(0, 4, (2, 6))], -1, 1)  # (2, 4, 6)
    z = RNG.standard_normal((2, 4, 6)).astype("float32")
    ours = losses.categorical_crossentropy(y, z, True, label_smoothing=0.2, axis=1)
    formula = losses.categorical_crossentropy(y * 0.8 + 0.2 / 4, z, True, axis=1)
    np.testing.assert_allclose(ours, formula, rtol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_ignore_class_with_every_reduction(reduction, weighted):
    labels = RNG.integers(0, 5, (6, 7))
    labels[labels == 4] = -1  # a "void" label, as in segmentation maps
    z = RNG.standard_normal((6, 7, 5)).astype("float32")
    # per-position weights: Keras' own loss cannot broadcast (6,) weights here
    weight = RNG.uniform(0.5, 2.0, (6, 7)).astype("float32") if weighted else None
    kw = {"from_logits": True, "ignore_class": -1, "reduction": reduction}
    _assert_twins(
        custom_layers.SparseCategoricalCrossentropy(**kw),
        keras.losses.SparseCategoricalCrossentropy(**kw),
        labels,
        z,
        sample_weight=weight,
    )


def test_sparse_ignore_class_function_zeroes_ignored_examples():
    labels = np.array([0, 2, 1, 2])
    z = RNG.standard_normal((4, 3)).astype("float32")
    got = np.asarray(losses.sparse_categorical_crossentropy(labels, z, True, ignore_class=2))
    full = np.asarray(losses.sparse_categorical_crossentropy(labels, z, True))
    np.testing.assert_array_equal(got[[1, 3]], 0.0)
    np.testing.assert_allclose(got[[0, 2]], full[[0, 2]])


def test_sparse_class_axis_other_than_last():
    labels = RNG.integers(0, 4, (3, 5))
    z = RNG.standard_normal((3, 4, 5)).astype("float32")  # classes on axis 1
    np.testing.assert_allclose(
        losses.sparse_categorical_crossentropy(labels, z, True, axis=1),
        keras.losses.sparse_categorical_crossentropy(labels, np.moveaxis(z, 1, -1), True),
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    ("ours", "theirs", "y", "x"),
    [
        (
            custom_layers.BinaryCrossentropy(),
            keras.losses.BinaryCrossentropy(),
            [[0, 1], [1, 1]],  # Python lists, integer labels
            [[0.2, 0.9], [0.6, 0.4]],  # lists for y_pred too (Keras' wrapper-less BCE takes them)
        ),
        (
            custom_layers.MeanSquaredError(),
            keras.losses.MeanSquaredError(),
            np.array([[1.0], [2.0]], "float64"),  # float64
            np.array([[1.5], [1.0]], "float64"),
        ),
        (
            custom_layers.SparseCategoricalCrossentropy(),
            keras.losses.SparseCategoricalCrossentropy(),
            np.array([2, 0], "int64"),  # integer labels
            np.array([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]]),
        ),
        (
            custom_layers.CategoricalCrossentropy(),
            keras.losses.CategoricalCrossentropy(),
            np.array([[0, 0, 1], [1, 0, 0]], "int32"),
            np.array([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]], "float64"),
        ),
    ],
)
def test_inputs_as_keras_accepts_them(ours, theirs, y, x):
    _assert_twins(ours, theirs, y, x, grad=False)


def test_list_labels_work_where_keras_wrapped_losses_refuse_them():
    # Keras' categorical losses fail on a Python list y_true ("Structures don't
    # have the same nested structure"); the custom ones take it.
    y_pred = np.array([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]], "float32")
    expected = keras.losses.SparseCategoricalCrossentropy()(np.array([2, 0]), y_pred)
    got = custom_layers.SparseCategoricalCrossentropy()([2, 0], y_pred)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize("weight_shape", [(4,), (4, 1)])
def test_sample_weight_shapes(weight_shape):
    y = RNG.integers(0, 2, (4, 3)).astype("float32")
    z = RNG.standard_normal((4, 3)).astype("float32")
    weight = RNG.uniform(0, 2, weight_shape).astype("float32")
    for reduction in REDUCTIONS:
        _assert_twins(
            custom_layers.BinaryCrossentropy(from_logits=True, reduction=reduction),
            keras.losses.BinaryCrossentropy(from_logits=True, reduction=reduction),
            y,
            z,
            sample_weight=weight,
            grad=False,
        )


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
@pytest.mark.usefixtures("float64")
def test_result_dtype_follows_the_loss_dtype(dtype):
    y, z = [[0.0, 1.0]], [[0.3, -0.2]]
    ours = custom_layers.BinaryCrossentropy(from_logits=True, dtype=dtype)(y, z)
    theirs = keras.losses.BinaryCrossentropy(from_logits=True, dtype=dtype)(y, z)
    assert ours.dtype == theirs.dtype == dtype
    np.testing.assert_allclose(
        np.float32(ours), np.float32(theirs), rtol=1e-2 if "16" in dtype else 1e-6
    )


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (custom_layers.BinaryCrossentropy, {"label_smoothing": -0.1}, r"label_smoothing=-0.1"),
        (custom_layers.CategoricalCrossentropy, {"label_smoothing": 1.5}, r"label_smoothing=1.5"),
        (custom_layers.BinaryCrossentropy, {"axis": "last"}, r"Received: axis='last'"),
        (custom_layers.CategoricalCrossentropy, {"axis": 1.0}, r"Received: axis=1.0"),
        (custom_layers.SparseCategoricalCrossentropy, {"ignore_class": 1.5}, r"ignore_class=1.5"),
        (custom_layers.SparseCategoricalCrossentropy, {"axis": None}, r"Received: axis=None"),
    ],
)
def test_bad_arguments_raise_value_error(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


def test_configs_round_trip_with_every_argument():
    for loss in [
        custom_layers.BinaryCrossentropy(True, 0.1, 1, "sum", "b", "float64"),
        custom_layers.CategoricalCrossentropy(False, 0.2, 0, None, "c"),
        custom_layers.SparseCategoricalCrossentropy(True, -1, -1, "mean", "s"),
    ]:
        config = loss.get_config()
        assert type(loss).from_config(config).get_config() == config
        assert keras.losses.deserialize(keras.losses.serialize(loss)).get_config() == config


def test_sparse_ignore_class_takes_per_example_weights_keras_cannot():
    labels = RNG.integers(0, 5, (6, 7))
    labels[labels == 4] = -1
    z = RNG.standard_normal((6, 7, 5)).astype("float32")
    weight = RNG.uniform(0.5, 2.0, 6).astype("float32")
    loss = custom_layers.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    np.testing.assert_allclose(
        loss(labels, z, sample_weight=weight),
        loss(labels, z, sample_weight=np.repeat(weight[:, None], 7, axis=1)),
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (
            lambda: custom_layers.BinaryCrossentropy(from_logits=True),
            lambda: keras.losses.BinaryCrossentropy(from_logits=True),
        ),
        (custom_layers.MeanSquaredError, keras.losses.MeanSquaredError),
    ],
)
def test_keras_masks_from_a_masking_layer_are_honoured(ours, theirs):
    # Padded time steps (all-zero features) are masked out of the loss.
    x = RNG.standard_normal((8, 5, 3)).astype("float32")
    x[:, 3:] = 0.0
    y = RNG.integers(0, 2, (8, 5, 1)).astype("float32")
    y[:, 3:] = 0.9  # wrong labels where masked: must not matter (they must still be labels)

    def trained(loss, labels=y):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((5, 3)), keras.layers.Masking(0.0), keras.layers.Dense(1)]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
        history = model.fit(x, labels, batch_size=4, epochs=3, shuffle=False, verbose=0)
        return model.get_weights(), history.history["loss"]

    (w_ours, loss_ours), (w_theirs, loss_theirs) = trained(ours()), trained(theirs())
    np.testing.assert_allclose(loss_ours, loss_theirs, rtol=1e-6)
    for a, b in zip(w_ours, w_theirs, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # the mask is what makes the garbage irrelevant: other garbage, same training
    other = y.copy()
    other[:, 3:] = 0.1
    np.testing.assert_allclose(trained(ours(), other)[1], loss_ours, rtol=1e-6)
