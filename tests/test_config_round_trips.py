"""Every constructor argument survives ``get_config`` -> ``from_config`` with
the value it was given (never the default), equals the Keras twin's config
key for key, and the rebuilt object computes what the twin with the same
arguments computes. A round trip compared only with itself cannot fail
when ``get_config`` drops a key: the rebuilt object takes the default and
drops it again.

Every public object is here (``test_every_public_object_is_checked_here``):
its config holds every key of its twin's, with the twin's value, except the
keys listed in ``OWN_KEYS`` and ``OWN_VALUES`` with their reasons."""

import inspect

import keras
import numpy as np
import pytest

import custom_layers
from tests.helpers import FORWARD_TOL

RNG = np.random.default_rng(0)

# keys our configs write and the twins' do not, by design
OWN_KEYS = {
    "dtype": "Keras 3.15's Loss.get_config leaves the dtype out (a float64 loss reloads "
    "as float32); ours keeps it",
    "axis": "keras.losses.SparseCategoricalCrossentropy has no class axis argument",
    "epsilon_placement": "the notes' or Keras' epsilon in Adam; Keras has only its own",
    "activity_regularizer": "written even when None; keras.layers.Dense writes it only when set",
}
# (class, key) -> why the value differs from the twin's for the same argument
OWN_VALUES = {
    (custom_layers.Dense, "activation"): "our function, under its registered name "
    "(custom_layers>relu); the twin names Keras' function",
    (custom_layers.Conv2D, "activation"): "as for Dense",
}
# public functions without a config: activations are saved by their
# registered name (their arguments are call arguments); the converters are
# no Keras objects
NO_CONFIG = {"leaky_relu", "linear", "relu", "sigmoid", "softmax", "tanh"}
NOT_SAVED = {"to_builtin", "to_custom"}


def assert_twin_keys(ours, config, twin_config):
    """``config`` (of an object of class ``ours``) has every key of
    ``twin_config`` with its value, except ``OWN_VALUES``; its own keys
    are those ``OWN_KEYS`` names."""
    assert set(twin_config) <= set(config), set(twin_config) - set(config)
    assert set(config) - set(twin_config) <= set(OWN_KEYS), set(config) - set(twin_config)
    for key, value in twin_config.items():
        if (ours, key) in OWN_VALUES:
            continue
        assert config[key] == value, (key, config[key], value)


def test_every_public_object_is_checked_here():
    checked = {ours for ours, *_ in (*LOSSES.values(), *OPTIMIZERS.values(), *LAYERS.values())}
    for name in custom_layers.__all__:
        public = getattr(custom_layers, name)
        if inspect.isclass(public):
            assert public in checked, name
        elif inspect.isfunction(public):
            assert name in NO_CONFIG | NOT_SAVED, name
    for name in NO_CONFIG:  # saved by name, loaded as the same function
        function = getattr(custom_layers, name)
        assert keras.activations.deserialize(keras.activations.serialize(function)) is function


# (ours, the Keras twin, positional arguments, arguments that differ from
# both defaults, an input)
LAYERS = {
    "dense": (
        custom_layers.Dense,
        keras.layers.Dense,
        (3,),
        {"activation": "tanh", "use_bias": False, "kernel_regularizer": "l2", "name": "d"},
        RNG.standard_normal((4, 5)),
    ),
    "dense_every_weight_argument": (
        custom_layers.Dense,
        keras.layers.Dense,
        (2,),
        {
            "activation": "relu",
            "kernel_initializer": "he_normal",
            "bias_initializer": "ones",
            "kernel_regularizer": keras.regularizers.L1(0.3),
            "bias_regularizer": "l2",
            "activity_regularizer": keras.regularizers.L2(0.2),
            "kernel_constraint": "non_neg",
            "bias_constraint": keras.constraints.MaxNorm(2.0),
            "trainable": False,
            "name": "fc",
            "dtype": "float64",
        },
        RNG.standard_normal((4, 5)),
    ),
    "conv2d": (
        custom_layers.Conv2D,
        keras.layers.Conv2D,
        (6, (2, 3)),
        {
            "strides": (2, 1),
            "padding": "same",
            "data_format": "channels_first",
            "groups": 3,
            "activation": "sigmoid",
            "bias_initializer": "ones",
            "bias_regularizer": "l1",
            "activity_regularizer": "l2",
            "name": "conv",
            "dtype": "float64",
        },
        RNG.standard_normal((2, 3, 7, 6)),
    ),
    "conv2d_dilated": (
        custom_layers.Conv2D,
        keras.layers.Conv2D,
        (2, 3),
        {"dilation_rate": (2, 1), "use_bias": False, "kernel_constraint": "non_neg", "name": "c"},
        RNG.standard_normal((2, 7, 6, 2)),
    ),
}


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("name", LAYERS)
def test_a_layer_round_trips_with_the_values_given_and_keras_keys(name):
    ours, theirs, args, kwargs, x = LAYERS[name]
    rebuilt = ours.from_config(ours(*args, **kwargs).get_config())
    twin = theirs(*args, **kwargs)
    assert_twin_keys(ours, rebuilt.get_config(), twin.get_config())
    # and it computes what the twin computes, with the twin's weights: the
    # output and the penalties of the regularizers
    x = x.astype(kwargs.get("dtype", "float32"))
    twin_output = keras.ops.convert_to_numpy(twin(x))
    rebuilt.build(x.shape)
    rebuilt.set_weights(twin.get_weights())
    output = keras.ops.convert_to_numpy(rebuilt(x))
    np.testing.assert_allclose(output, twin_output, rtol=1e-6, atol=FORWARD_TOL)
    assert rebuilt.trainable == twin.trainable
    penalties = [sorted(float(p) for p in layer.losses) for layer in (rebuilt, twin)]
    np.testing.assert_allclose(*penalties, rtol=1e-6)


# (ours, the Keras twin, arguments that differ from both defaults)
LOSSES = {
    "binary": (
        custom_layers.BinaryCrossentropy,
        keras.losses.BinaryCrossentropy,
        {"from_logits": True, "label_smoothing": 0.1, "axis": 1, "reduction": "sum"},
    ),
    "binary_probabilities": (
        custom_layers.BinaryCrossentropy,
        keras.losses.BinaryCrossentropy,
        {"label_smoothing": 0.3, "reduction": "mean", "name": "bce", "dtype": "float64"},
    ),
    "categorical": (
        custom_layers.CategoricalCrossentropy,
        keras.losses.CategoricalCrossentropy,
        {"from_logits": True, "axis": 1, "reduction": None, "name": "cce"},
    ),
    "categorical_smoothed": (
        custom_layers.CategoricalCrossentropy,
        keras.losses.CategoricalCrossentropy,
        {"label_smoothing": 0.2, "reduction": "sum", "dtype": "float64"},
    ),
    "sparse": (
        custom_layers.SparseCategoricalCrossentropy,
        keras.losses.SparseCategoricalCrossentropy,
        {
            "from_logits": True,
            "ignore_class": 2,
            "reduction": "sum",
            "name": "scce",
            "dtype": "float64",
        },
    ),
    "mse": (
        custom_layers.MeanSquaredError,
        keras.losses.MeanSquaredError,
        {"reduction": "sum", "name": "squares", "dtype": "float64"},
    ),
}


def _loss_data(name):
    """Labels and predictions shaped so that each argument changes the value:
    3D, so that ``axis=1`` is not the last axis."""
    if name == "sparse":
        return RNG.integers(0, 4, (5, 3)), RNG.standard_normal((5, 3, 4)).astype("float32")
    logits = RNG.standard_normal((5, 3, 4)).astype("float32")
    if name == "categorical":  # classes on axis 1
        labels = np.eye(3, dtype="float32")[RNG.integers(0, 3, (5, 4))].transpose(0, 2, 1)
        return labels, logits
    if name == "categorical_smoothed":
        return np.eye(4, dtype="float32")[RNG.integers(0, 4, (5, 3))], np.exp(logits)
    labels = RNG.integers(0, 2, (5, 3, 4)).astype("float32")
    if name == "binary_probabilities":
        return labels, 1 / (1 + np.exp(-logits))
    return labels, logits


@pytest.mark.usefixtures("float64")  # dtype="float64" cases: real float64 on JAX too
@pytest.mark.parametrize("name", LOSSES)
def test_a_loss_round_trips_with_the_values_given_and_keras_keys(name):
    ours, theirs, kwargs = LOSSES[name]
    rebuilt = ours.from_config(ours(**kwargs).get_config())
    config, twin_config = rebuilt.get_config(), theirs(**kwargs).get_config()
    for key, value in kwargs.items():
        assert config[key] == value, key  # the value given, not the default
    assert_twin_keys(ours, config, twin_config)
    # and it computes what the twin computes with those arguments, in its dtype
    y, prediction = _loss_data(name)
    value = rebuilt(y, prediction)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(value),
        keras.ops.convert_to_numpy(theirs(**kwargs)(y, prediction)),
        rtol=1e-5,
        atol=1e-6,
    )
    assert keras.backend.standardize_dtype(value.dtype) == kwargs.get("dtype", "float32")


# (ours, the Keras twin or None, arguments that differ from the defaults)
OPTIMIZERS = {
    "adam_notes": (
        custom_layers.Adam,
        None,  # the notes' epsilon placement has no Keras twin
        {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3},
    ),
    "adam_keras": (
        custom_layers.Adam,
        keras.optimizers.Adam,
        {"learning_rate": 0.01, "beta_1": 0.8, "epsilon": 1e-3, "amsgrad": True},
    ),
    "gradient_descent": (
        custom_layers.GradientDescent,
        keras.optimizers.SGD,
        {"learning_rate": 0.05, "momentum": 0.7, "nesterov": True},
    ),
    "rmsprop": (
        custom_layers.RMSprop,
        keras.optimizers.RMSprop,
        {"learning_rate": 0.02, "rho": 0.8, "momentum": 0.3, "epsilon": 1e-4, "centered": True},
    ),
}
# arguments every optimizer takes from Keras' base class
BASE = {
    "weight_decay": 0.05,
    "clipnorm": 0.5,
    "use_ema": True,
    "ema_momentum": 0.8,
    "ema_overwrite_frequency": 2,
    "loss_scale_factor": 4.0,
    "gradient_accumulation_steps": 2,
    "name": "mine",
}


def _updated(optimizer, steps=4):
    """A variable after ``steps`` updates with fixed gradients."""
    variable = keras.Variable(np.linspace(-1.0, 1.0, 6).astype("float32"))
    optimizer.build([variable])
    for step in range(steps):
        gradient = np.cos(np.arange(6) + step).astype("float32") * 2.0
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), variable)])
    return keras.ops.convert_to_numpy(variable)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_an_optimizer_round_trips_with_the_values_given_and_keras_keys(name):
    ours, theirs, own = OPTIMIZERS[name]
    placement = (
        {"epsilon_placement": name.removeprefix("adam_")} if ours is custom_layers.Adam else {}
    )
    kwargs = {**own, **BASE, **placement}
    rebuilt = ours.from_config(ours(**kwargs).get_config())
    config = rebuilt.get_config()
    for key, value in kwargs.items():
        assert config[key] == pytest.approx(value) if isinstance(value, float) else value, key
    reference = ours(**kwargs)
    if theirs is not None:
        twin_kwargs = {k: v for k, v in kwargs.items() if k != "epsilon_placement"}
        assert_twin_keys(ours, config, theirs(**twin_kwargs).get_config())
        reference = theirs(**twin_kwargs)
    # the rebuilt optimizer updates as the twin (or the original) does
    np.testing.assert_allclose(_updated(rebuilt), _updated(reference), rtol=1e-6, atol=1e-7)


def test_the_notes_adam_does_not_reload_as_keras_adam():
    # the two placements differ most in the first steps at a large epsilon
    def notes():
        return custom_layers.Adam(0.1, epsilon=0.5, epsilon_placement="notes")

    rebuilt = custom_layers.Adam.from_config(notes().get_config())
    weights = _updated(rebuilt, 2)
    np.testing.assert_allclose(weights, _updated(notes(), 2), rtol=1e-6)
    assert np.max(np.abs(weights - _updated(keras.optimizers.Adam(0.1, epsilon=0.5), 2))) > 1e-3


def test_smoothing_over_a_class_axis_that_is_not_last_counts_that_axis_keras_does_not():
    # y·(1 − ε) + ε/N with N the number of classes, along `axis`. Keras 3.15
    # takes N from the last axis whatever `axis` is (3 classes on axis 1
    # here, 4 entries on the last): the twin keeps the formula's N.
    labels = np.eye(3, dtype="float32")[RNG.integers(0, 3, (5, 4))].transpose(0, 2, 1)
    logits = RNG.standard_normal((5, 3, 4)).astype("float32")
    ours = custom_layers.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2, axis=1)
    smoothed = labels * 0.8 + 0.2 / 3
    plain = keras.losses.CategoricalCrossentropy(from_logits=True, axis=1)
    np.testing.assert_allclose(ours(labels, logits), plain(smoothed, logits), rtol=1e-6)
    theirs = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2, axis=1)
    keras_smoothed = labels * 0.8 + 0.2 / 4
    np.testing.assert_allclose(theirs(labels, logits), plain(keras_smoothed, logits), rtol=1e-6)
