"""Dense: z = x·W + b, a = g(z), vs a NumPy reference and keras.layers.Dense."""

import keras
import numpy as np
import pytest

import custom_layers
from custom_layers import activations
from tests.helpers import FORWARD_TOL, GRADIENT_TOL, layer_gradients


def _ref_dense(x, w, b, g=lambda z: z):
    # z_j = w_j · x + b_j for each neuron j (the columns of w).
    return g(np.einsum("...i,ij->...j", x, w) + b)


def _twins(units, activation, n_in, builtin_activation=None):
    """A built custom Dense and a keras Dense holding the same weights."""
    custom = custom_layers.Dense(units, activation=activation)
    builtin = keras.layers.Dense(units, activation=builtin_activation or activation)
    custom.build((None, n_in))
    builtin.build((None, n_in))
    builtin.set_weights(custom.get_weights())
    return custom, builtin


@pytest.mark.parametrize("shape", [(7, 5), (2, 3, 5), (2, 2, 3, 5)])
def test_forward_matches_reference_on_any_leading_dims(shape):
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    layer = custom_layers.Dense(4, bias_initializer="random_normal")
    out = np.asarray(layer(x))
    w, b = layer.get_weights()
    assert out.shape == (*shape[:-1], 4)
    np.testing.assert_allclose(out, _ref_dense(x, w, b), rtol=1e-5, atol=FORWARD_TOL)
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *shape[1:-1], 4)


@pytest.mark.parametrize(
    ("activation", "builtin_activation"),
    [
        (None, None),
        (activations.relu, "relu"),
        ("sigmoid", "sigmoid"),
        ("tanh", "tanh"),
        ("softmax", "softmax"),
        (activations.leaky_relu, lambda z: keras.activations.leaky_relu(z, 0.01)),
    ],
)
def test_forward_and_gradients_match_builtin_dense(activation, builtin_activation):
    x = np.random.default_rng(1).standard_normal((16, 6)).astype("float32")
    upstream = np.random.default_rng(2).standard_normal((16, 5)).astype("float32")
    custom, builtin = _twins(5, activation, 6, builtin_activation)
    # gradients in x, kernel and bias
    out_c, grads_c = layer_gradients(custom, x, upstream)
    out_b, grads_b = layer_gradients(builtin, x, upstream)
    assert len(grads_c) == 3
    np.testing.assert_allclose(out_c, out_b, rtol=1e-6, atol=FORWARD_TOL)
    for g_c, g_b in zip(grads_c, grads_b, strict=True):
        np.testing.assert_allclose(g_c, g_b, rtol=1e-5, atol=GRADIENT_TOL)


def test_weights_layout_and_defaults_match_keras():
    custom = custom_layers.Dense(3)
    custom.build((None, 4))
    kernel, bias = custom.kernel, custom.bias
    assert tuple(kernel.shape) == (4, 3) and tuple(bias.shape) == (3,)
    assert [v.name for v in custom.weights] == ["kernel", "bias"]
    np.testing.assert_array_equal(bias.numpy(), 0.0)
    # glorot_uniform: |w| <= sqrt(6 / (fan_in + fan_out))
    assert np.all(np.abs(kernel.numpy()) <= np.sqrt(6 / 7))
    no_bias = custom_layers.Dense(3, use_bias=False)
    no_bias.build((None, 4))
    assert len(no_bias.weights) == 1 and no_bias.bias is None


def test_two_linear_layers_equal_one_with_the_product_matrix():
    # The notes: without activations a network is linear regression.
    x = np.random.default_rng(3).standard_normal((10, 4)).astype("float32")
    first = custom_layers.Dense(6, bias_initializer="random_normal")
    second = custom_layers.Dense(2, bias_initializer="random_normal")
    stacked = np.asarray(second(first(x)))
    (w1, b1), (w2, b2) = first.get_weights(), second.get_weights()
    single = custom_layers.Dense(2)
    single.build((None, 4))
    single.set_weights([w1 @ w2, b1 @ w2 + b2])
    np.testing.assert_allclose(stacked, single(x), rtol=1e-5, atol=1e-5)


def test_sequential_of_two_dense_layers_as_in_the_notes():
    model = keras.Sequential(
        [keras.Input((30,)), custom_layers.Dense(25, activation="relu"), custom_layers.Dense(1)]
    )
    assert model.output_shape == (None, 1)
    assert model.count_params() == 30 * 25 + 25 + 25 + 1


def test_regularizer_and_constraint_are_applied():
    layer = custom_layers.Dense(
        2, kernel_regularizer=keras.regularizers.L2(0.5), kernel_constraint="non_neg"
    )
    layer.build((None, 3))
    layer.kernel.assign(np.full((3, 2), 2.0, "float32"))
    layer(np.ones((1, 3), "float32"))
    np.testing.assert_allclose(float(layer.losses[0]), 0.5 * 6 * 4.0, rtol=1e-6)
    assert np.asarray(layer.kernel_constraint(np.float32([-1.0])))[0] == 0.0


def test_input_with_changed_feature_count_is_rejected():
    layer = custom_layers.Dense(2)
    layer(np.ones((1, 3), "float32"))
    with pytest.raises(ValueError, match=r"expected axis -1 .* value 3"):
        layer(np.ones((1, 4), "float32"))


def test_unknown_feature_dimension_is_rejected():
    with pytest.raises(ValueError, match=r"must be known. Received: input_shape"):
        custom_layers.Dense(2).build((None, None))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"units": 0}, r"Received: units=0"),
        ({"units": -1}, r"Received: units=-1"),
        ({"units": 2.5}, r"Received: units=2.5"),
        ({"units": True}, r"Received: units=True"),
        ({"units": "8"}, r"Received: units='8'"),
        ({"units": 2, "activation": "no_such"}, r"Received: activation='no_such'"),
        ({"units": 2, "use_bias": "yes"}, r"Received: use_bias='yes'"),
        ({"units": 2, "kernel_initializer": "nope"}, r"Received: kernel_initializer='nope'"),
        ({"units": 2, "bias_initializer": 3}, r"Received: bias_initializer=3"),
        ({"units": 2, "kernel_regularizer": "nope"}, r"Received: kernel_regularizer='nope'"),
        ({"units": 2, "bias_constraint": "nope"}, r"Received: bias_constraint='nope'"),
    ],
)
def test_bad_constructor_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        custom_layers.Dense(**kwargs)
