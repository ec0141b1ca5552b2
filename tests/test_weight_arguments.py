"""Initializers, constraints and regularizers checked by their effect on the
weights and the losses, not by the config that stores them: a layer that
ignored one of them would still store it (issue: tests that fail when an
argument is ignored)."""

import keras
import numpy as np
import pytest

import custom_layers

RNG = np.random.default_rng(0)

# (ours, the Keras twin, positional arguments, an input)
LAYERS = {
    "dense": (custom_layers.Dense, keras.layers.Dense, (3,), RNG.standard_normal((4, 5))),
    "conv2d": (
        custom_layers.Conv2D,
        keras.layers.Conv2D,
        (2, 3),
        RNG.standard_normal((4, 6, 6, 2)),
    ),
}


def _pair(name, **kwargs):
    """Both twins with ``kwargs``, built on the input; the built-in with the
    custom one's weights."""
    ours, theirs, args, x = LAYERS[name]
    x = x.astype("float32")
    custom, builtin = ours(*args, **kwargs), theirs(*args, **kwargs)
    custom.build(x.shape)
    builtin.build(x.shape)
    return custom, builtin, x


@pytest.mark.parametrize("name", LAYERS)
def test_initializers_show_in_the_built_weights(name):
    custom, builtin, _ = _pair(
        name,
        kernel_initializer=keras.initializers.Constant(0.3),
        bias_initializer=keras.initializers.Constant(-0.2),
    )
    for layer in (custom, builtin):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.kernel), np.float32(0.3))
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.bias), np.float32(-0.2))
    # a random one draws what the twin draws from the same seed
    seeded = {"kernel_initializer": keras.initializers.RandomNormal(stddev=1.0, seed=4)}
    seeded["bias_initializer"] = keras.initializers.RandomUniform(-1, 1, seed=5)
    custom, builtin, _ = _pair(name, **seeded)
    for ours, theirs in zip(custom.get_weights(), builtin.get_weights(), strict=True):
        assert np.unique(ours).size == ours.size  # drawn, not a constant
        np.testing.assert_array_equal(ours, theirs)


def _one_step(layer, x):
    """One SGD step on the sum of the outputs: with x >= 0, every weight goes down."""
    model = keras.Sequential([keras.Input(x.shape[1:]), layer])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss=lambda y, p: keras.ops.sum(p))
    weights = model.get_weights()
    model.fit(x, np.zeros((len(x), *model.output_shape[1:]), "float32"), epochs=1, verbose=0)
    return weights, model.get_weights()


@pytest.mark.parametrize("name", LAYERS)
def test_constraints_hold_after_a_training_step(name):
    constraints = {
        "kernel_constraint": keras.constraints.NonNeg(),
        "bias_constraint": keras.constraints.NonNeg(),
    }
    positive = {
        "kernel_initializer": keras.initializers.Constant(0.1),
        "bias_initializer": keras.initializers.Constant(0.1),
    }
    custom, builtin, x = _pair(name, **constraints, **positive)
    x = np.abs(x)  # d(sum of outputs)/dw > 0: the step pushes every weight down, below 0
    trained = {}
    for impl, layer in (("custom", custom), ("builtin", builtin)):
        unconstrained = LAYERS[name][0](*LAYERS[name][2], **positive)
        _, free = _one_step(unconstrained, x)
        assert min(float(np.min(w)) for w in free) < 0  # without the constraint: negative
        _, trained[impl] = _one_step(layer, x)
        assert min(float(np.min(w)) for w in trained[impl]) >= 0, impl
    for ours, theirs in zip(trained["custom"], trained["builtin"], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", LAYERS)
def test_regularizers_add_their_penalty_to_the_losses(name):
    regularizers = {
        "kernel_regularizer": keras.regularizers.L2(0.1),
        "bias_regularizer": keras.regularizers.L1(0.2),
        "activity_regularizer": keras.regularizers.L2(0.05),
        "bias_initializer": keras.initializers.Constant(-0.3),
    }
    custom, builtin, x = _pair(name, **regularizers)
    builtin.set_weights(custom.get_weights())
    outputs = {}
    for impl, layer in (("custom", custom), ("builtin", builtin)):
        outputs[impl] = keras.ops.convert_to_numpy(layer(x))
    kernel, bias = custom.get_weights()
    ours = sorted(float(keras.ops.convert_to_numpy(loss)) for loss in custom.losses)
    theirs = sorted(float(keras.ops.convert_to_numpy(loss)) for loss in builtin.losses)
    assert len(ours) == 3
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    # the two weight penalties, as their formulas give them
    expected = [0.1 * np.sum(kernel.astype("float64") ** 2), 0.2 * np.sum(np.abs(bias))]
    for value in expected:
        assert any(np.isclose(value, loss, rtol=1e-5) for loss in ours), (value, ours)
    # and the activity penalty on the output a, per example: 0.05·Σa² / batch
    activity = 0.05 * np.sum(outputs["custom"].astype("float64") ** 2) / len(x)
    assert any(np.isclose(activity, loss, rtol=1e-5) for loss in ours), (activity, ours)
