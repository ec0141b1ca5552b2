"""Property tests (hypothesis): on random shapes, values and arguments the
custom objects equal the Keras built-ins, values and gradients, 200 examples
per property (derandomized, so CI sees the same examples every run)."""

import keras
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from keras import ops

import custom_layers
from custom_layers import activations, losses
from tests.helpers import gradients

# max_examples comes from the profile tests/conftest.py loads: 200 per
# property in the suite, fewer in a --smoke run.
PROPERTY = settings(deadline=None, derandomize=True, database=None)
TOL = {"rtol": 1e-5, "atol": 1e-5}


def _floats(bound):
    return st.floats(-bound, bound, allow_nan=False, width=32)


def _arrays(bound, max_dims=3):
    return hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=1, max_dims=max_dims, max_side=8),
        elements=_floats(bound),
    )


def _upstream(y):
    """A fixed upstream gradient, nowhere zero: 1, 2, ..., 7, 1, 2, ..."""
    weights = (np.arange(int(np.prod(y.shape))) % 7 + 1).reshape(y.shape)
    return ops.convert_to_tensor(weights, y.dtype)


def _values_and_grads(fn_a, fn_b, x, compiled=False):
    """fn_a(x), fn_b(x) and the gradient of Σ fn(x)·w (a fixed w) for each,
    from one autodiff pass: each function gets its own copy of x, and their
    outputs, weighted and as they are (gradient stopped), are stacked into
    one result. With ``compiled`` (see ``tests.helpers.gradients``) all of
    it is one ``jax.jit`` call on JAX."""

    def both(xa, xb):
        ya, yb = fn_a(xa), fn_b(xb)
        w = _upstream(ya)
        return ops.stack([ya * w, yb * w, ops.stop_gradient(ya), ops.stop_gradient(yb)])

    values, (ga, gb) = gradients(both, x, x, compiled=compiled)
    return values[2], ga, values[3], gb


def _assert_layers_same(ours, theirs, x, tol, compiled=False):
    """Two built layers with the same weights: the same outputs, and the same
    gradients of Σ layer(x)·w in the input and in every trainable weight
    (kernel and bias), from one autodiff pass (``stateless_call`` takes the
    weights as arguments)."""
    weights = [ops.convert_to_numpy(v) for v in ours.trainable_variables]
    count = len(weights)

    def both(xa, xb, *values):
        ya, _ = ours.stateless_call(list(values[:count]), [], xa)
        yb, _ = theirs.stateless_call(list(values[count:]), [], xb)
        w = _upstream(ya)
        return ops.stack([ya * w, yb * w, ops.stop_gradient(ya), ops.stop_gradient(yb)])

    values, grads = gradients(both, x, x, *weights, *weights, compiled=compiled)
    np.testing.assert_allclose(values[2], values[3], **tol)
    ga, gb, *weight_grads = grads
    assert np.all(np.isfinite(ga))
    np.testing.assert_allclose(ga, gb, **tol)
    # A weight's gradient sums the output's gradient times the input over the
    # batch (and positions): its float32 error grows with Σ|x|, the bias'
    # with the number of terms.
    terms = x.size // x.shape[-1]
    scale = {"kernel": max(1.0, float(np.abs(x).sum())), "bias": max(1.0, terms)}
    for name, ours_grad, theirs_grad in zip(
        ("kernel", "bias"), weight_grads[:count], weight_grads[count:], strict=False
    ):
        np.testing.assert_allclose(
            ours_grad, theirs_grad, rtol=tol["rtol"], atol=tol["atol"] * scale[name], err_msg=name
        )


def _assert_same(fn_a, fn_b, x, tol=TOL, compiled=False):
    ya, ga, yb, gb = _values_and_grads(fn_a, fn_b, x, compiled)
    assert np.all(np.isfinite(ya)) and np.all(np.isfinite(ga))
    np.testing.assert_allclose(ya, yb, **tol)
    np.testing.assert_allclose(ga, gb, **tol)


ACTIVATIONS = {
    "relu": (activations.relu, keras.activations.relu),
    "sigmoid": (activations.sigmoid, keras.activations.sigmoid),
    "tanh": (activations.tanh, keras.activations.tanh),
    "linear": (activations.linear, keras.activations.linear),
    "leaky_relu": (
        lambda z: activations.leaky_relu(z, 0.01),
        lambda z: keras.activations.leaky_relu(z, 0.01),
    ),
}


@PROPERTY
@given(name=st.sampled_from(sorted(ACTIVATIONS)), z=_arrays(1e4))
def test_activations_equal_keras(name, z):
    ours, theirs = ACTIVATIONS[name]
    if name == "leaky_relu":
        # At z = 0 the derivative is a convention: TensorFlow's built-in takes
        # α, JAX's 1 (ours α, the notes' table). Property off that point, and
        # off the subnormals, which XLA on CPU flushes to 0.
        z = np.where(np.abs(z) < np.finfo(np.float32).tiny, np.float32(1.0), z)
    # TF keeps LeakyReLU's slope as a float32 attribute: relative 1e-7 apart.
    _assert_same(ours, theirs, z)


@PROPERTY
@given(
    z=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=8),
        elements=_floats(1e4),
    ),
    axis=st.sampled_from([0, -1]),
)
def test_softmax_equals_keras(z, axis):
    _assert_same(
        lambda v: activations.softmax(v, axis=axis),
        lambda v: keras.activations.softmax(v, axis=axis),
        z,
    )


@st.composite
def _binary_batches(draw):
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=8))
    z = draw(hnp.arrays(np.float32, shape, elements=_floats(1e4)))
    soft = draw(st.booleans())
    labels = hnp.arrays(
        np.float32,
        shape,
        elements=st.floats(0, 1, width=32) if soft else st.sampled_from([0.0, 1.0]),
    )
    return draw(labels), z


@PROPERTY
@given(batch=_binary_batches(), from_logits=st.booleans(), smoothing=st.sampled_from([0.0, 0.1]))
def test_binary_crossentropy_equals_keras(batch, from_logits, smoothing):
    y, z = batch
    # probabilities: squash the logits through a stable sigmoid first
    x = z if from_logits else (1 / (1 + np.exp(-np.clip(z, -80, 80)))).astype("float32")
    kw = {"from_logits": from_logits, "label_smoothing": smoothing}
    _assert_same(
        lambda v: losses.binary_crossentropy(y, v, **kw),
        lambda v: keras.losses.binary_crossentropy(y, v, **kw),
        x,
        {"rtol": 1e-5, "atol": 1e-4},
    )


@st.composite
def _class_batches(draw):
    m = draw(st.integers(1, 8))
    n = draw(st.integers(2, 6))
    z = draw(hnp.arrays(np.float32, (m, n), elements=_floats(1e4)))
    labels = draw(hnp.arrays(np.int64, (m,), elements=st.integers(0, n - 1)))
    return labels, z


@PROPERTY
@given(batch=_class_batches(), from_logits=st.booleans())
def test_categorical_losses_equal_keras(batch, from_logits):
    labels, z = batch
    if from_logits:
        x = z
    else:  # probabilities from a softmax of moderate logits
        x = np.asarray(keras.activations.softmax(np.clip(z, -30, 30) / 3))
    one_hot = np.eye(z.shape[1], dtype="float32")[labels]
    tol = {"rtol": 1e-5, "atol": 1e-4}
    _assert_same(
        lambda v: losses.categorical_crossentropy(one_hot, v, from_logits),
        lambda v: keras.losses.categorical_crossentropy(one_hot, v, from_logits) + 0.0,
        x,
        tol,
    )
    _assert_same(
        lambda v: losses.sparse_categorical_crossentropy(labels, v, from_logits),
        lambda v: keras.losses.sparse_categorical_crossentropy(labels, v, from_logits) + 0.0,
        x,
        tol,
    )


@PROPERTY
@given(
    batch=st.integers(1, 6),
    n_in=st.integers(1, 12),
    units=st.integers(1, 12),
    activation=st.sampled_from([None, "relu", "sigmoid", "tanh", "softmax"]),
    data=st.data(),
)
def test_dense_equals_keras(batch, n_in, units, activation, data):
    if activation == "softmax" and units == 1:
        units = 2  # a 1-unit softmax is always 1 (both warn)
    x = data.draw(hnp.arrays(np.float32, (batch, n_in), elements=_floats(100)))
    ours = custom_layers.Dense(units, activation=activation, bias_initializer="random_normal")
    theirs = keras.layers.Dense(units, activation=activation)
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    _assert_layers_same(ours, theirs, x, {"rtol": 1e-5, "atol": 1e-4})


@st.composite
def _conv_configs(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["valid", "same"]))
    low = kernel if padding == "valid" else (1, 1)
    size = (draw(st.integers(low[0], 9)), draw(st.integers(low[1], 9)))
    channels = draw(st.integers(1, 4))
    x = draw(
        hnp.arrays(np.float32, (draw(st.integers(1, 3)), *size, channels), elements=_floats(10))
    )
    return x, draw(st.integers(1, 5)), kernel, strides, padding


@PROPERTY
@given(config=_conv_configs())
def test_conv2d_equals_keras(config):
    x, filters, kernel, strides, padding = config
    ours = custom_layers.Conv2D(filters, kernel, strides, padding, bias_initializer="random_normal")
    theirs = keras.layers.Conv2D(filters, kernel, strides, padding)
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    if keras.backend.backend() == "tensorflow" and kernel == (1, 1) and strides[0] != strides[1]:
        # TF's oneDNN kernel gradient is broken there (see test_conv2d.py):
        # compare the values only.
        np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-4)
        return
    # Compiled on JAX: each new shape is one XLA program, not one per op.
    _assert_layers_same(ours, theirs, x, {"rtol": 1e-5, "atol": 1e-4}, compiled=True)
