"""Keras' extra activation arguments on the custom twins: relu's negative_slope,
max_value and threshold, leaky_relu's negative_slope, softmax over a tuple of
axes; values, gradients, the derivative table, validation (issue: drop-in twins)."""

import keras
import numpy as np
import pytest

from custom_layers import activations
from tests.helpers import EDGES, central_difference, gradient

# (negative_slope s, max_value M, threshold θ) as keyword arguments.
RELU_ARGUMENTS = [
    {"negative_slope": 0.5},
    {"max_value": 5.0},
    {"max_value": 6.0},  # Keras takes its relu6 kernel here
    {"max_value": 0.0},
    {"threshold": 2.0},
    {"threshold": 2.0, "max_value": 5.0},
    {"negative_slope": 0.3, "max_value": 5.0},
    {"negative_slope": 0.3, "max_value": 5.0, "threshold": 2.0},
    {"negative_slope": 0.1, "max_value": 2.0, "threshold": 5.0},  # ceiling below θ
    # What keras.activations.relu takes and keras.layers.ReLU refuses: θ < 0, s < 0.
    {"threshold": -1.0},
    {"negative_slope": 0.1, "threshold": -1.0},
    {"threshold": -1.0, "max_value": 5.0},
    {"negative_slope": 0.1, "max_value": 6.0, "threshold": -1.0},
    {"negative_slope": 0.1, "max_value": 0.0, "threshold": -1.0},
    {"negative_slope": 1.5, "threshold": -2.5},
    {"negative_slope": -0.5},
    {"negative_slope": -0.5, "max_value": 5.0, "threshold": 1.0},
    {"negative_slope": -0.5, "max_value": 5.0, "threshold": -1.0},
    # M = ∞ clips to [0, ∞): for θ < 0 not the same as no M
    {"max_value": float("inf")},
    {"max_value": float("inf"), "threshold": -1.0},
]


def _parts(kwargs):
    return (
        kwargs.get("negative_slope", 0.0),
        kwargs.get("max_value"),
        kwargs.get("threshold", 0.0),
    )


def _ref_relu(z, negative_slope=0.0, max_value=None, threshold=0.0):
    # The module table: above θ, z clipped to [0, M] (z with no M); s·(z − θ) at or below θ.
    above = z if max_value is None else np.clip(z, 0.0, max_value)
    with np.errstate(invalid="ignore", over="ignore"):
        below = negative_slope * (z - threshold) if negative_slope else np.zeros_like(z)
    return np.where(z > threshold, above, below)


def _table_relu(z, negative_slope=0.0, max_value=None, threshold=0.0):
    # 1 where z passes the clip unchanged, 0 where the clip holds it, s at or below θ
    unclipped = np.ones_like(z, bool) if max_value is None else (z > 0) & (z < max_value)
    return np.where(z > threshold, np.where(unclipped, 1.0, 0.0), negative_slope)


def _kinks(kwargs):
    """θ, M, and 0 where the clip's floor meets z above θ (θ < 0 with M given)."""
    _, ceiling, threshold = _parts(kwargs)
    if ceiling is None:
        return [threshold]
    return [threshold, ceiling] + ([0.0] if threshold < 0 else [])


def _relu_inputs(kwargs, dtype="float32"):
    """The edge values, normal samples, and the finite kinks with their neighbours."""
    near = [k + d for k in _kinks(kwargs) if np.isfinite(k) for d in (-0.25, 0.0, 0.25)]
    rng = np.random.default_rng(0)
    return np.concatenate([EDGES, near, 4 * rng.standard_normal(64)]).astype(dtype)


def _off_kinks(z, kwargs, gap=0.0):
    keep = np.ones(z.shape, bool)
    for kink in _kinks(kwargs):
        keep &= np.abs(z - kink) > gap
    return keep


@pytest.mark.parametrize("kwargs", RELU_ARGUMENTS, ids=str)
def test_relu_arguments_values_match_reference_and_builtin(kwargs):
    z = _relu_inputs(kwargs)
    got = np.asarray(activations.relu(z, **kwargs))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _ref_relu(z.astype("float64"), **kwargs), rtol=1e-6, atol=0)
    # the same float32 operations as Keras: equal to the last bit
    np.testing.assert_array_equal(got, np.asarray(keras.activations.relu(z, **kwargs)))


@pytest.mark.parametrize("kwargs", RELU_ARGUMENTS, ids=str)
def test_relu_arguments_gradient_matches_builtin_off_the_kinks(kwargs):
    z = _relu_inputs(kwargs)
    upstream = np.random.default_rng(1).standard_normal(z.shape).astype("float32")
    ours = gradient(lambda x: activations.relu(x, **kwargs), z, upstream)
    theirs = gradient(lambda x: keras.activations.relu(x, **kwargs), z, upstream)
    keep = _off_kinks(z, kwargs)
    # only the exact kinks are left out: each one inserted, and again if EDGES holds it
    assert (~keep).sum() <= 2 * len(_kinks(kwargs))
    np.testing.assert_allclose(ours[keep], theirs[keep], rtol=1e-6, atol=0)


@pytest.mark.parametrize("kwargs", RELU_ARGUMENTS, ids=str)
@pytest.mark.usefixtures("float64")
def test_relu_arguments_backward_pass_is_the_table_everywhere(kwargs):
    # float64, kinks included: there the table's own convention holds.
    z = _relu_inputs(kwargs, dtype="float64")
    table = _table_relu(z, *_parts(kwargs))
    np.testing.assert_array_equal(gradient(lambda x: activations.relu(x, **kwargs), z), table)
    np.testing.assert_array_equal(np.asarray(activations.relu_derivative(z, **kwargs)), table)


@pytest.mark.parametrize("kwargs", RELU_ARGUMENTS, ids=str)
@pytest.mark.usefixtures("float64")
def test_relu_arguments_table_vs_autodiff_and_finite_differences(kwargs):
    z = _relu_inputs(kwargs, dtype="float64")
    z = z[_off_kinks(z, kwargs, gap=1e-3) & (np.abs(z) < 1e3)]
    table = _table_relu(z, *_parts(kwargs))
    # the module's derivative is the table; both agree with autodiff of the built-in
    np.testing.assert_array_equal(np.asarray(activations.relu_derivative(z, **kwargs)), table)
    np.testing.assert_allclose(
        gradient(lambda x: keras.activations.relu(x, **kwargs), z), table, rtol=1e-7, atol=0
    )
    numeric = central_difference(lambda v: _ref_relu(v, **kwargs), z)
    np.testing.assert_allclose(numeric, table, rtol=1e-6, atol=1e-8)


def test_relu_kink_conventions():
    # The table's one rule at the kinks: slope s at z = θ, 0 at z = M.
    # (Keras' autodiff differs there and between its own paths: at z = M it
    # gives 1, except 0 on its relu6 path for M = 6; at z = θ > 0 it gives 0.)
    z = np.array([2.0, 5.0], "float32")
    kwargs = {"negative_slope": 0.3, "max_value": 5.0, "threshold": 2.0}
    np.testing.assert_allclose(
        gradient(lambda x: activations.relu(x, **kwargs), z), [0.3, 0.0], rtol=1e-7
    )
    # with only a slope the rule is the notes' LeakyReLU: α at z = 0
    assert gradient(lambda x: activations.relu(x, negative_slope=0.2), z * 0)[0] == np.float32(0.2)


def test_relu_with_a_slope_is_leaky_relu_and_with_ceiling_six_is_relu6():
    z = _relu_inputs({})
    for slope in (0.01, 0.3):
        np.testing.assert_array_equal(
            activations.relu(z, negative_slope=slope), activations.leaky_relu(z, slope)
        )
        np.testing.assert_array_equal(
            gradient(lambda x, s=slope: activations.relu(x, negative_slope=s), z),
            gradient(lambda x, s=slope: activations.leaky_relu(x, s), z),
        )
    np.testing.assert_array_equal(activations.relu(z, max_value=6), keras.ops.relu6(z))


@pytest.mark.usefixtures("float64")
def test_relu_threshold_jumps_like_keras():
    # For θ > 0 and s = 0 the output is 0 up to θ and z beyond: a jump of θ.
    z = np.array([-10.0, 4.999, 5.0, 5.001, 10.0], "float64")
    np.testing.assert_allclose(
        activations.relu(z, threshold=5.0), [0.0, 0.0, 0.0, 5.001, 10.0], rtol=1e-15
    )
    np.testing.assert_allclose(
        activations.relu(z, negative_slope=0.5, threshold=5.0),
        [-7.5, -0.0005, 0.0, 5.001, 10.0],
        rtol=1e-12,
    )


@pytest.mark.usefixtures("float64")
def test_relu_negative_threshold_like_keras_function():
    # keras.activations.relu takes θ < 0 (keras.layers.ReLU refuses it). Above θ
    # it clips z to [0, M] when M is given, so z in (θ, 0] gives 0 there and z
    # without M. Backward pass at the kinks: s at θ, 0 at z = 0 (with M) and
    # at M (Keras' autodiff: 0 at θ; at 0 and at M 1 on TensorFlow, 0.5 on JAX).
    # z: below θ, θ, between θ and 0, 0, inside, M, above M.
    z = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 6.0, 7.0])
    cases = [
        (
            {"negative_slope": 0.1, "max_value": 6.0, "threshold": -1.0},
            [-0.2, 0.0, 0.0, 0.0, 0.5, 6.0, 6.0],
            [0.1, 0.1, 0.0, 0.0, 1.0, 0.0, 0.0],
        ),
        (
            {"max_value": 6.0, "threshold": -1.0},
            [0.0, 0.0, 0.0, 0.0, 0.5, 6.0, 6.0],
            [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
        ),
        (
            {"negative_slope": 0.1, "threshold": -1.0},
            [-0.2, 0.0, -0.5, 0.0, 0.5, 6.0, 7.0],
            [0.1, 0.1, 1.0, 1.0, 1.0, 1.0, 1.0],
        ),
        (
            {"threshold": -1},
            [0.0, 0.0, -0.5, 0.0, 0.5, 6.0, 7.0],
            [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        ),
    ]
    for kwargs, want, slope in cases:
        got = np.asarray(activations.relu(z, **kwargs))
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
        np.testing.assert_array_equal(got, np.asarray(keras.activations.relu(z, **kwargs)))
        ours = gradient(lambda x, k=kwargs: activations.relu(x, **k), z)
        theirs = gradient(lambda x, k=kwargs: keras.activations.relu(x, **k), z)
        np.testing.assert_array_equal(ours, slope)
        np.testing.assert_array_equal(np.asarray(activations.relu_derivative(z, **kwargs)), slope)
        keep = _off_kinks(z, kwargs)
        np.testing.assert_array_equal(theirs[keep], np.asarray(slope)[keep])


@pytest.mark.usefixtures("float64")
def test_relu_arguments_keep_dtype_and_edge_values_finite():
    for dtype in ("float16", "float32", "float64"):
        z = EDGES[np.abs(EDGES) < 1e4].astype(dtype)  # ±1e30 overflow float16
        out = activations.relu(z, negative_slope=0.1, max_value=4.0, threshold=1.0)
        assert out.dtype == dtype
        want = _ref_relu(z.astype("float64"), 0.1, 4.0, 1.0)
        np.testing.assert_allclose(np.asarray(out).astype("float64"), want, rtol=1e-3, atol=0)
        out = activations.relu(z, negative_slope=0.1, max_value=4.0, threshold=-1.0)
        assert out.dtype == dtype
        want = _ref_relu(z.astype("float64"), 0.1, 4.0, -1.0)
        np.testing.assert_allclose(np.asarray(out).astype("float64"), want, rtol=1e-3, atol=0)
    # s = 0 below θ is an exact 0 even at -inf (never 0·inf = nan)
    z = np.array([-np.inf, np.inf], "float32")
    np.testing.assert_array_equal(activations.relu(z, threshold=1.0, max_value=3.0), [0.0, 3.0])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        # Keras' function returns NaN, ±inf or zeros for non-finite s and θ
        ({"negative_slope": float("nan")}, "negative_slope"),
        ({"negative_slope": float("inf")}, "negative_slope"),
        ({"negative_slope": -float("inf")}, "negative_slope"),
        ({"negative_slope": None}, "negative_slope"),
        ({"negative_slope": "0.5"}, "negative_slope"),
        # ... NaN everywhere for M = NaN; for M < 0, 0 (TensorFlow) or M (JAX) above θ
        ({"max_value": -1.0}, "max_value"),
        ({"max_value": float("nan")}, "max_value"),
        ({"max_value": -float("inf")}, "max_value"),
        ({"max_value": True}, "max_value"),
        ({"max_value": "6"}, "max_value"),
        ({"threshold": float("nan")}, "threshold"),
        ({"threshold": float("inf")}, "threshold"),
        ({"threshold": -float("inf")}, "threshold"),
        ({"threshold": None}, "threshold"),
        ({"threshold": [1.0]}, "threshold"),
    ],
)
def test_relu_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=rf"Received: {name}="):
        activations.relu(np.ones(2, "float32"), **kwargs)
    with pytest.raises(ValueError, match=rf"Received: {name}="):
        activations.relu_derivative(np.ones(2, "float32"), **kwargs)


# --------------------------------------------------------------- leaky_relu


def test_leaky_relu_takes_keras_negative_slope_as_alpha():
    z = _relu_inputs({})
    upstream = np.random.default_rng(2).standard_normal(z.shape).astype("float32")
    ours = activations.leaky_relu(z, negative_slope=0.3)
    np.testing.assert_array_equal(ours, activations.leaky_relu(z, alpha=0.3))
    np.testing.assert_allclose(
        ours, keras.activations.leaky_relu(z, negative_slope=0.3), rtol=1e-6, atol=0
    )
    # Off the kink: at z = 0 TensorFlow's built-in takes the slope, JAX's 1.
    keep = z != 0
    np.testing.assert_allclose(
        gradient(lambda x: activations.leaky_relu(x, negative_slope=0.3), z, upstream)[keep],
        gradient(lambda x: keras.activations.leaky_relu(x, negative_slope=0.3), z, upstream)[keep],
        rtol=1e-6,
        atol=0,
    )
    # neither given: the notes' α = 0.01
    np.testing.assert_allclose(activations.leaky_relu(np.float32([-2.0])), [-0.02], rtol=1e-7)
    np.testing.assert_allclose(
        activations.leaky_relu_derivative(np.float32([-2.0, 2.0]), negative_slope=0.3),
        [0.3, 1.0],
        rtol=1e-7,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.1, "negative_slope": 0.1}, r"not both. Received: alpha=0.1, negative_slope="),
        ({"alpha": 0.01, "negative_slope": 0.2}, r"not both"),
        ({"negative_slope": -0.3}, r"Received: negative_slope=-0.3"),
        ({"negative_slope": "0.3"}, r"Received: negative_slope='0.3'"),
        ({"negative_slope": float("inf")}, r"Received: negative_slope=inf"),
    ],
)
def test_leaky_relu_rejects_bad_slopes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        activations.leaky_relu(np.ones(2, "float32"), **kwargs)


# ------------------------------------------------------------------ softmax


def _ref_joint_softmax(z, axes):
    # One distribution over all positions of `axes` (float64, shifted by the max).
    e = np.exp(z - np.max(z, axis=axes, keepdims=True))
    return e / np.sum(e, axis=axes, keepdims=True)


def _logits_4d(seed=0):
    z = 5 * np.random.default_rng(seed).standard_normal((2, 3, 4, 5))
    z[0, 0, 0, :] = [1000.0, -1000.0, 0.0, 1e30, -1e30]
    z[1, 2] = -1000.0
    return z.astype("float32")


@pytest.mark.parametrize("axes", [(2, 3), (1, 3), (0, 1, 2, 3), (1, 2, 3), (2,)])
def test_softmax_over_axes_matches_reference_and_builtin(axes):
    z = _logits_4d()
    got = np.asarray(activations.softmax(z, axis=axes))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got.sum(axis=axes), 1.0, atol=1e-6)
    np.testing.assert_allclose(got, _ref_joint_softmax(z.astype("float64"), axes), atol=1e-6)
    np.testing.assert_allclose(got, keras.activations.softmax(z, axis=axes), atol=1e-6)
    upstream = np.random.default_rng(3).standard_normal(z.shape).astype("float32")
    np.testing.assert_allclose(
        gradient(lambda x: activations.softmax(x, axis=axes), z, upstream),
        gradient(lambda x: keras.activations.softmax(x, axis=axes), z, upstream),
        atol=1e-6,
    )


@pytest.mark.usefixtures("float64")
def test_softmax_over_axes_backward_pass_vs_finite_differences():
    z = np.random.default_rng(4).standard_normal((2, 3, 4))
    upstream = np.random.default_rng(5).standard_normal(z.shape)
    axes = (0, 2)
    analytic = gradient(lambda x: activations.softmax(x, axis=axes), z, upstream)
    h = 1e-6
    numeric = np.zeros_like(z)
    for index in np.ndindex(z.shape):
        step = np.zeros_like(z)
        step[index] = h
        plus = _ref_joint_softmax(z + step, axes)
        minus = _ref_joint_softmax(z - step, axes)
        numeric[index] = np.sum((plus - minus) * upstream) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_softmax_axes_negative_unordered_and_single_are_the_same():
    z = _logits_4d(seed=7)
    reference = np.asarray(activations.softmax(z, axis=(2, 3)))
    for axes in [(-2, -1), (3, 2), (-1, 2)]:
        np.testing.assert_array_equal(activations.softmax(z, axis=axes), reference)
    np.testing.assert_array_equal(activations.softmax(z, axis=(-1,)), activations.softmax(z))


def test_softmax_over_axes_of_size_one_warns():
    with pytest.warns(UserWarning, match=r"axes \(1, 2\).*those axes have size 1"):
        out = activations.softmax(np.ones((3, 1, 1), "float32"), axis=(1, 2))
    np.testing.assert_array_equal(out, 1.0)


@pytest.mark.parametrize("axis", [2, -3, (0, 2), (), (1, -1), (1, 1.0), (True,), [0, 1], "0"])
def test_softmax_rejects_bad_axes(axis):
    with pytest.raises(ValueError, match=r"Argument `axis` must be .* Received: axis="):
        activations.softmax(np.ones((2, 3), "float32"), axis=axis)
