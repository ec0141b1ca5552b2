"""The notes' losses vs NumPy references, the Keras built-ins, and the
textbook (naive) forms, including where they differ by design."""

import keras
import numpy as np
import pytest

import custom_layers
from custom_layers import losses
from tests.helpers import FORWARD_TOL, GRADIENT_TOL, gradient

EPS = 1e-7  # keras.config.epsilon()
# The upper clip bound as float32 computes it: 1 − 1e-7 rounds to 1 − 2⁻²³.
UPPER = float(np.float32(1 - EPS))
RNG = np.random.default_rng(0)

# ---------------------------------------------------------------- references


def _ref_logistic_loss(y, y_hat):
    # −y·log(ŷ) − (1−y)·log(1−ŷ), Keras' clipping applied first.
    y_hat = np.clip(y_hat, EPS, UPPER)
    return -y * np.log(y_hat) - (1 - y) * np.log(1 - y_hat)


def _ref_softplus(x):
    return np.logaddexp(0.0, x)  # log(1 + e^x), exact in float64


def _ref_bce_from_logits(y, z):
    return np.mean(y * _ref_softplus(-z) + (1 - y) * _ref_softplus(z), axis=-1)


def _ref_log_softmax(z):
    z = z - np.max(z, axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


def _f64(*arrays):
    return [np.asarray(a, "float64") for a in arrays]


# ------------------------------------------------------------------- inputs

LOGITS = np.array([-1e30, -1000.0, -20.0, -1.0, 0.0, 1e-8, 1.0, 20.0, 1000.0, 1e30], "float32")


def _binary_batch():
    """Every logit edge with both labels, and random rows: (m, 1) columns."""
    z = np.concatenate([LOGITS, LOGITS, 4 * RNG.standard_normal(30)]).astype("float32")
    y = np.concatenate([np.zeros(10), np.ones(10), RNG.integers(0, 2, 30)]).astype("float32")
    return y[:, None], z[:, None]


def _probabilities():
    p = np.concatenate([[0.0, 1e-9, 1e-7, 0.5, 1 - 1e-7, 1.0], RNG.uniform(0, 1, 24)])
    y = np.concatenate([[1, 0, 1, 0, 1, 0], RNG.integers(0, 2, 24)])
    return y.astype("float32")[:, None], p.astype("float32")[:, None]


# --------------------------------------------------------------------- BCE


def test_bce_on_probabilities_matches_reference_and_keras():
    y, p = _probabilities()
    got = np.asarray(losses.binary_crossentropy(y, p))
    np.testing.assert_allclose(got, _ref_logistic_loss(*_f64(y, p))[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        got, np.asarray(keras.losses.binary_crossentropy(y, p)), rtol=1e-6, atol=FORWARD_TOL
    )


def test_bce_from_logits_matches_reference_and_keras_at_extremes():
    y, z = _binary_batch()
    got = np.asarray(losses.binary_crossentropy(y, z, from_logits=True))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, _ref_bce_from_logits(*_f64(y, z)), rtol=1e-6, atol=FORWARD_TOL)
    np.testing.assert_allclose(
        got,
        np.asarray(keras.losses.binary_crossentropy(y, z, from_logits=True)),
        rtol=1e-6,
        atol=FORWARD_TOL,
    )


@pytest.mark.parametrize("from_logits", [False, True])
def test_bce_gradient_matches_keras(from_logits):
    y, x = _binary_batch() if from_logits else _probabilities()
    if not from_logits:
        x = np.clip(x, 0.01, 0.99)  # inside the clip range: Keras' clip has zero gradient

    def ours(v):
        return losses.binary_crossentropy(y, v, from_logits=from_logits)

    def theirs(v):
        return keras.losses.binary_crossentropy(y, v, from_logits=from_logits)

    g = gradient(ours, x)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, gradient(theirs, x), rtol=1e-5, atol=GRADIENT_TOL)


@pytest.mark.parametrize("from_logits", [False, True])
def test_bce_gradient_in_soft_labels_matches_keras_and_bad_labels_still_raise(from_logits):
    # Soft labels learned or distilled: the gradient in y, ∂L/∂y = log((1 − ŷ)/ŷ)/n
    # (from logits: −z/n); the label check must let the labels be traced.
    _, x = _binary_batch() if from_logits else _probabilities()
    x = np.clip(x, -30, 30) if from_logits else np.clip(x, 0.01, 0.99)
    soft = RNG.uniform(0, 1, x.shape).astype("float32")

    def ours(y):
        return losses.binary_crossentropy(y, x, from_logits=from_logits)

    def theirs(y):
        return keras.losses.binary_crossentropy(y, x, from_logits=from_logits)

    g = gradient(ours, soft)
    z = x if from_logits else np.log(x / (1 - x))
    np.testing.assert_allclose(g, -z, rtol=1e-4, atol=1e-5)  # one column: n = 1
    np.testing.assert_allclose(g, gradient(theirs, soft), rtol=1e-5, atol=GRADIENT_TOL)
    bad = soft.copy()
    bad[3] = 1.5
    with pytest.raises(Exception, match=r"labels must lie in \[0, 1\].*e\.g\. 1\.5"):
        gradient(ours, bad)


@pytest.mark.usefixtures("float64")
def test_bce_from_logits_gradient_is_sigmoid_minus_y_and_matches_finite_differences():
    y, z = _binary_batch()
    expected = 1 / (1 + np.exp(-np.clip(z.astype("float64"), -500, 500))) - y
    np.testing.assert_allclose(
        gradient(lambda v: losses.binary_crossentropy(y, v, from_logits=True), z),
        expected,
        atol=GRADIENT_TOL,
    )
    z64, y64 = np.clip(z.astype("float64"), -30, 30), y.astype("float64")
    h = 1e-6
    numeric = (_ref_bce_from_logits(y64, z64 + h) - _ref_bce_from_logits(y64, z64 - h)) / (2 * h)
    analytic = gradient(lambda v: losses.binary_crossentropy(y64, v, from_logits=True), z64)
    np.testing.assert_allclose(analytic[:, 0], numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.usefixtures("float64")
def test_stable_bce_equals_naive_where_naive_is_finite():
    # float64: in float32 the naive 1 − σ(z) already loses digits at z ≈ 16.
    y, z = _f64(*_binary_batch())
    naive = np.asarray(losses.naive_binary_crossentropy(y, z, from_logits=True))
    stable = np.asarray(losses.binary_crossentropy(y, z, from_logits=True))
    finite = np.isfinite(naive) & (np.abs(z[:, 0]) <= 20)
    assert finite.sum() >= 30
    np.testing.assert_allclose(naive[finite], stable[finite], rtol=1e-6, atol=1e-12)


def test_notes_stability_table_naive_fails_where_stable_is_finite():
    # z = 1000, y = 1: ŷ = 1, (1 − y)·log(1 − ŷ) = 0·(−inf) = nan.
    # z = −1000, y = 1: e^1000 overflows, ŷ = 0, −log(0) = inf.
    y = np.array([[1.0], [1.0], [0.0]], "float32")
    z = np.array([[1000.0], [-1000.0], [1000.0]], "float32")
    naive = np.asarray(losses.naive_binary_crossentropy(y, z, from_logits=True))
    assert np.isnan(naive[0]) and np.isinf(naive[1]) and np.isinf(naive[2])
    stable = np.asarray(losses.binary_crossentropy(y, z, from_logits=True))
    np.testing.assert_allclose(stable, [0.0, 1000.0, 1000.0])


def test_probability_clipping_is_keras_behaviour_not_the_textbook():
    y = np.array([[1.0], [0.0]], "float32")
    p = np.array([[0.0], [1.0]], "float32")
    # ŷ is clipped to [1e-7, float32(1 − 1e-7)]: −log(1e-7) ≈ 16.12 for ŷ = 0,
    # −log(2⁻²³) ≈ 15.94 for ŷ = 1, exactly what Keras gives.
    got = np.asarray(losses.binary_crossentropy(y, p))
    np.testing.assert_allclose(got, [-np.log(EPS), -np.log(1 - UPPER)], rtol=1e-6)
    np.testing.assert_allclose(got, keras.losses.binary_crossentropy(y, p), rtol=1e-6)
    assert np.all(np.isinf(np.asarray(losses.naive_binary_crossentropy(y, p))))


def test_hidden_logits_a_keras_sigmoid_output_is_not_clipped_by_keras_bce_on_tensorflow():
    # keras.activations.sigmoid's output carries its logits, and on
    # TensorFlow Keras' BCE with from_logits=False then uses them: the loss
    # of z = 50 for y = 0 is the exact 50, not the clipped -log(ε) that the
    # formula on probabilities gives. The custom objects never do that, on
    # either backend: build both twins with linear outputs and
    # from_logits=True to compare them (the recipes do).
    z = np.array([[50.0], [-3.0]], "float32")
    y = np.array([[0.0], [1.0]], "float32")
    # ŷ clipped to 1 − ε in float32, then −log(1 − ŷ): 15.94
    clipped = -np.log(1.0 - np.float64(np.float32(1.0 - keras.config.epsilon())))
    exact = np.array([50.0, np.logaddexp(0.0, 3.0)])
    pairs = {}
    for sigmoid_name, sigmoid in (
        ("keras", keras.activations.sigmoid),
        ("custom", custom_layers.sigmoid),
    ):
        for loss_name, loss in (
            ("keras", keras.losses.BinaryCrossentropy(reduction=None)),
            ("custom", custom_layers.BinaryCrossentropy(reduction=None)),
        ):
            pairs[sigmoid_name, loss_name] = np.asarray(loss(y, sigmoid(z)), "float64")
    hidden = keras.backend.backend() == "tensorflow"
    for pair, value in pairs.items():
        if pair == ("keras", "keras") and hidden:
            np.testing.assert_allclose(value, exact, rtol=1e-5)
        else:
            np.testing.assert_allclose(value, [clipped, exact[1]], rtol=1e-4)


def test_multilabel_bce_is_the_mean_of_per_class_bce():
    # The notes' photo example: classes {cat, dog, tree, sun}.
    y = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 1, 1]], "float32")
    z = 3 * RNG.standard_normal((3, 4)).astype("float32")
    whole = np.asarray(losses.binary_crossentropy(y, z, from_logits=True))
    per_class = np.stack(
        [losses.binary_crossentropy(y[:, [i]], z[:, [i]], from_logits=True) for i in range(4)],
        axis=-1,
    )
    np.testing.assert_allclose(whole, per_class.mean(axis=-1), rtol=1e-6)


# ------------------------------------------------------ categorical losses


def _class_batch(m=12, n=5, seed=0):
    # Its own generator: the same batch whatever ran before in this worker.
    rng = np.random.default_rng(seed)
    z = 4 * rng.standard_normal((m, n)).astype("float32")
    z[0] = [1000.0, -1000.0, 0.0, 1e30, -1e30]
    z[1] = [-1000.0, -1000.0, 1000.0, -1000.0, 0.0]
    labels = rng.integers(0, n, m)
    labels[0], labels[1] = 1, 0  # the true class at a hugely negative logit
    return labels, np.eye(n, dtype="float32")[labels], z


def test_categorical_ce_from_logits_matches_reference_and_keras():
    _, one_hot, z = _class_batch()
    got = np.asarray(losses.categorical_crossentropy(one_hot, z, from_logits=True))
    assert np.all(np.isfinite(got))
    ref = -np.sum(one_hot * _ref_log_softmax(z.astype("float64")), axis=-1)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=FORWARD_TOL)
    builtin = np.asarray(keras.losses.categorical_crossentropy(one_hot, z, from_logits=True))
    np.testing.assert_allclose(got, builtin, rtol=1e-6, atol=FORWARD_TOL)


def test_categorical_ce_on_probabilities_renormalises_like_keras():
    _, one_hot, z = _class_batch()
    a = np.exp(_ref_log_softmax(z.astype("float64"))).astype("float32")
    unnormalised = 3.0 * a
    got = np.asarray(losses.categorical_crossentropy(one_hot, unnormalised))
    builtin = np.asarray(keras.losses.categorical_crossentropy(one_hot, unnormalised))
    np.testing.assert_allclose(got, builtin, rtol=1e-6, atol=FORWARD_TOL)
    # The textbook −Σ y·log(a) does not divide by the sum: off by log(3).
    naive = np.asarray(losses.naive_categorical_crossentropy(one_hot, unnormalised))
    # Where the true class's a is inside Keras' clip [1e-7, 1 − 1e-7] (the
    # clip, not the size of z, decides: a 4σ logit gap already gives a < 1e-7).
    a_true = np.sum(one_hot * a, axis=-1)
    unclipped = (a_true > 2e-7) & (a_true < 1 - 2e-7)
    assert unclipped.sum() >= 5
    np.testing.assert_allclose(got[unclipped] - naive[unclipped], np.log(3.0), rtol=1e-5)


@pytest.mark.parametrize("from_logits", [False, True])
def test_categorical_gradients_match_keras(from_logits):
    labels, one_hot, z = _class_batch()
    x = z if from_logits else np.exp(_ref_log_softmax(np.clip(z, -5, 5))).astype("float32")
    for ours, theirs, y in [
        (losses.categorical_crossentropy, keras.losses.categorical_crossentropy, one_hot),
        (
            losses.sparse_categorical_crossentropy,
            keras.losses.sparse_categorical_crossentropy,
            labels,
        ),
    ]:
        g = gradient(lambda v, f=ours, y=y: f(y, v, from_logits=from_logits), x)
        g_builtin = gradient(lambda v, f=theirs, y=y: f(y, v, from_logits=from_logits), x)
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g, g_builtin, rtol=1e-5, atol=GRADIENT_TOL)


def test_softmax_ce_gradient_is_a_minus_y():
    _, one_hot, z = _class_batch()
    a = np.exp(_ref_log_softmax(z.astype("float64")))
    np.testing.assert_allclose(
        gradient(lambda v: losses.categorical_crossentropy(one_hot, v, from_logits=True), z),
        a - one_hot,
        atol=GRADIENT_TOL,
    )


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_equals_one_hot_and_keras(from_logits):
    labels, one_hot, z = _class_batch()
    x = z if from_logits else np.exp(_ref_log_softmax(z.astype("float64"))).astype("float32")
    sparse = np.asarray(losses.sparse_categorical_crossentropy(labels, x, from_logits=from_logits))
    dense = np.asarray(losses.categorical_crossentropy(one_hot, x, from_logits=from_logits))
    builtin = np.asarray(
        keras.losses.sparse_categorical_crossentropy(labels, x, from_logits=from_logits)
    )
    assert np.all(np.isfinite(sparse))
    np.testing.assert_allclose(sparse, dense, rtol=1e-6, atol=FORWARD_TOL)
    np.testing.assert_allclose(sparse, builtin, rtol=1e-6, atol=FORWARD_TOL)
    # labels as a column (m, 1) mean the same.
    np.testing.assert_allclose(
        losses.sparse_categorical_crossentropy(labels[:, None], x, from_logits=from_logits),
        sparse,
    )


def test_sparse_gradient_on_saturated_probabilities_matches_keras():
    # Probabilities below ε = 1e-7 (the first two rows are saturated, the true
    # class of both among them): Keras' backends clip and renormalise in
    # different orders there (_stable_losses.sparse_log_probabilities); the twin's
    # gradient is the built-in's of the backend in use.
    labels, _, z = _class_batch()
    a = np.exp(_ref_log_softmax(np.clip(z, -30, 30).astype("float64"))).astype("float32")
    assert np.sum(a < 1e-7) >= 4
    upstream = RNG.standard_normal(len(labels)).astype("float32")
    ours = gradient(lambda v: losses.sparse_categorical_crossentropy(labels, v), a, upstream)
    theirs = gradient(
        lambda v: keras.losses.sparse_categorical_crossentropy(labels, v), a, upstream
    )
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=GRADIENT_TOL)


def test_sparse_is_the_notes_indicator_cost():
    # J = −1/m Σ_i Σ_j 1{y_i = j}·log(a_j)
    labels, _, z = _class_batch()
    log_a = _ref_log_softmax(z.astype("float64"))
    indicator = labels[:, None] == np.arange(z.shape[1])[None, :]
    cost = -np.mean(np.sum(np.where(indicator, log_a, 0.0), axis=-1))
    loss = custom_layers.SparseCategoricalCrossentropy(from_logits=True)
    np.testing.assert_allclose(float(loss(labels, z)), cost, rtol=1e-6)


def test_naive_softmax_ce_overflows_where_log_sum_exp_does_not():
    z = np.array([[1000.0, 0.0], [0.0, -1000.0]], "float32")
    y = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    naive = np.asarray(losses.naive_categorical_crossentropy(y, z, from_logits=True))
    assert np.isnan(naive[0]) and np.isinf(naive[1])
    np.testing.assert_allclose(
        losses.categorical_crossentropy(y, z, from_logits=True), [0.0, 1000.0]
    )


def test_sparse_labels_out_of_range_raise():
    with pytest.raises(ValueError, match=r"Class ids must be whole numbers in \[0, 5\).*5"):
        losses.sparse_categorical_crossentropy(
            np.array([0, 5]), np.zeros((2, 5), "float32"), from_logits=True
        )


# --------------------------------------------------------------------- MSE


def test_mse_matches_keras_and_half_mse_has_half_the_gradient():
    y = RNG.standard_normal((20, 3)).astype("float32")
    f = RNG.standard_normal((20, 3)).astype("float32")
    np.testing.assert_allclose(
        losses.mean_squared_error(y, f), np.mean((f - y) ** 2, axis=-1), rtol=1e-6
    )
    np.testing.assert_allclose(
        losses.mean_squared_error(y, f), keras.losses.mean_squared_error(y, f), rtol=1e-6
    )
    g_keras = gradient(lambda v: keras.losses.mean_squared_error(y, v), f)
    np.testing.assert_allclose(
        gradient(lambda v: losses.mean_squared_error(y, v), f), g_keras, atol=GRADIENT_TOL
    )
    np.testing.assert_allclose(
        gradient(lambda v: losses.half_mean_squared_error(y, v), f), g_keras / 2, atol=1e-6
    )


# ----------------------------------------------------------- Loss classes

CLASS_PAIRS = [
    (custom_layers.BinaryCrossentropy, keras.losses.BinaryCrossentropy, "binary", True),
    (custom_layers.BinaryCrossentropy, keras.losses.BinaryCrossentropy, "binary", False),
    (
        custom_layers.CategoricalCrossentropy,
        keras.losses.CategoricalCrossentropy,
        "one_hot",
        True,
    ),
    (
        custom_layers.SparseCategoricalCrossentropy,
        keras.losses.SparseCategoricalCrossentropy,
        "sparse",
        True,
    ),
    (custom_layers.MeanSquaredError, keras.losses.MeanSquaredError, "regression", None),
]


def _data_for(kind):
    labels, one_hot, z = _class_batch()
    if kind == "binary":
        return np.clip(one_hot[:, :3], 0, 1), np.clip(z[:, :3], -30, 30)
    if kind == "one_hot":
        return one_hot, z
    if kind == "sparse":
        return labels, z
    return RNG.standard_normal((12, 2)).astype("float32"), z[:, :2] / 1e3


@pytest.mark.parametrize(("ours", "theirs", "kind", "from_logits"), CLASS_PAIRS)
@pytest.mark.parametrize(
    "reduction", ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]
)
def test_loss_classes_match_keras_for_every_reduction_and_sample_weight(
    ours, theirs, kind, from_logits, reduction
):
    y, x = _data_for(kind)
    if kind == "binary" and not from_logits:
        x = 1 / (1 + np.exp(-x))
    kwargs = {} if from_logits is None else {"from_logits": from_logits}
    weight = RNG.uniform(0, 2, len(y)).astype("float32")
    for sample_weight in [None, weight]:
        got = ours(reduction=reduction, **kwargs)(y, x, sample_weight=sample_weight)
        want = theirs(reduction=reduction, **kwargs)(y, x, sample_weight=sample_weight)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", [c[0] for c in CLASS_PAIRS[1:]])
def test_loss_classes_reject_bad_arguments(cls):
    with pytest.raises(ValueError, match=r"Received: reduction=avg"):
        cls(reduction="avg")
    if cls is not custom_layers.MeanSquaredError:
        with pytest.raises(ValueError, match=r"Received: from_logits='yes'"):
            cls(from_logits="yes")


def test_shape_mismatch_raises_instead_of_broadcasting():
    with pytest.raises(ValueError, match=r"y_true.shape=\(4, 3\), y_pred.shape=\(4, 2\)"):
        custom_layers.BinaryCrossentropy()(np.ones((4, 3)), np.full((4, 2), 0.5))
    with pytest.raises(ValueError, match=r"y_true.shape=\(4, 1\), y_pred.shape=\(4, 2\)"):
        losses.mean_squared_error(np.ones((4, 1)), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"one class id per row"):
        losses.sparse_categorical_crossentropy(np.ones((4, 2)), np.ones((4, 3)))


@pytest.mark.parametrize(
    ("true_shape", "pred_shape"),
    [((6,), (6, 1)), ((6, 1), (6,)), ((6, 2, 1), (6, 2)), ((6, 2), (6, 2, 1))],
)
@pytest.mark.parametrize(
    ("ours", "theirs", "kind", "from_logits"), CLASS_PAIRS[:2] + CLASS_PAIRS[4:]
)
def test_labels_one_rank_from_the_predictions_align_as_keras_aligns_them(
    ours, theirs, kind, from_logits, true_shape, pred_shape
):
    # Keras' rule: a trailing axis of size 1 is expanded onto a rank-1 side,
    # else squeezed away; the per-example losses show which one happened
    y = RNG.integers(0, 2, int(np.prod(true_shape))).astype("float32").reshape(true_shape)
    x = RNG.uniform(0.05, 0.95, int(np.prod(pred_shape))).astype("float32").reshape(pred_shape)
    kwargs = {} if from_logits is None else {"from_logits": from_logits}
    got = np.asarray(ours(reduction=None, **kwargs)(y, x))
    want = np.asarray(theirs(reduction=None, **kwargs)(y, x))
    assert got.shape == want.shape, (true_shape, pred_shape)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_loss_config_round_trip():
    for cls, _, _, from_logits in CLASS_PAIRS:
        kwargs = {} if from_logits is None else {"from_logits": from_logits}
        loss = cls(reduction="sum", name="mine", **kwargs)
        again = cls.from_config(loss.get_config())
        assert again.get_config() == loss.get_config()
        assert again.reduction == "sum" and again.name == "mine"
