"""Every argument a Keras optimizer takes, honoured by GradientDescent (plain
and with Nesterov momentum), RMSprop and Adam (plain and AMSGrad) exactly as by
keras.optimizers.SGD, RMSprop and Adam (issue: drop-in twins)."""

import functools

import keras
import numpy as np
import pytest
from keras import ops

import custom_layers
from recipes import backends
from tests.helpers import fit_in_passes

TWINS = {
    "gradient_descent": (
        lambda **kw: custom_layers.GradientDescent(0.05, **kw),
        lambda **kw: keras.optimizers.SGD(0.05, **kw),
    ),
    "nesterov_momentum": (
        lambda **kw: custom_layers.GradientDescent(0.05, momentum=0.9, nesterov=True, **kw),
        lambda **kw: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True, **kw),
    ),
    "rmsprop": (
        lambda **kw: custom_layers.RMSprop(0.01, **kw),
        lambda **kw: keras.optimizers.RMSprop(0.01, **kw),
    ),
    "rmsprop_centered_momentum": (
        lambda **kw: custom_layers.RMSprop(0.01, momentum=0.5, centered=True, **kw),
        lambda **kw: keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True, **kw),
    ),
    "adam": (
        lambda **kw: custom_layers.Adam(0.01, epsilon_placement="keras", **kw),
        lambda **kw: keras.optimizers.Adam(0.01, **kw),
    ),
    "amsgrad": (
        lambda **kw: custom_layers.Adam(0.01, amsgrad=True, epsilon_placement="keras", **kw),
        lambda **kw: keras.optimizers.Adam(0.01, amsgrad=True, **kw),
    ),
}
ARGUMENTS = {
    "weight_decay": {"weight_decay": 0.1},
    "clipnorm": {"clipnorm": 0.1},
    "clipvalue": {"clipvalue": 0.01},
    "global_clipnorm": {"global_clipnorm": 0.1},
    "use_ema": {"use_ema": True, "ema_momentum": 0.9, "ema_overwrite_frequency": 3},
    "loss_scale_factor": {"loss_scale_factor": 128.0},
    "gradient_accumulation_steps": {"gradient_accumulation_steps": 2},
}


def _trained_weights(optimizer, embedding=False, passes=5):
    """20 steps of a small model: ``passes`` passes over 4 batches of 16,
    the same data and initial weights every call."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    if embedding:  # gradients of the embedding table are IndexedSlices
        model = keras.Sequential(
            [
                keras.Input((3,), dtype="int32"),
                keras.layers.Embedding(50, 4),
                keras.layers.Flatten(),
                keras.layers.Dense(1),
            ]
        )
        x = rng.integers(0, 50, (64, 3))
    else:
        model = keras.Sequential(
            [keras.Input((5,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)]
        )
        x = rng.standard_normal((64, 5)).astype("float32")
    y = rng.standard_normal((64, 1)).astype("float32")
    # the optimizer built before fit: one trace of the train step, not two
    # (the lazy build inside the first trace is covered by test_training)
    backends.compile_for_fit(model, optimizer=optimizer, loss="mse")
    # the passes as one epoch of the data repeated (Keras' per-epoch set-up
    # was a third of each fit's time)
    fit_in_passes(model, x, y, passes=passes, batch_size=16)
    return model.get_weights()


@functools.cache
def _trained_without_arguments(optimizer):
    """The weights ``_trained_weights`` gives the plain ``TWINS[optimizer]`` (ours)."""
    return _trained_weights(TWINS[optimizer][0]())


def _max_diff(a, b):
    return max(float(np.max(np.abs(u - v))) for u, v in zip(a, b, strict=True))


@pytest.mark.parametrize("argument", ARGUMENTS)
@pytest.mark.parametrize("optimizer", TWINS)
def test_argument_is_honoured_like_the_keras_twin(optimizer, argument):
    ours, theirs = TWINS[optimizer]
    kwargs = ARGUMENTS[argument]
    with_argument = _trained_weights(ours(**kwargs))
    assert _max_diff(with_argument, _trained_weights(theirs(**kwargs))) <= 1e-6
    if argument == "loss_scale_factor":
        # scales the loss up and the gradients back down: the weights must not
        # change, the scaling must happen
        assert float(ours(**kwargs).scale_loss(ops.convert_to_tensor(1.0))) == 128.0
        assert _max_diff(with_argument, _trained_without_arguments(optimizer)) <= 1e-6
    else:
        # the argument does something: without it the weights differ
        assert _max_diff(with_argument, _trained_without_arguments(optimizer)) > 1e-4


@pytest.mark.parametrize("optimizer", TWINS)
def test_sparse_embedding_gradients_like_the_keras_twin(optimizer):
    ours, theirs = TWINS[optimizer]
    assert _max_diff(_trained_weights(ours(), True), _trained_weights(theirs(), True)) <= 1e-6


@pytest.mark.tensorflow_only  # tf.IndexedSlices: JAX's gradients are dense arrays
@pytest.mark.parametrize("optimizer", TWINS)
def test_indexed_slices_update_only_their_rows(optimizer):
    import tensorflow as tf

    ours, theirs = TWINS[optimizer]
    results = []
    for make in (ours, theirs):
        table = keras.Variable(np.ones((6, 2), "float32"))
        gradient = tf.IndexedSlices(
            values=tf.constant([[1.0, -2.0], [0.5, 0.5]]),
            indices=tf.constant([1, 4]),
            dense_shape=tf.constant([6, 2]),
        )
        opt = make()
        for _ in range(3):
            opt.apply([gradient], [table])
        results.append(table.numpy())
    np.testing.assert_allclose(results[0], results[1], atol=1e-7)
    untouched = [0, 2, 3, 5]
    np.testing.assert_array_equal(results[0][untouched], 1.0)


@pytest.mark.parametrize("optimizer", TWINS)
def test_exclude_from_weight_decay(optimizer):
    ours, theirs = TWINS[optimizer]
    weights = []
    for make in (ours, theirs):
        opt = make(weight_decay=0.5)
        kernel = keras.Variable(np.ones((2, 2), "float32"), name="kernel")
        bias = keras.Variable(np.ones(2, "float32"), name="bias")
        opt.exclude_from_weight_decay(var_names=["bias"])
        opt.apply([ops.zeros((2, 2)), ops.zeros(2)], [kernel, bias])
        weights.append((kernel.numpy(), bias.numpy()))
    np.testing.assert_allclose(weights[0][0], weights[1][0], atol=1e-7)
    assert np.all(weights[0][0] < 1.0)  # decayed
    np.testing.assert_array_equal(weights[0][1], 1.0)  # excluded


@pytest.mark.parametrize("optimizer", TWINS)
def test_name_and_config_carry_every_argument(optimizer):
    ours, _ = TWINS[optimizer]
    kwargs = {k: v for args in ARGUMENTS.values() for k, v in args.items()}
    kwargs.pop("clipvalue")  # Keras refuses more than one clipping mode at once
    kwargs.pop("global_clipnorm")
    opt = ours(name="mine", **kwargs)
    config = opt.get_config()
    assert config["name"] == "mine"
    for key, value in kwargs.items():
        assert config[key] == pytest.approx(value), key
    assert type(opt).from_config(config).get_config() == config


@pytest.mark.parametrize("optimizer", TWINS)
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"clipnorm": -1.0}, r"Received: clipnorm=-1.0"),
        ({"clipvalue": 0}, r"Received: clipvalue=0"),
        ({"global_clipnorm": "big"}, r"Received: global_clipnorm='big'"),
        ({"loss_scale_factor": 0.0}, r"Received: loss_scale_factor=0.0"),
        ({"weight_decay": -0.1}, r"Received: weight_decay=-0.1"),
        ({"weight_decay": "x"}, r"Received: weight_decay='x'"),
        # checked by Keras' base class, the same message as for the twin
        ({"clipnorm": 1.0, "clipvalue": 1.0}, r"Only one of `clipnorm`, `clipvalue`"),
        ({"gradient_accumulation_steps": 1}, r"Received: gradient_accumulation_steps=1"),
        ({"use_ema": True, "ema_momentum": 1.5}, r"Received: ema_momentum=1.5"),
    ],
)
def test_bad_base_arguments_raise_value_error(optimizer, kwargs, message):
    ours, _ = TWINS[optimizer]
    with pytest.raises(ValueError, match=message):
        ours(**kwargs)
