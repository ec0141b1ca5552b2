"""GradientDescent (plain, momentum, Nesterov), RMSprop and Adam (notes and
Keras ε placements, AMSGrad) vs NumPy references of their updates and vs
keras.optimizers.SGD / RMSprop / Adam."""

import keras
import numpy as np
import pytest
from keras import ops

import custom_layers
from tests.helpers import TRAJECTORY_TOL, gradients

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
    xs, ys = ops.convert_to_tensor(X, "float32"), ops.convert_to_tensor(Y, "float32")

    def loss(v):
        return ops.mean(ops.square(ops.matmul(xs, v) - ys))

    path = []
    for _ in range(steps):
        if grad_fn is None:
            g = gradients(loss, w.value)[1][0]
        else:
            g = grad_fn(w.numpy())
        optimizer.apply([ops.convert_to_tensor(g, "float32")], [w])
        path.append(w.numpy().copy())
    return np.array(path)


def _ref_gradient_descent(alpha, steps=100):
    w, path = W0.copy(), []
    for _ in range(steps):
        w = w - alpha * _grad_np(w)  # w = w − α·∂J/∂w
        path.append(w.copy())
    return np.array(path)


def _ref_adam(
    eta,
    beta_1,
    beta_2,
    eps,
    steps=100,
    grad_fn=_grad_np,
    w0=W0,
    amsgrad=False,
    placement="notes",
    corrections=None,
):
    """``corrections``: the (β₁, β₂) of the bias corrections, if not these."""
    w, m, v, v_max, path = np.array(w0, "float64"), 0.0, 0.0, 0.0, []
    c_1, c_2 = corrections or (beta_1, beta_2)
    for t in range(1, steps + 1):
        g = grad_fn(w)
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        v_max = np.maximum(v_max, v)  # AMSGrad: the largest v so far, before the correction
        m_hat = m / (1 - c_1**t)
        v_hat = (v_max if amsgrad else v) / (1 - c_2**t)
        if placement == "notes":
            w = w - eta * m_hat / (np.sqrt(v_hat) + eps)
        else:  # Keras: ε added to the uncorrected root
            w = w - eta * m_hat / (np.sqrt(v_hat) + eps / np.sqrt(1 - c_2**t))
        path.append(w.copy())
    return np.array(path)


def _ref_momentum(alpha, mu, nesterov=False, steps=100, grad_fn=_grad_np):
    w, u, path = W0.copy(), 0.0, []
    for _ in range(steps):
        g = grad_fn(w)
        u = mu * u - alpha * g  # u_t = μ·u_{t−1} − α·g_t
        w = w + (mu * u - alpha * g if nesterov else u)
        path.append(w.copy())
    return np.array(path)


def _ref_rmsprop(eta, rho, mu=0.0, eps=1e-7, centered=False, steps=100, grad_fn=_grad_np):
    w, v, g_bar, u, path = W0.copy(), 0.0, 0.0, 0.0, []
    for _ in range(steps):
        g = grad_fn(w)
        v = rho * v + (1 - rho) * g**2
        if centered:
            g_bar = rho * g_bar + (1 - rho) * g  # stays 0 otherwise
        s = eta * g / np.sqrt(v - g_bar**2 + eps)  # ε under the root
        u = mu * u + s  # with μ = 0, u = s
        w = w - u
        path.append(w.copy())
    return np.array(path)


def _minibatches():
    """Gradients of four mini-batches of 16 rows in turn, as in training; a
    fresh cycle per call, so that ours and the reference see the same ones."""
    calls = []

    def grad_fn(w):
        k = len(calls) % 4
        calls.append(k)
        xb, yb = X[16 * k : 16 * (k + 1)], Y[16 * k : 16 * (k + 1)]
        return 2 / 16 * xb.T @ (xb @ np.asarray(w, "float64") - yb)

    return grad_fn


def _max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, "float64") - np.asarray(b, "float64"))))


# float32 trajectories vs float64 NumPy references after 100 mini-batch
# steps (measured at most 5e-7; the weights are of size ~2). Mini-batches keep
# the comparison well conditioned: with the full-batch gradient, once a
# component's gradient is ~0, RMSprop's and Adam's g/√v turn float32 rounding
# of that gradient into O(η) steps, and centered RMSprop's running variance
# v − ḡ² of a nearly constant gradient is all cancellation (float32 and
# float64 then part by up to 2e-2, in Keras' RMSprop as in ours).
REFERENCE_TOL = 2e-6
# ours vs the Keras twin: the same operations in the same order (measured 0).
TWIN_TOL = 1e-7


# ---------------------------------------------------------- GradientDescent


def test_gradient_descent_follows_the_notes_update():
    path = _run(custom_layers.GradientDescent(0.05))
    np.testing.assert_allclose(path, _ref_gradient_descent(0.05), rtol=1e-4, atol=TRAJECTORY_TOL)
    assert np.linalg.norm(_grad_np(path[-1].astype("float64"))) < 0.1 * np.linalg.norm(_grad_np(W0))


def test_gradient_descent_matches_keras_sgd_for_100_steps():
    ours = _run(custom_layers.GradientDescent(0.05))
    theirs = _run(keras.optimizers.SGD(0.05))
    assert np.max(np.abs(ours - theirs)) <= TRAJECTORY_TOL


# ------------------------------------------------ GradientDescent + momentum

# The twins compared over 100 steps, option by option (measured: 0 difference).
KERAS_TWINS = {
    "gradient_descent": (
        lambda: custom_layers.GradientDescent(0.05),
        lambda: keras.optimizers.SGD(0.05),
    ),
    "momentum": (
        lambda: custom_layers.GradientDescent(0.05, momentum=0.9),
        lambda: keras.optimizers.SGD(0.05, momentum=0.9),
    ),
    "nesterov": (
        lambda: custom_layers.GradientDescent(0.05, momentum=0.9, nesterov=True),
        lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    ),
    "rmsprop": (
        lambda: custom_layers.RMSprop(0.01),
        lambda: keras.optimizers.RMSprop(0.01),
    ),
    "rmsprop_centered": (
        lambda: custom_layers.RMSprop(0.01, rho=0.8, centered=True),
        lambda: keras.optimizers.RMSprop(0.01, rho=0.8, centered=True),
    ),
    "rmsprop_momentum": (
        lambda: custom_layers.RMSprop(0.01, momentum=0.5, epsilon=1e-4),
        lambda: keras.optimizers.RMSprop(0.01, momentum=0.5, epsilon=1e-4),
    ),
    "rmsprop_centered_momentum": (
        lambda: custom_layers.RMSprop(0.01, momentum=0.5, centered=True),
        lambda: keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    ),
    "adam_keras_placement": (
        lambda: custom_layers.Adam(0.05, epsilon_placement="keras"),
        lambda: keras.optimizers.Adam(0.05),
    ),
    "amsgrad_keras_placement": (
        lambda: custom_layers.Adam(0.05, amsgrad=True, epsilon_placement="keras"),
        lambda: keras.optimizers.Adam(0.05, amsgrad=True),
    ),
}


@pytest.mark.parametrize("twin", KERAS_TWINS)
def test_100_steps_match_the_keras_twin(twin):
    ours, theirs = KERAS_TWINS[twin]
    assert _max_diff(_run(ours()), _run(theirs())) <= TWIN_TOL


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_follows_its_numpy_reference(nesterov):
    ours = custom_layers.GradientDescent(0.05, momentum=0.9, nesterov=nesterov)
    path = _run(ours, grad_fn=_minibatches())
    assert (
        _max_diff(path, _ref_momentum(0.05, 0.9, nesterov, grad_fn=_minibatches())) <= REFERENCE_TOL
    )


def test_momentum_is_adams_average_without_bias_correction():
    # u_t = −α/(1 − μ)·m_t with m_t = μ·m_{t−1} + (1 − μ)·g_t: the same
    # trajectory written with the notes' m instead of the velocity.
    alpha, mu = 0.05, 0.9
    w, m, ref, grad_fn = W0.copy(), 0.0, [], _minibatches()
    for _ in range(100):
        m = mu * m + (1 - mu) * grad_fn(w)
        w = w - alpha / (1 - mu) * m
        ref.append(w.copy())
    path = _run(custom_layers.GradientDescent(alpha, momentum=mu), grad_fn=_minibatches())
    assert _max_diff(path, ref) <= REFERENCE_TOL


def test_momentum_and_nesterov_each_change_the_path():
    plain = _run(custom_layers.GradientDescent(0.05), steps=20)
    heavy = _run(custom_layers.GradientDescent(0.05, momentum=0.9), steps=20)
    nesterov = _run(custom_layers.GradientDescent(0.05, momentum=0.9, nesterov=True), steps=20)
    assert _max_diff(plain, heavy) > 0.1
    assert _max_diff(heavy, nesterov) > 0.1
    # Nesterov without momentum is the plain update, bit for bit.
    np.testing.assert_array_equal(
        _run(custom_layers.GradientDescent(0.05, nesterov=True), steps=20), plain
    )


def test_plain_gradient_descent_keeps_no_velocity():
    w = keras.Variable(np.zeros(3, "float32"))
    for momentum, extra in [(0.0, 0), (0.5, 1)]:
        ours = custom_layers.GradientDescent(momentum=momentum)
        ours.build([w])
        theirs = keras.optimizers.SGD(momentum=momentum)
        theirs.build([w])
        assert len(ours.variables) == len(theirs.variables) == 2 + extra


# ------------------------------------------------------------------ RMSprop


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rho": 0.9},
        {"rho": 0.8, "centered": True},
        {"rho": 0.9, "mu": 0.5, "eps": 1e-4},
        {"rho": 0.9, "mu": 0.5, "centered": True},
    ],
)
def test_rmsprop_follows_its_numpy_reference(kwargs):
    names = {"mu": "momentum", "eps": "epsilon"}
    ours = custom_layers.RMSprop(0.01, **{names.get(k, k): v for k, v in kwargs.items()})
    ref = _ref_rmsprop(0.01, grad_fn=_minibatches(), **kwargs)
    assert _max_diff(_run(ours, grad_fn=_minibatches()), ref) <= REFERENCE_TOL


def test_first_rmsprop_step_is_not_bias_corrected():
    # v_1 = (1 − ρ)·g², so the step is η·g/√((1 − ρ)·g² + ε) ≈ η·sign(g)/√(1 − ρ).
    w = _run(custom_layers.RMSprop(0.01), steps=1)[0]
    np.testing.assert_allclose(W0 - w, 0.01 * np.sign(_grad_np(W0)) / np.sqrt(0.1), rtol=1e-5)


def test_rmsprop_epsilon_sits_under_the_root():
    # g = 1e-6: v_1 = 1e-13 ≪ ε = 1e-7, so the step is η·g/√ε ≈ 3.2e-5, where
    # ε outside the root (Adam's place) would give η·g/(√v_1 + ε) ≈ 2.4e-2.
    def tiny(w):
        return np.full_like(w, 1e-6)

    zeros = np.zeros(5)  # start at 0, where float32 resolves a step of 1e-8
    step = -_run(custom_layers.RMSprop(0.01), steps=1, w0=zeros, grad_fn=tiny)[0]
    np.testing.assert_allclose(step, 0.01 * 1e-6 / np.sqrt(0.1 * 1e-12 + 1e-7), rtol=1e-5)
    assert np.all(step < 0.01 * 0.01 * 1e-6 / (np.sqrt(0.1 * 1e-12) + 1e-7))


@pytest.mark.parametrize(
    ("kwargs", "other"),
    [
        ({"rho": 0.9}, {"rho": 0.5}),
        ({}, {"momentum": 0.5}),
        ({}, {"centered": True}),
        ({}, {"epsilon": 1e-2}),
    ],
)
def test_every_rmsprop_option_changes_the_path(kwargs, other):
    base = _run(custom_layers.RMSprop(0.01, **kwargs), steps=30)
    changed = _run(custom_layers.RMSprop(0.01, **other), steps=30)
    assert _max_diff(base, changed) > 1e-3


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


# ------------------------------------------------------------------ AMSGrad


@pytest.mark.parametrize("placement", ["notes", "keras"])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_follows_its_numpy_reference(amsgrad, placement):
    ours = custom_layers.Adam(0.05, amsgrad=amsgrad, epsilon_placement=placement)
    # In float32 the bias corrections 1 − βᵗ are computed from β as float32
    # stores it (0.999 → 0.99900001), the averages from the exact 1 − β: at
    # t = 1, 1 − β₂ is then 1.3e-5 off in relative terms and every early step
    # is η·(1 − 6e-6) (Keras' Adam alike): ~7e-6 after 100 steps at η = 0.05,
    # if the reference did not do the same.
    f32 = (float(np.float32(0.9)), float(np.float32(0.999)))
    ref = _ref_adam(0.05, 0.9, 0.999, 1e-7, 100, _minibatches(), W0, amsgrad, placement, f32)
    assert _max_diff(_run(ours, grad_fn=_minibatches()), ref) <= REFERENCE_TOL


def test_amsgrad_changes_the_path_once_v_shrinks():
    # Converging least squares: the gradients, hence v, shrink; AMSGrad keeps
    # the larger past v and takes smaller steps.
    plain = _run(custom_layers.Adam(0.05))
    amsgrad = _run(custom_layers.Adam(0.05, amsgrad=True))
    assert _max_diff(plain, amsgrad) > 1e-4  # measured 8.4e-4


def _spike_then_small():
    """g = 1 at the first call, 0.01 after: v peaks at step 1."""
    calls = []

    def grad_fn(w):
        calls.append(None)
        return np.full_like(w, 1.0 if len(calls) == 1 else 0.01)

    return grad_fn


def test_amsgrad_takes_the_maximum_before_the_bias_correction():
    ours = W0 - _run(custom_layers.Adam(0.01, amsgrad=True), 20, grad_fn=_spike_then_small())
    raw_max = W0 - _ref_adam(0.01, 0.9, 0.999, 1e-7, 20, _spike_then_small(), amsgrad=True)
    np.testing.assert_allclose(ours, raw_max, rtol=1e-5)
    # The other reading, max over τ ≤ t of v̂_τ, keeps v̂_1 = 1 and moves less:
    # at step 2 it divides by √1 where ours divides by √(0.001/(1 − 0.999²)) = √0.5.
    w, m, v, v_hat_max, grad_fn = W0.copy(), 0.0, 0.0, 0.0, _spike_then_small()
    for t in range(1, 21):
        g = grad_fn(w)
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
        v_hat_max = np.maximum(v_hat_max, v / (1 - 0.999**t))
        w = w - 0.01 * m / (1 - 0.9**t) / (np.sqrt(v_hat_max) + 1e-7)
    assert np.all(ours[-1] > 1.2 * (W0 - w))


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
        custom_layers.Adam(amsgrad=True),
        custom_layers.GradientDescent(0.1, momentum=0.8, nesterov=True),
        custom_layers.RMSprop(0.01, rho=0.8, momentum=0.3, epsilon=1e-5, centered=True),
    ]:
        again = type(optimizer).from_config(optimizer.get_config())
        assert again.get_config() == optimizer.get_config()
        restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
        assert type(restored) is type(optimizer)


@pytest.mark.parametrize(
    ("make_keras", "cls"),
    [
        (lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True), "GradientDescent"),
        (lambda: keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True), "RMSprop"),
        (lambda: keras.optimizers.RMSprop(), "RMSprop"),
        (lambda: keras.optimizers.Adam(0.05, amsgrad=True), "Adam"),
        (lambda: keras.optimizers.Adam(0.05), "Adam"),
    ],
)
def test_a_keras_optimizer_config_builds_its_twin(make_keras, cls):
    theirs = make_keras()
    ours = getattr(custom_layers, cls).from_config(theirs.get_config())
    assert type(ours) is getattr(custom_layers, cls)
    if cls == "Adam":  # Keras' config has no epsilon_placement: it describes Keras' rule
        assert ours.epsilon_placement == "keras"
    assert _max_diff(_run(ours, steps=30), _run(theirs, steps=30)) <= TWIN_TOL


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: custom_layers.GradientDescent(), lambda: keras.optimizers.SGD()),
        (lambda: custom_layers.RMSprop(), lambda: keras.optimizers.RMSprop()),
        (lambda: custom_layers.Adam(epsilon_placement="keras"), lambda: keras.optimizers.Adam()),
    ],
)
def test_twins_built_with_no_arguments_step_like_keras_defaults(ours, theirs):
    # every default (learning rate, moments, epsilon) shows in the updates
    assert _max_diff(_run(ours(), steps=30), _run(theirs(), steps=30)) <= TWIN_TOL


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
        (custom_layers.Adam, {"beta_2": 1.0}, r"Received: beta_2=1.0"),  # 1 - beta_2^t = 0
        (custom_layers.Adam, {"epsilon": 0}, r"Received: epsilon=0"),
        (custom_layers.Adam, {"epsilon": None}, r"Received: epsilon=None"),
        (custom_layers.Adam, {"epsilon_placement": "tf"}, r"Received: epsilon_placement='tf'"),
        (custom_layers.Adam, {"amsgrad": "yes"}, r"Received: amsgrad='yes'"),
        (custom_layers.Adam, {"amsgrad": None}, r"Received: amsgrad=None"),
        (custom_layers.GradientDescent, {"momentum": -1.0}, r"Received: momentum=-1.0"),
        (custom_layers.GradientDescent, {"momentum": 2}, r"Received: momentum=2"),
        (custom_layers.GradientDescent, {"momentum": float("nan")}, r"Received: momentum=nan"),
        (custom_layers.GradientDescent, {"momentum": True}, r"Received: momentum=True"),
        (custom_layers.GradientDescent, {"momentum": "0.9"}, r"Received: momentum='0.9'"),
        (custom_layers.GradientDescent, {"nesterov": 1}, r"Received: nesterov=1"),
        (custom_layers.GradientDescent, {"nesterov": "True"}, r"Received: nesterov='True'"),
        (custom_layers.RMSprop, {"learning_rate": 0}, r"Received: learning_rate=0"),
        (custom_layers.RMSprop, {"rho": 1.0}, r"Received: rho=1.0"),
        (custom_layers.RMSprop, {"rho": -0.5}, r"Received: rho=-0.5"),
        (custom_layers.RMSprop, {"rho": None}, r"Received: rho=None"),
        (custom_layers.RMSprop, {"momentum": 1.5}, r"Received: momentum=1.5"),
        (custom_layers.RMSprop, {"momentum": -0.1}, r"Received: momentum=-0.1"),
        (custom_layers.RMSprop, {"epsilon": 0.0}, r"Received: epsilon=0.0"),
        (custom_layers.RMSprop, {"epsilon": float("inf")}, r"Received: epsilon=inf"),
        (custom_layers.RMSprop, {"centered": "no"}, r"Received: centered='no'"),
        (custom_layers.RMSprop, {"clipnorm": -1}, r"Received: clipnorm=-1"),
    ],
)
def test_bad_constructor_arguments_raise_value_error(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


@pytest.mark.parametrize("cls", [custom_layers.GradientDescent, custom_layers.RMSprop])
def test_momentum_message_is_keras_sgds(cls):
    # keras.optimizers.SGD's own wording, so Keras' tests of it pass on ours
    with pytest.raises(ValueError, match=r"`momentum` must be a float between \[0, 1\]\."):
        cls(momentum=-1.0)
    assert cls(momentum=1).momentum == 1.0  # an int is taken (SGD refuses 0 and 1 as ints)
