"""What Dense and Conv2D share through their base class: the activation
property (``layer.activation = None`` after construction) and the
activity regularizer, each checked on both layers against Keras."""

import keras
import numpy as np
import pytest

import custom_layers
from custom_layers import activations

RNG = np.random.default_rng(0)

# (custom layer, built-in layer, constructor arguments, input)
LAYERS = {
    "dense": (
        custom_layers.Dense,
        keras.layers.Dense,
        {"units": 3},
        RNG.standard_normal((4, 5)).astype("float32"),
    ),
    "conv2d": (
        custom_layers.Conv2D,
        keras.layers.Conv2D,
        {"filters": 3, "kernel_size": 2},
        RNG.standard_normal((2, 5, 5, 2)).astype("float32"),
    ),
}


def _twins(name, **kwargs):
    custom_cls, builtin_cls, base, x = LAYERS[name]
    ours, theirs = custom_cls(**base, **kwargs), builtin_cls(**base, **kwargs)
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    return ours, theirs, x


@pytest.mark.parametrize("name", LAYERS)
def test_activation_none_after_construction_matches_keras(name):
    ours, theirs, x = _twins(name, activation="relu", bias_initializer="random_normal")
    theirs.set_weights(ours.get_weights())
    ours.activation = None
    theirs.activation = None
    out = np.asarray(ours(x))
    assert np.any(out < 0)  # linear now: negative outputs pass
    np.testing.assert_allclose(out, theirs(x), rtol=1e-5, atol=1e-5)
    assert ours.activation is activations.linear


@pytest.mark.parametrize("name", LAYERS)
def test_activity_regularizer_matches_keras_and_is_in_the_config(name):
    regularizer = keras.regularizers.L2(0.25)
    ours, theirs, x = _twins(name, activity_regularizer=regularizer)
    out = np.asarray(ours(x)).astype("float64")
    theirs(x)
    np.testing.assert_allclose(float(ours.losses[0]), 0.25 * np.sum(out**2) / x.shape[0], rtol=1e-5)
    np.testing.assert_allclose(float(ours.losses[0]), float(theirs.losses[0]), rtol=1e-5)
    config = ours.get_config()
    assert config["activity_regularizer"] == theirs.get_config()["activity_regularizer"]
    assert type(ours).from_config(config).activity_regularizer.l2 == pytest.approx(0.25)
