"""A model saved mid-training and reloaded trains on to the same weights and
the same optimizer state as the original does on the same batches: the
``.keras`` file keeps every argument that shapes an update (the optimizer's,
the loss', the layers'), not only the step count. Here in one process, and
in a fresh one through ``saved_mid_training``'s script (run by
tests/test_fresh_process.py)."""

import keras
import numpy as np
import pytest

import custom_layers

RNG = np.random.default_rng(5)
X = RNG.standard_normal((48, 6, 6, 2)).astype("float32")
Y = np.eye(4, dtype="float32")[RNG.integers(0, 4, 48)]
BATCH = 8  # 6 batches: 3 before the save, 3 after

# Arguments away from the defaults, each of which changes the path: the
# notes' epsilon (Keras' Adam, which a config without it would give, puts ε
# elsewhere; ε = 0.05 makes the two differ by far more than the tolerance),
# AMSGrad's v_max, momentum and Nesterov's velocity.
OPTIMIZERS = {
    "adam": lambda: custom_layers.Adam(
        0.02, beta_1=0.8, beta_2=0.95, epsilon=0.05, amsgrad=True, epsilon_placement="notes"
    ),
    "gradient_descent": lambda: custom_layers.GradientDescent(0.05, momentum=0.7, nesterov=True),
}


def _model(optimizer):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(X.shape[1:]),
            custom_layers.Conv2D(3, 3, strides=(1, 2), activation="relu", bias_initializer="ones"),
            keras.layers.Flatten(),
            custom_layers.Dense(4, kernel_regularizer=keras.regularizers.L2(0.01)),
        ]
    )
    model.compile(
        optimizer=OPTIMIZERS[optimizer](),
        loss=custom_layers.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
    )
    return model


def _train(model, batches):
    for index in batches:
        rows = slice(index * BATCH, (index + 1) * BATCH)
        model.train_on_batch(X[rows], Y[rows])


def _state(model):
    """Every weight and every optimizer variable (iterations, learning rate,
    m, v, v_max or the velocity), as NumPy arrays."""
    optimizer = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    return model.get_weights() + optimizer


def assert_same_state(got, expected, atol=1e-7):
    assert len(got) == len(expected)
    for index, (a, b) in enumerate(zip(got, expected, strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=atol, err_msg=f"variable {index}")


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_reloaded_model_trains_on_to_the_same_weights_and_state(tmp_path, optimizer):
    model = _model(optimizer)
    _train(model, range(3))
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    saved = _state(model)
    assert_same_state(_state(loaded), saved, atol=0)
    _train(model, range(3, 6))
    _train(loaded, range(3, 6))
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == 6
    assert_same_state(_state(loaded), _state(model))
    # the steps after the reload moved every weight: the comparison has teeth
    for before, after in zip(saved, model.get_weights(), strict=False):
        assert np.max(np.abs(after - before)) > 1e-3


def saved_mid_training(tmp_path):
    """Each optimizer's model saved after 3 steps, and its state after 3
    more; the script for a fresh process that reloads the model, trains the
    same 3 steps and must reach that state."""
    for optimizer in OPTIMIZERS:
        model = _model(optimizer)
        _train(model, range(3))
        model.save(tmp_path / f"{optimizer}.keras")
        _train(model, range(3, 6))
        np.savez(tmp_path / f"{optimizer}.npz", *_state(model))
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", Y)
    script = f"""
        import keras, numpy as np
        import custom_layers  # registers the custom objects
        folder, batch = {str(tmp_path)!r}, {BATCH}
        x, y = np.load(folder + "/x.npy"), np.load(folder + "/y.npy")
        for optimizer in {list(OPTIMIZERS)!r}:
            model = keras.models.load_model(f"{{folder}}/{{optimizer}}.keras")
            for index in range(3, 6):
                rows = slice(index * batch, (index + 1) * batch)
                model.train_on_batch(x[rows], y[rows])
            state = model.get_weights() + [
                keras.ops.convert_to_numpy(v) for v in model.optimizer.variables
            ]
            expected = np.load(f"{{folder}}/{{optimizer}}.npz")
            assert len(state) == len(expected), (optimizer, len(state), len(expected))
            for index, got in enumerate(state):
                np.testing.assert_allclose(
                    got, expected[f"arr_{{index}}"], rtol=1e-6, atol=1e-7,
                    err_msg=f"{{optimizer}}: variable {{index}}",
                )
        """
    return script
