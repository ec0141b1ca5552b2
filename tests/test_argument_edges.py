"""Each checked argument at the edges of what it accepts: the edge value
works and does what the Keras twin does with it, the value past it is
refused with the interval named in the message. (The tests elsewhere use
values well inside the intervals, which a moved bound leaves alone.)"""

import re

import keras
import numpy as np
import pytest

import custom_layers
from tests.helpers import FORWARD_TOL

RNG = np.random.default_rng(2)


@pytest.mark.parametrize(
    ("ours", "theirs", "x"),
    [
        (custom_layers.Dense(1), keras.layers.Dense(1), RNG.standard_normal((4, 3))),
        (
            custom_layers.Conv2D(1, 1, bias_initializer="ones"),
            keras.layers.Conv2D(1, 1, bias_initializer="ones"),
            RNG.standard_normal((2, 3, 3, 2)),
        ),
    ],
    ids=["units=1", "filters=1,kernel_size=1"],
)
def test_the_smallest_sizes_are_accepted_and_computed(ours, theirs, x):
    x = x.astype("float32")
    expected = keras.ops.convert_to_numpy(theirs(x))
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x)), expected, atol=FORWARD_TOL)


@pytest.mark.parametrize(
    ("make", "name", "value", "interval"),
    [
        (custom_layers.Adam, "beta_1", 1.0, "[0.0, 1.0)"),
        (custom_layers.Adam, "epsilon", 0.0, "(0.0, inf)"),
        (custom_layers.RMSprop, "rho", -0.5, "[0.0, 1.0)"),
        (custom_layers.GradientDescent, "learning_rate", 0.0, "(0.0, inf)"),
        (custom_layers.GradientDescent, "weight_decay", -0.1, "[0.0, inf)"),
        (custom_layers.BinaryCrossentropy, "label_smoothing", 1.5, "[0.0, 1.0]"),
    ],
)
def test_a_refused_value_names_the_interval(make, name, value, interval):
    message = re.escape(f"Argument `{name}` must be in {interval}. Received: {name}={value!r}")
    with pytest.raises(ValueError, match=f"^{message}$"):
        make(**{name: value})


def _updated(optimizer, steps=3):
    """A variable after ``steps`` updates with fixed gradients."""
    variable = keras.Variable(np.linspace(-1.0, 1.0, 6).astype("float32"))
    optimizer.build([variable])
    for step in range(steps):
        gradient = np.cos(np.arange(6) + step).astype("float32")
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), variable)])
    return keras.ops.convert_to_numpy(variable)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (
            lambda: custom_layers.Adam(0.1, beta_1=0.0, epsilon_placement="keras"),
            lambda: keras.optimizers.Adam(0.1, beta_1=0.0),
        ),
        (
            lambda: custom_layers.GradientDescent(0.1, momentum=1.0),
            lambda: keras.optimizers.SGD(0.1, momentum=1.0),
        ),
        (
            lambda: custom_layers.RMSprop(0.1, rho=0.0, weight_decay=0.0),
            lambda: keras.optimizers.RMSprop(0.1, rho=0.0, weight_decay=0.0),
        ),
    ],
    ids=["beta_1=0", "momentum=1", "rho=0,weight_decay=0"],
)
def test_an_optimizer_at_the_edge_of_its_interval_updates_as_the_twin(ours, theirs):
    np.testing.assert_allclose(_updated(ours()), _updated(theirs()), rtol=1e-6, atol=1e-7)


def test_label_smoothing_one_is_accepted_and_smooths_fully():
    labels = RNG.integers(0, 2, (5, 3)).astype("float32")
    logits = RNG.standard_normal((5, 3)).astype("float32")
    ours = custom_layers.BinaryCrossentropy(from_logits=True, label_smoothing=1.0)
    theirs = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=1.0)
    halves = keras.losses.BinaryCrossentropy(from_logits=True)(np.full_like(labels, 0.5), logits)
    np.testing.assert_allclose(ours(labels, logits), theirs(labels, logits), rtol=1e-6)
    np.testing.assert_allclose(ours(labels, logits), halves, rtol=1e-6)


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_rmsprop_state_is_laid_out_like_the_twins_with_and_without_momentum(momentum):
    variables = [keras.Variable(np.zeros((3, 2), "float32"))]
    ours = custom_layers.RMSprop(momentum=momentum)
    theirs = keras.optimizers.RMSprop(momentum=momentum)
    ours.build(variables)
    theirs.build(variables)
    assert [v.shape for v in ours.variables] == [v.shape for v in theirs.variables]


class _Halving(keras.optimizers.schedules.LearningRateSchedule):
    """A user's schedule, not registered: it loads only through ``custom_objects``."""

    def __call__(self, step):
        return 0.2 * 0.5 ** keras.ops.cast(step, "float32")

    def get_config(self):
        return {}


def test_an_adam_config_with_a_users_schedule_loads_through_custom_objects():
    config = custom_layers.Adam(_Halving(), epsilon_placement="keras").get_config()
    rebuilt = custom_layers.Adam.from_config(config, custom_objects={"_Halving": _Halving})
    expected = _updated(keras.optimizers.Adam(_Halving()))
    np.testing.assert_allclose(_updated(rebuilt), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((None, 5, 5), r"Conv2D expects inputs of rank 4 \(batch, height, width, channels\)"),
        ((None, 5, 5, None), r"The channel dimension of the inputs to `Conv2D` must be known"),
    ],
)
def test_conv2d_build_refuses_a_shape_it_cannot_size(shape, message):
    # build() called directly: a layer's __call__ checks the rank first
    with pytest.raises(ValueError, match=message):
        custom_layers.Conv2D(2, 3).build(shape)


def test_an_input_exactly_the_kernels_size_gives_one_pixel():
    x = RNG.standard_normal((2, 3, 4, 2)).astype("float32")
    ours, theirs = custom_layers.Conv2D(2, (3, 4)), keras.layers.Conv2D(2, (3, 4))
    expected = keras.ops.convert_to_numpy(theirs(x))
    assert expected.shape == (2, 1, 1, 2)
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x)), expected, atol=FORWARD_TOL)


@pytest.mark.parametrize(
    ("dilation_rate", "kernel"),
    [(1, "the kernel (3)"), (2, "the kernel spans (k − 1)·d + 1 = 5")],
)
def test_an_input_smaller_than_the_kernel_names_what_the_kernel_spans(dilation_rate, kernel):
    layer = custom_layers.Conv2D(2, 3, dilation_rate=dilation_rate)
    with pytest.raises(ValueError, match=re.escape(f"Input height 2 is smaller than {kernel} ")):
        layer.build((None, 2, 9, 1))
