"""`.keras` round-trips of every custom object, in-process and in a fresh
Python process, and of a user's subclass of the custom Dense. The ``saved_*``
functions save a model and return the script that checks it in a fresh
process; tests/test_fresh_process.py runs those scripts."""

import sys

import keras
import numpy as np
import pytest

import custom_layers
from custom_layers import activations

X = np.random.default_rng(0).standard_normal((32, 6)).astype("float32")
Y = np.random.default_rng(1).integers(0, 2, (32, 4)).astype("float32")


def _every_custom_object_model():
    model = keras.Sequential(
        [
            keras.Input((6,)),
            custom_layers.Dense(8, activation=activations.relu),
            custom_layers.Dense(8, activation="tanh"),
            custom_layers.Dense(8, activation=activations.leaky_relu),
            custom_layers.Dense(8, activation=activations.sigmoid),
            custom_layers.Dense(8, activation=activations.softmax, use_bias=False),
            custom_layers.Dense(4, activation=activations.linear),
        ]
    )
    model.compile(
        optimizer=custom_layers.Adam(0.01, epsilon_placement="keras"),
        loss=custom_layers.BinaryCrossentropy(from_logits=True),
    )
    model.fit(X, Y, epochs=2, verbose=0)
    return model


def test_keras_round_trip_keeps_predictions_weights_and_optimizer(tmp_path):
    model = _every_custom_object_model()
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)  # no lambdas, no pickles needed
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert isinstance(loaded.layers[0], custom_layers.Dense)
    assert loaded.layers[0].activation is activations.relu
    assert loaded.layers[2].activation is activations.leaky_relu
    assert isinstance(loaded.optimizer, custom_layers.Adam)
    assert loaded.optimizer.epsilon_placement == "keras"
    assert isinstance(loaded.loss, custom_layers.BinaryCrossentropy) and loaded.loss.from_logits
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a, b)
    # Training resumes identically from the restored optimizer state.
    model.fit(X, Y, epochs=1, shuffle=False, verbose=0)
    loaded.fit(X, Y, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6)


@pytest.mark.parametrize(
    "loss",
    [
        custom_layers.CategoricalCrossentropy(from_logits=True),
        custom_layers.SparseCategoricalCrossentropy(from_logits=True),
        custom_layers.MeanSquaredError(reduction="sum"),
    ],
)
def test_every_loss_and_gradient_descent_reload(tmp_path, loss):
    model = keras.Sequential([keras.Input((6,)), custom_layers.Dense(4)])
    model.compile(optimizer=custom_layers.GradientDescent(0.1), loss=loss)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.loss) is type(loss)
    assert loaded.loss.get_config() == loss.get_config()
    assert isinstance(loaded.optimizer, custom_layers.GradientDescent)


def saved_every_custom_object(tmp_path):
    """The model of every custom object saved; a fresh process loads it."""
    model = _every_custom_object_model()
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "expected.npy", model.predict(X, verbose=0))
    script = f"""
        import numpy as np, keras
        import custom_layers  # registers the custom objects
        model = keras.models.load_model({str(tmp_path / "model.keras")!r})
        got = model.predict(np.load({str(tmp_path / "x.npy")!r}), verbose=0)
        np.testing.assert_array_equal(got, np.load({str(tmp_path / "expected.npy")!r}))
        assert type(model.optimizer).__name__ == "Adam"
        assert type(model.optimizer).__module__ == "custom_layers.optimizers"
        """
    return script


SUBCLASS_SOURCE = '''
import keras
from keras import ops
import custom_layers


@keras.saving.register_keras_serializable(package="user")
class ScaledDense(custom_layers.Dense):
    """A user's subclass: one new argument and its own call()."""

    def __init__(self, units, scale=1.0, **kwargs):
        super().__init__(units, **kwargs)
        self.scale = scale

    def call(self, inputs):
        return self.scale * super().call(inputs)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
'''


def saved_user_subclass(tmp_path):
    """A user's subclass trained, saved and reloaded here; a fresh process
    that imports the user's module loads it."""
    (tmp_path / "user_layers.py").write_text(SUBCLASS_SOURCE)
    sys.path.insert(0, str(tmp_path))
    try:
        import user_layers
    finally:
        sys.path.remove(str(tmp_path))
    model = keras.Sequential(
        [keras.Input((6,)), user_layers.ScaledDense(4, scale=0.5, activation="relu")]
    )
    model.compile(optimizer=custom_layers.Adam(0.05), loss=custom_layers.MeanSquaredError())
    history = model.fit(X, Y, epochs=20, verbose=0).history["loss"]
    assert history[-1] < history[0]
    w, b = model.get_weights()
    np.testing.assert_allclose(
        model.predict(X, verbose=0), 0.5 * np.maximum(X @ w + b, 0), rtol=1e-5, atol=1e-6
    )
    model.save(tmp_path / "sub.keras")
    loaded = keras.models.load_model(tmp_path / "sub.keras")
    assert loaded.layers[0].scale == 0.5
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))

    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "expected.npy", model.predict(X, verbose=0))
    script = f"""
        import sys; sys.path.insert(0, {str(tmp_path)!r})
        import numpy as np, keras
        import user_layers
        model = keras.models.load_model({str(tmp_path / "sub.keras")!r})
        got = model.predict(np.load({str(tmp_path / "x.npy")!r}), verbose=0)
        np.testing.assert_array_equal(got, np.load({str(tmp_path / "expected.npy")!r}))
        assert model.layers[0].scale == 0.5
        """
    return script


def test_layer_config_round_trip_keeps_every_argument():
    layer = custom_layers.Dense(
        3,
        activation="leaky_relu",
        use_bias=False,
        kernel_initializer="he_normal",
        bias_initializer="ones",
        kernel_regularizer="l2",
        bias_constraint="non_neg",
        name="d",
    )
    again = custom_layers.Dense.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    assert again.activation is activations.leaky_relu and again.use_bias is False
