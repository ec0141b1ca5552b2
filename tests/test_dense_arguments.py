"""Every keras.layers.Dense argument and config key on the custom Dense:
activity_regularizer, the LoRA/quantization options it declines, configs
crossing between the twins, sparse inputs (issue: drop-in twins)."""

import keras
import numpy as np
import pytest
from keras import ops

import custom_layers
from custom_layers import activations
from tests.helpers import FORWARD_TOL, GRADIENT_TOL, gradients, sparse_from_dense

RNG = np.random.default_rng(0)


def _same_weights(custom, builtin, n_in):
    custom.build((None, n_in))
    builtin.build((None, n_in))
    builtin.set_weights(custom.get_weights())
    return custom, builtin


# ------------------------------------------------------------------ configs


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"activation": "relu", "use_bias": False},
        {
            "activation": "sigmoid",
            "kernel_initializer": "he_normal",
            "bias_initializer": "ones",
            "kernel_regularizer": keras.regularizers.L1(0.1),
            "bias_regularizer": "l2",
            "activity_regularizer": keras.regularizers.L1L2(0.1, 0.2),
            "kernel_constraint": "non_neg",
            "bias_constraint": keras.constraints.MaxNorm(2.0),
        },
    ],
)
def test_config_has_every_builtin_key_with_the_same_value(kwargs):
    ours = custom_layers.Dense(3, name="d", **kwargs).get_config()
    theirs = keras.layers.Dense(3, name="d", **kwargs).get_config()
    assert set(theirs) <= set(ours)
    # the one extra key: activity_regularizer, written even when None (as Conv2D does)
    assert set(ours) - set(theirs) <= {"activity_regularizer"}
    for key, value in theirs.items():
        if key == "activation":  # ours names the custom_layers function
            assert keras.activations.deserialize(ours[key]).__name__ == value
        else:
            assert ours[key] == value, key
    assert ours["quantization_config"] is None
    assert "lora_rank" not in ours  # Keras writes it only when LoRA is on


def test_builtin_config_builds_the_custom_dense_and_back():
    builtin = keras.layers.Dense(
        4, activation="relu", activity_regularizer="l2", kernel_regularizer="l1", name="d"
    )
    config = builtin.get_config()
    assert config["quantization_config"] is None
    ours = custom_layers.Dense.from_config(config)
    assert ours.activation is activations.relu
    assert isinstance(ours.activity_regularizer, keras.regularizers.L2)
    np.testing.assert_allclose(ours.activity_regularizer.l2, 0.01, rtol=1e-7)
    back = keras.layers.Dense.from_config(ours.get_config())
    assert back.get_config() == {**config, "activation": back.get_config()["activation"]}
    # the same numbers through both, weights copied
    x = RNG.standard_normal((5, 3)).astype("float32")
    ours, builtin = _same_weights(ours, builtin, 3)
    np.testing.assert_allclose(ours(x), builtin(x), rtol=1e-6, atol=FORWARD_TOL)


@pytest.mark.parametrize(
    ("kwargs", "name", "feature"),
    [
        ({"lora_rank": 4}, "lora_rank", "LoRA"),
        ({"lora_rank": 0}, "lora_rank", "LoRA"),
        ({"lora_alpha": 8}, "lora_alpha", "LoRA"),
        ({"lora_rank": 4, "lora_alpha": 8}, "lora_rank", "LoRA"),
        ({"quantization_config": {"class_name": "Int8QuantizationConfig"}}, None, None),
    ],
)
def test_lora_and_quantization_values_are_refused(kwargs, name, feature):
    name = name or "quantization_config"
    feature = feature or "quantization"
    message = rf"custom_layers does not support {feature}: `{name}` .* Received: {name}="
    with pytest.raises(ValueError, match=message):
        custom_layers.Dense(3, **kwargs)
    with pytest.raises(ValueError, match=message):
        custom_layers.Dense.from_config({**custom_layers.Dense(3).get_config(), **kwargs})


def test_lora_and_quantization_defaults_are_accepted():
    layer = custom_layers.Dense(3, lora_rank=None, lora_alpha=None, quantization_config=None)
    assert layer.lora_rank is None and layer.lora_alpha is None
    assert layer.quantization_config is None


# ------------------------------------------------------- activity_regularizer


def test_activity_regularizer_penalises_the_output_like_keras():
    x = RNG.standard_normal((8, 5)).astype("float32")
    kw = {"activation": "tanh", "activity_regularizer": keras.regularizers.L2(0.3)}
    ours, builtin = _same_weights(custom_layers.Dense(4, **kw), keras.layers.Dense(4, **kw), 5)
    a = np.asarray(ours(x))
    builtin(x)
    # the penalty 0.3·Σa², divided by the batch size, as Keras does
    want = 0.3 * np.sum(a.astype("float64") ** 2) / len(x)
    assert len(ours.losses) == 1
    np.testing.assert_allclose(float(ours.losses[0]), want, rtol=1e-6)
    np.testing.assert_allclose(float(ours.losses[0]), float(builtin.losses[0]), rtol=1e-6)


def test_activity_regularizer_enters_training_like_keras():
    x = RNG.standard_normal((16, 5)).astype("float32")
    y = RNG.standard_normal((16, 2)).astype("float32")

    def model(dense):
        m = keras.Sequential([keras.Input((5,)), dense(2, activity_regularizer="l1")])
        m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        return m

    ours, builtin = model(custom_layers.Dense), model(keras.layers.Dense)
    builtin.set_weights(ours.get_weights())
    for _ in range(3):
        loss_ours = ours.train_on_batch(x, y)
        loss_theirs = builtin.train_on_batch(x, y)
        np.testing.assert_allclose(loss_ours, loss_theirs, rtol=1e-5)
    for w_ours, w_theirs in zip(ours.get_weights(), builtin.get_weights(), strict=True):
        np.testing.assert_allclose(w_ours, w_theirs, rtol=1e-5, atol=1e-6)


def test_activity_regularizer_survives_keras_round_trip(tmp_path):
    x = RNG.standard_normal((4, 3)).astype("float32")
    model = keras.Sequential(
        [keras.Input((3,)), custom_layers.Dense(2, activity_regularizer=keras.regularizers.L2(0.5))]
    )
    model(x)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    layer = loaded.layers[0]
    assert isinstance(layer, custom_layers.Dense)
    np.testing.assert_allclose(layer.activity_regularizer.l2, 0.5, rtol=1e-7)
    loaded(x)
    np.testing.assert_allclose(float(loaded.losses[0]), float(model.losses[0]), rtol=1e-6)


def test_bad_activity_regularizer_is_named():
    with pytest.raises(ValueError, match=r"Received: activity_regularizer='nope'"):
        custom_layers.Dense(2, activity_regularizer="nope")


# --------------------------------------------------------------- activation


def test_activation_set_to_none_after_construction_is_linear():
    x = RNG.standard_normal((3, 2)).astype("float32")
    layer = custom_layers.Dense(2, activation="relu", bias_initializer="random_normal")
    layer(x)
    w, b = layer.get_weights()
    layer.activation = None
    np.testing.assert_allclose(layer(x), x @ w + b, rtol=1e-6, atol=FORWARD_TOL)
    assert layer.activation is activations.linear  # Keras would read back None
    config = layer.get_config()
    assert keras.activations.deserialize(config["activation"]) is activations.linear
    layer.activation = "sigmoid"
    assert layer.activation is activations.sigmoid
    np.testing.assert_allclose(
        layer(x), 1 / (1 + np.exp(-(x @ w + b))), rtol=1e-6, atol=FORWARD_TOL
    )
    with pytest.raises(ValueError, match=r"Received: activation='no_such'"):
        layer.activation = "no_such"


# ------------------------------------------------------------ sparse inputs


def _sparse_batch():
    dense_x = RNG.random((10, 6)).astype("float32")
    dense_x[dense_x < 0.7] = 0.0  # about 70 % zeros, some rows empty
    dense_x[3] = 0.0
    return dense_x, sparse_from_dense(dense_x)


@pytest.mark.parametrize("activation", [None, "relu"])
def test_sparse_input_gives_the_dense_result_and_gradient(activation):
    # The backend's sparse tensor: tf.SparseTensor, or jax.experimental.sparse.BCOO.
    dense_x, sparse_x = _sparse_batch()
    kw = {"activation": activation, "bias_initializer": "random_normal"}
    ours, builtin = _same_weights(custom_layers.Dense(4, **kw), keras.layers.Dense(4, **kw), 6)
    w, b = ours.get_weights()
    z = dense_x.astype("float64") @ w + b
    want = z if activation is None else np.maximum(z, 0)
    np.testing.assert_allclose(ours(sparse_x), want, rtol=1e-5, atol=FORWARD_TOL)
    np.testing.assert_allclose(ours(sparse_x), builtin(sparse_x), rtol=1e-6, atol=FORWARD_TOL)

    upstream = RNG.standard_normal((10, 4)).astype("float32")

    def weight_gradients(layer, x):
        def weighted(*weights):
            out, _ = layer.stateless_call(list(weights), [], x)
            return out * upstream

        return gradients(weighted, *(ops.convert_to_tensor(v) for v in layer.weights))[1]

    for got, dense, theirs in zip(
        weight_gradients(ours, sparse_x),
        weight_gradients(ours, dense_x),
        weight_gradients(builtin, sparse_x),
        strict=True,
    ):
        np.testing.assert_allclose(got, dense, atol=GRADIENT_TOL)
        np.testing.assert_allclose(got, theirs, atol=GRADIENT_TOL)


@pytest.mark.tensorflow_only  # tf.SparseTensor and tf.IndexedSlices
def test_sparse_input_gives_an_indexed_slices_kernel_gradient_on_tensorflow():
    import tensorflow as tf

    dense_x, sparse_x = _sparse_batch()
    ours, builtin = _same_weights(custom_layers.Dense(4), keras.layers.Dense(4), 6)
    upstream = RNG.standard_normal((10, 4)).astype("float32")

    def kernel_gradient(layer, x):
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(layer(x) * upstream)
        return tape.gradient(total, layer.kernel)

    sparse_grad = kernel_gradient(ours, sparse_x)
    assert isinstance(sparse_grad, tf.IndexedSlices)
    assert isinstance(kernel_gradient(builtin, sparse_x), tf.IndexedSlices)
    np.testing.assert_allclose(
        tf.convert_to_tensor(sparse_grad), kernel_gradient(ours, dense_x), atol=GRADIENT_TOL
    )
