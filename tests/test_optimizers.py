"""GradientDescent and Adam vs NumPy references of the notes' updates and
vs keras.optimizers.SGD / Adam."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import custom_layers
from tests.helpers import TRAJECTORY_TOL

# A fixed problem: least squares on a random design, gradient 2/m·Xᵀ(Xw − y).
_RNG = np.random.default_rng(0)
X = _RNG.standard_normal((64, 5))
Y = X @ _RNG.standard_normal(5) + 0.1 * _RNG.standard_normal(64)
W0 = _RNG.standard_normal(5)


def _grad_np(w):
    return 2 / len(X) * X.T @ (X @ w - Y)


def _run(optimizer, steps=100, w0=W0, grad_fn=None):
    """Apply ``steps`` updates of ``optimizer`` to one variable, return its path."""
    w = keras.Variable(np.asarray(w0, "float32"), name="w")
    xs, ys = tf.constant(X, "float32"), tf.constant(Y, "float32")
    path = []
    for _ in range(steps):
        if grad_fn is None:
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(tf.linalg.matvec(xs, w) - ys))
            g = tape.gradient(loss, w)
        else:
            g = tf.constant(grad_fn(w.numpy()), "float32")
        optimizer.apply([g], [w])
        path.append(w.numpy().copy())
    return np.array(path)


def _ref_gradient_descent(alpha, steps=100):
    w, path = W0.copy(), []
    for _ in range(steps):
        w = w - alpha * _grad_np(w)  # w = w − α·∂J/∂w
        path.append(w.copy())
    return np.array(path)


def _ref_adam(eta, beta_1, beta_2, eps, steps=100, grad_fn=_grad_np, w0=W0):
    w, m, v, path = np.array(w0, "float64"), 0.0, 0.0, []
    for t in range(1, steps + 1):
        g = grad_fn(w)
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        m_hat = m / (1 - beta_1**t)
        v_hat = v / (1 - beta_2**t)
        w = w - eta * m_hat / (np.sqrt(v_hat) + eps)
        path.append(w.copy())
    return np.array(path)


# ---------------------------------------------------------- GradientDescent


def test_gradient_descent_follows_the_notes_update():
    path = _run(custom_layers.GradientDescent(0.05))
    np.testing.assert_allclose(path, _ref_gradient_descent(0.05), rtol=1e-4, atol=TRAJECTORY_TOL)
    assert np.linalg.norm(_grad_np(path[-1].astype("float64"))) < 0.1 * np.linalg.norm(_grad_np(W0))


def test_gradient_descent_matches_keras_sgd_for_100_steps():
    ours = _run(custom_layers.GradientDescent(0.05))
    theirs = _run(keras.optimizers.SGD(0.05))
    assert np.max(np.abs(ours - theirs)) <= TRAJECTORY_TOL


# --------------------------------------------------------------------- Adam


def test_adam_follows_the_notes_update_with_bias_correction():
    path = _run(custom_layers.Adam(0.05))
    ref = _ref_adam(0.05, 0.9, 0.999, 1e-7)
    np.testing.assert_allclose(path, ref, rtol=1e-4, atol=TRAJECTORY_TOL)


def test_first_adam_step_is_learning_rate_times_sign():
    # t = 1: m̂ = g, v̂ = g², so the step is η·g/(|g| + ε) ≈ η·sign(g).
    w = _run(custom_layers.Adam(0.01), steps=1)[0]
    np.testing.assert_allclose(W0 - w, 0.01 * np.sign(_grad_np(W0)), rtol=1e-5)


def test_adam_keras_placement_matches_keras_adam_for_100_steps():
    ours = _run(custom_layers.Adam(0.05, epsilon_placement="keras"))
    theirs = _run(keras.optimizers.Adam(0.05))
    assert np.max(np.abs(ours - theirs)) <= TRAJECTORY_TOL


def test_adam_notes_and_keras_placements_differ_for_tiny_gradients():
    # Keras adds ε to √v (not √v̂): an effective ε of ε/√(1 − β₂ᵗ) ≈ 3.2e-6 at
    # t = 1, which dominates a gradient of 1e-6.
    def tiny(w):
        return np.full_like(w, 1e-6)

    notes = W0 - _run(custom_layers.Adam(0.01), steps=1, grad_fn=tiny)[0]
    keras_like = W0 - _run(keras.optimizers.Adam(0.01), steps=1, grad_fn=tiny)[0]
    np.testing.assert_allclose(notes, 0.01 * 1e-6 / (1e-6 + 1e-7), rtol=1e-4)
    np.testing.assert_allclose(keras_like, 0.01 * 1e-6 / (1e-6 + 1e-7 / np.sqrt(0.001)), rtol=1e-4)
    assert np.all(notes > 3 * keras_like)
    # The identity: Keras' update is the notes' with ε replaced by ε/√(1 − β₂ᵗ).
    rescaled = W0 - _run(custom_layers.Adam(0.01, epsilon=1e-7 / np.sqrt(0.001)), 1, grad_fn=tiny)
    np.testing.assert_allclose(rescaled[0], keras_like, rtol=1e-5, atol=1e-7)  # float32 ulp of w


def test_adam_placements_agree_once_gradients_dominate_epsilon():
    notes = _run(custom_layers.Adam(0.05))
    keras_like = _run(custom_layers.Adam(0.05, epsilon_placement="keras"))
    assert np.max(np.abs(notes - keras_like)) <= TRAJECTORY_TOL


def test_base_optimizer_features_come_free():
    # clipnorm and a learning-rate schedule, handled by the base class as for SGD.
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    ours = _run(custom_layers.GradientDescent(schedule, clipnorm=0.5), steps=30)
    theirs = _run(keras.optimizers.SGD(schedule, clipnorm=0.5), steps=30)
    assert np.max(np.abs(ours - theirs)) <= TRAJECTORY_TOL


def test_optimizer_configs_round_trip():
    for optimizer in [
        custom_layers.GradientDescent(0.3, clipvalue=1.0),
        custom_layers.Adam(0.002, beta_1=0.8, beta_2=0.99, epsilon=1e-6, epsilon_placement="keras"),
    ]:
        again = type(optimizer).from_config(optimizer.get_config())
        assert again.get_config() == optimizer.get_config()
        restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
        assert type(restored) is type(optimizer)


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (custom_layers.GradientDescent, {"learning_rate": 0.0}, r"Received: learning_rate=0.0"),
        (custom_layers.GradientDescent, {"learning_rate": -1}, r"Received: learning_rate=-1"),
        (custom_layers.GradientDescent, {"learning_rate": "big"}, r"learning_rate='big'"),
        (custom_layers.Adam, {"learning_rate": float("nan")}, r"Received: learning_rate=nan"),
        (custom_layers.Adam, {"beta_1": 1.0}, r"Received: beta_1=1.0"),
        (custom_layers.Adam, {"beta_1": -0.1}, r"Received: beta_1=-0.1"),
        (custom_layers.Adam, {"beta_2": 1.5}, r"Received: beta_2=1.5"),
        (custom_layers.Adam, {"epsilon": 0}, r"Received: epsilon=0"),
        (custom_layers.Adam, {"epsilon": None}, r"Received: epsilon=None"),
        (custom_layers.Adam, {"epsilon_placement": "tf"}, r"Received: epsilon_placement='tf'"),
    ],
)
def test_bad_constructor_arguments_raise_value_error(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)
