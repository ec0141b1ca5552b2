"""The notes' activations vs NumPy references, the Keras built-ins, and the
derivative table (autodiff and finite differences)."""

import keras
import numpy as np
import pytest

from custom_layers import activations
from tests.helpers import (
    FORWARD_TOL,
    GRADIENT_TOL,
    central_difference,
    gradient,
    values_with_edges,
)

# ---------------------------------------------------------------- references
# Written from the notes, in float64.


def _ref_relu(z):
    return np.maximum(0.0, z)


def _ref_linear(z):
    return z


def _ref_sigmoid(z):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def _ref_tanh(z):
    with np.errstate(over="ignore", invalid="ignore"):
        t = (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))
    # inf/inf past |z| ≈ 710 in float64: the formula's limit is sign(z).
    return np.where(np.isnan(t), np.sign(z), t)


def _ref_leaky_relu(z, alpha=0.01):
    return np.where(z > 0, z, alpha * z)


def _ref_softmax(z, axis=-1):
    # The notes: shifting the logits by a constant leaves a unchanged.
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


# The derivative table of the notes.
def _table_relu(z):
    return np.where(z > 0, 1.0, 0.0)


def _table_sigmoid(z):
    s = _ref_sigmoid(z)
    return s * (1 - s)


def _table_tanh(z):
    return 1 - _ref_tanh(z) ** 2


def _table_leaky_relu(z, alpha=0.01):
    return np.where(z > 0, 1.0, alpha)


# name -> (custom, NumPy reference, Keras built-in, table derivative)
CASES = {
    "relu": (activations.relu, _ref_relu, keras.activations.relu, _table_relu),
    "linear": (
        activations.linear,
        _ref_linear,
        keras.activations.linear,
        np.ones_like,
    ),
    "sigmoid": (activations.sigmoid, _ref_sigmoid, keras.activations.sigmoid, _table_sigmoid),
    "tanh": (activations.tanh, _ref_tanh, keras.activations.tanh, _table_tanh),
    "leaky_relu": (
        activations.leaky_relu,
        _ref_leaky_relu,
        lambda z: keras.activations.leaky_relu(z, negative_slope=0.01),
        _table_leaky_relu,
    ),
}
DERIVATIVES = {
    "relu": activations.relu_derivative,
    "sigmoid": activations.sigmoid_derivative,
    "tanh": activations.tanh_derivative,
    "leaky_relu": activations.leaky_relu_derivative,
}


@pytest.mark.parametrize("name", CASES)
def test_forward_matches_reference_and_builtin(name):
    custom, ref, builtin, _ = CASES[name]
    z = values_with_edges()
    got = keras.ops.convert_to_numpy(custom(z))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref(z.astype("float64")), rtol=1e-6, atol=FORWARD_TOL)
    np.testing.assert_allclose(
        got, keras.ops.convert_to_numpy(builtin(z)), rtol=1e-6, atol=FORWARD_TOL
    )


@pytest.mark.parametrize("name", CASES)
def test_gradient_matches_builtin(name):
    custom, _, builtin, _ = CASES[name]
    z = values_with_edges()
    if name == "leaky_relu":
        # At z = 0 the derivative is a convention, and the built-ins differ:
        # TensorFlow's takes α, JAX's 1. Ours takes the notes' table (α),
        # checked in test_backward_pass_is_the_table_derivative.
        z = z[z != 0]
    upstream = np.random.default_rng(1).standard_normal(z.shape).astype("float32")
    np.testing.assert_allclose(
        gradient(custom, z, upstream),
        gradient(builtin, z, upstream),
        rtol=1e-5,
        atol=GRADIENT_TOL,
    )


@pytest.mark.parametrize("name", CASES)
@pytest.mark.usefixtures("float64")
def test_backward_pass_is_the_table_derivative(name):
    # float64, so that the comparison sees the formula, not float32 rounding
    # of 1 − t² near t = ±1.
    custom, _, _, table = CASES[name]
    z = values_with_edges(dtype="float64")
    np.testing.assert_allclose(gradient(custom, z), table(z), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", DERIVATIVES)
@pytest.mark.usefixtures("float64")
def test_table_derivative_vs_autodiff_and_finite_differences(name):
    _, ref, builtin, table = CASES[name]
    # float64, away from the kink at 0 where the derivative is a convention.
    z = values_with_edges(dtype="float64")
    z = z[(np.abs(z) > 1e-3) & (np.abs(z) < 1e3)]
    derivative = np.asarray(DERIVATIVES[name](z))
    np.testing.assert_allclose(derivative, table(z), rtol=1e-12, atol=1e-15)
    # TF stores LeakyReLU's slope as a float32 attribute: 0.01 ≈ 0.00999999978.
    # Keras on JAX computes float64 built-ins in float32 (its result_type maps
    # 64-bit dtypes to 32-bit there): 1 − t² then carries float32 rounding.
    exact = np.asarray(builtin(z)).dtype == np.float64
    tol = {"rtol": 1e-7, "atol": 1e-12} if exact else {"rtol": 1e-6, "atol": 3e-7}
    np.testing.assert_allclose(derivative, gradient(builtin, z), **tol)
    np.testing.assert_allclose(derivative, central_difference(ref, z), rtol=1e-6, atol=1e-8)


def test_relu_derivative_at_zero_is_zero_like_the_builtin():
    # The notes: "0 or 1 in practice"; the ReLU gradient at exactly 0 is 0 in
    # TensorFlow (tf.nn.relu) and in JAX (jax.nn.relu) alike.
    assert gradient(activations.relu, np.array([0.0], "float32"))[0] == 0.0
    assert gradient(keras.activations.relu, np.array([0.0], "float32"))[0] == 0.0


def test_leaky_relu_alpha_is_honoured_and_differs_from_keras_default():
    z = np.array([-2.0, 3.0], "float32")
    np.testing.assert_allclose(activations.leaky_relu(z, alpha=0.2), [-0.4, 3.0], rtol=1e-7)
    np.testing.assert_allclose(gradient(lambda x: activations.leaky_relu(x, 0.2), z), [0.2, 1.0])
    # Keras' function defaults to 0.2, the notes (and ours) to 0.01.
    assert not np.allclose(activations.leaky_relu(z), keras.activations.leaky_relu(z))


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softplus"])
def test_no_overflow_at_extreme_logits(name):
    fn = getattr(activations, name)
    z = np.array([-1e30, -1000.0, 1000.0, 1e30], "float32")
    assert np.all(np.isfinite(fn(z))), name
    assert np.all(np.isfinite(gradient(fn, z))), name


def test_tanh_keeps_relative_precision_near_zero():
    z = np.array([1e-8, -3e-7, 1e-20], "float32")
    np.testing.assert_allclose(activations.tanh(z), z, rtol=1e-6)


@pytest.mark.usefixtures("float64")
def test_softplus_is_log_one_plus_exp_with_sigmoid_derivative():
    z = values_with_edges(dtype="float64")
    with np.errstate(over="ignore"):
        ref = np.where(z > 30, z, np.log1p(np.exp(np.minimum(z, 30))))
    np.testing.assert_allclose(activations.softplus(z), ref, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(gradient(activations.softplus, z), _ref_sigmoid(z), rtol=1e-12)


# ------------------------------------------------------------------ softmax


def _logits(shape=(6, 5), scale=5.0, seed=0):
    z = scale * np.random.default_rng(seed).standard_normal(shape)
    z[0] = [1000.0, -1000.0, 0.0, 1e30, -1e30]
    z[1] = [-1000.0, -1000.0, -1000.0, -1000.0, -1000.0]
    return z.astype("float32")


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_matches_reference_builtin_and_gradient(axis):
    z = _logits()
    got = np.asarray(activations.softmax(z, axis=axis))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, _ref_softmax(z.astype("float64"), axis), atol=FORWARD_TOL)
    np.testing.assert_allclose(
        got, np.asarray(keras.activations.softmax(z, axis=axis)), atol=FORWARD_TOL
    )
    upstream = np.random.default_rng(3).standard_normal(z.shape).astype("float32")
    np.testing.assert_allclose(
        gradient(lambda x: activations.softmax(x, axis=axis), z, upstream),
        gradient(lambda x: keras.activations.softmax(x, axis=axis), z, upstream),
        atol=GRADIENT_TOL,
    )


@pytest.mark.usefixtures("float64")
def test_softmax_jacobian_vs_finite_differences():
    z = np.random.default_rng(4).standard_normal((3, 4))
    upstream = np.random.default_rng(5).standard_normal((3, 4))
    analytic = gradient(activations.softmax, z, upstream)
    h = 1e-6
    numeric = np.zeros_like(z)
    for index in np.ndindex(z.shape):
        step = np.zeros_like(z)
        step[index] = h
        numeric[index] = np.sum((_ref_softmax(z + step) - _ref_softmax(z - step)) * upstream) / (
            2 * h
        )
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("shift", [100.0, -1000.0, 3.5])
@pytest.mark.usefixtures("float64")
def test_softmax_shift_invariance(shift):
    # float64: in float32, z + 1000 already rounds z itself by ~6e-5.
    z = 5 * np.random.default_rng(6).standard_normal((8, 4))
    np.testing.assert_allclose(
        activations.softmax(z), activations.softmax(z + shift), rtol=1e-12, atol=1e-15
    )


def test_softmax_outputs_are_positive_and_sum_to_one():
    z = 5 * np.random.default_rng(7).standard_normal((100, 10)).astype("float32")
    a = np.asarray(activations.softmax(z))
    assert np.all(a > 0)
    np.testing.assert_allclose(a.sum(axis=-1), 1.0, atol=1e-6)


def test_sigmoid_is_two_class_softmax():
    # a_1 = e^z / (e^z + e^0) = 1 / (1 + e^-z)
    z = values_with_edges()
    pair = np.stack([z, np.zeros_like(z)], axis=-1)
    np.testing.assert_allclose(
        activations.softmax(pair)[:, 0], activations.sigmoid(z), rtol=1e-6, atol=FORWARD_TOL
    )


# -------------------------------------------------------------- validation


@pytest.mark.parametrize("alpha", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_leaky_relu_rejects_bad_alpha(alpha):
    with pytest.raises(ValueError, match=r"Received: alpha="):
        activations.leaky_relu(np.ones(2, "float32"), alpha=alpha)


@pytest.mark.parametrize("axis", [1.0, "last", None, True])
def test_softmax_rejects_bad_axis(axis):
    with pytest.raises(ValueError, match=r"Received: axis="):
        activations.softmax(np.ones((2, 2), "float32"), axis=axis)


def test_get_resolves_notes_names_and_rejects_unknown():
    assert activations.get("relu") is activations.relu
    assert activations.get(None) is activations.linear
    assert activations.get("elu") is keras.activations.elu
    with pytest.raises(ValueError, match=r"Received: activation='no_such'"):
        activations.get("no_such")


def test_softmax_over_a_size_one_axis_warns_like_keras():
    with pytest.warns(UserWarning, match="that axis has size 1"):
        out = activations.softmax(np.array([[3.0], [-2.0]], "float32"))
    np.testing.assert_array_equal(out, 1.0)
