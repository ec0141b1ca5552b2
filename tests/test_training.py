"""The same Sequential built from custom parts and from built-ins, trained
from the same initial weights on the same data: the weights stay together."""

import keras
import numpy as np
import pytest

import custom_layers
from custom_layers import activations
from recipes import backends
from tests.helpers import TRAJECTORY_TOL, fit_in_passes, max_weight_diff

RNG = np.random.default_rng(0)
X = RNG.standard_normal((256, 8)).astype("float32")
_TRUE_W = RNG.standard_normal((8, 3))
Y_REGRESSION = (X @ _TRUE_W[:, :1] + 0.1 * RNG.standard_normal((256, 1))).astype("float32")
Y_BINARY = (X @ _TRUE_W[:, :1] > 0).astype("float32")
Y_CLASS = np.argmax(X @ _TRUE_W, axis=-1)
Y_MULTILABEL = (X @ _TRUE_W > 0).astype("float32")


def _pair(hidden, out_units, out_activation, builtin_hidden, builtin_out):
    custom = keras.Sequential(
        [
            keras.Input((8,)),
            custom_layers.Dense(16, activation=hidden),
            custom_layers.Dense(out_units, activation=out_activation),
        ]
    )
    builtin = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation=builtin_hidden),
            keras.layers.Dense(out_units, activation=builtin_out),
        ]
    )
    builtin.set_weights(custom.get_weights())
    return custom, builtin


def _leaky(z):
    return keras.activations.leaky_relu(z, negative_slope=0.01)


# Each case: model pair, custom loss/optimizer, built-in loss/optimizer, y.
CASES = {
    "binary_logits_adam": (
        (activations.relu, 1, None, "relu", None),
        (custom_layers.BinaryCrossentropy(from_logits=True), "adam_keras"),
        (keras.losses.BinaryCrossentropy(from_logits=True), "adam"),
        Y_BINARY,
    ),
    "regression_gd": (
        (activations.tanh, 1, None, "tanh", None),
        (custom_layers.MeanSquaredError(), "gd"),
        (keras.losses.MeanSquaredError(), "sgd"),
        Y_REGRESSION,
    ),
    "multiclass_sparse_logits_adam": (
        (activations.leaky_relu, 3, None, _leaky, None),
        (custom_layers.SparseCategoricalCrossentropy(from_logits=True), "adam_keras"),
        (keras.losses.SparseCategoricalCrossentropy(from_logits=True), "adam"),
        Y_CLASS,
    ),
    "multilabel_sigmoid_gd": (
        (activations.relu, 3, activations.sigmoid, "relu", "sigmoid"),
        (custom_layers.BinaryCrossentropy(), "gd"),
        # Keras' sigmoid output would carry its logits to the built-in BCE and
        # skip clipping; the plain-probability path is compared through a
        # lambda that drops that link.
        (
            lambda y, p: keras.losses.binary_crossentropy(y, p + 0.0),
            "sgd",
        ),
        Y_MULTILABEL,
    ),
}

OPTIMIZERS = {
    "adam_keras": lambda: custom_layers.Adam(0.01, epsilon_placement="keras"),
    "adam": lambda: keras.optimizers.Adam(0.01),
    "gd": lambda: custom_layers.GradientDescent(0.1),
    "sgd": lambda: keras.optimizers.SGD(0.1),
}


@pytest.mark.parametrize("name", CASES)
def test_custom_and_builtin_models_train_together_for_100_steps(name):
    architecture, (c_loss, c_opt), (b_loss, b_opt), y = CASES[name]
    custom, builtin = _pair(*architecture)
    # optimizers built before fit (one trace of the step each; the notes'
    # plain compile, the optimizer built in the first trace, is kept by the
    # logistic-regression and 100-epoch tests below)
    backends.compile_for_fit(custom, optimizer=OPTIMIZERS[c_opt](), loss=c_loss)
    backends.compile_for_fit(builtin, optimizer=OPTIMIZERS[b_opt](), loss=b_loss)
    # 25 epochs of 4 batches: 100 steps, the mean loss of each epoch
    history_c = fit_in_passes(custom, X, y, passes=25, batch_size=64)
    history_b = fit_in_passes(builtin, X, y, passes=25, batch_size=64)
    assert custom.optimizer.iterations.numpy() == 100
    assert max_weight_diff(custom, builtin) <= TRAJECTORY_TOL
    np.testing.assert_allclose(history_c, history_b, rtol=1e-4, atol=1e-5)
    assert history_c[-1] < 0.7 * history_c[0]


def test_fit_in_passes_trains_and_reports_as_epochs_do():
    # The helper the twin tests above train with: the same weights and the
    # same per-epoch losses as fit(..., epochs=3).
    architecture, (loss, _), _, y = CASES["regression_gd"]
    models = [_pair(*architecture)[0] for _ in range(2)]  # two custom models
    for model in models:
        backends.compile_for_fit(model, optimizer=OPTIMIZERS["sgd"](), loss=loss)
    models[1].set_weights(models[0].get_weights())
    epochs = models[0].fit(X, y, batch_size=64, epochs=3, shuffle=False, verbose=0)
    passes = fit_in_passes(models[1], X, y, passes=3, batch_size=64)
    assert max_weight_diff(*models) == 0.0
    np.testing.assert_allclose(passes, epochs.history["loss"], rtol=1e-5)
    assert passes[-1] < passes[0]


@pytest.mark.slow  # 100 epochs: trains for long
def test_fit_with_all_custom_parts_lowers_the_loss_as_in_the_notes():
    # model.fit(X, y, epochs=100), the notes' training step, as written there.
    model = keras.Sequential(
        [
            keras.Input((8,)),
            custom_layers.Dense(16, activation="relu"),
            custom_layers.Dense(1),
        ]
    )
    model.compile(
        optimizer=custom_layers.Adam(),
        loss=custom_layers.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)],
    )
    history = model.fit(X, Y_BINARY, epochs=100, verbose=0).history
    assert history["loss"][-1] < 0.25 * history["loss"][0]
    assert history["binary_accuracy"][-1] > 0.95


def test_logistic_regression_by_gradient_descent_matches_its_numpy_twin():
    # z = w·x + b, f = σ(z), w = w − α·∂J/∂w, b = b − α·∂J/∂b with
    # ∂J/∂w = 1/m·Xᵀ(f − y), ∂J/∂b = 1/m·Σ(f − y).
    model = keras.Sequential([keras.Input((8,)), custom_layers.Dense(1, activation="sigmoid")])
    model.compile(
        optimizer=custom_layers.GradientDescent(0.5), loss=custom_layers.BinaryCrossentropy()
    )
    w, b = (v.astype("float64") for v in model.get_weights())
    x64, y64 = X.astype("float64"), Y_BINARY.astype("float64")
    for _ in range(50):
        f = 1 / (1 + np.exp(-(x64 @ w + b)))
        w = w - 0.5 * x64.T @ (f - y64) / len(X)
        b = b - 0.5 * np.mean(f - y64, axis=0)
    # 50 full-batch epochs (the notes' compile, its optimizer built in the first trace)
    fit_in_passes(model, X, Y_BINARY, passes=50, batch_size=len(X))
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel, w, atol=TRAJECTORY_TOL)
    np.testing.assert_allclose(bias, b, atol=TRAJECTORY_TOL)
