"""The optimizers' state (velocity u, averages v and ḡ, AMSGrad's v_max): laid
out like the Keras twins', so a Keras optimizer's state carries over, and saved
with a `.keras` model so that training resumes where it stopped, also in a
fresh Python process (``saved_states``' script, run by
tests/test_fresh_process.py)."""

import keras
import numpy as np
import pytest

import custom_layers

TWINS = {
    "nesterov_momentum": (
        lambda: custom_layers.GradientDescent(0.05, momentum=0.9, nesterov=True),
        lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    ),
    "rmsprop_centered_momentum": (
        lambda: custom_layers.RMSprop(0.01, momentum=0.5, centered=True),
        lambda: keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    ),
    "amsgrad": (
        lambda: custom_layers.Adam(0.05, amsgrad=True, epsilon_placement="keras"),
        lambda: keras.optimizers.Adam(0.05, amsgrad=True),
    ),
}

RNG = np.random.default_rng(3)
X = RNG.standard_normal((48, 4)).astype("float32")
Y = RNG.standard_normal((48, 2)).astype("float32")


def _two_variables():
    return [
        keras.Variable(np.full((4, 2), 0.5, "float32"), name="kernel"),
        keras.Variable(np.zeros(2, "float32"), name="bias"),
    ]


def _gradients(variables, step):
    """A fixed, step-dependent gradient of the loss ‖X·W + b − Y‖²/m."""
    kernel, bias = (v.numpy() for v in variables)
    rows = slice(16 * (step % 3), 16 * (step % 3 + 1))
    error = X[rows] @ kernel + bias - Y[rows]
    return [2 / 16 * X[rows].T @ error, 2 / 16 * error.sum(0)]


def _steps(optimizer, variables, start, count):
    for step in range(start, start + count):
        optimizer.apply(_gradients(variables, step), variables)


@pytest.mark.parametrize("twin", TWINS)
def test_state_is_laid_out_like_the_keras_twins(twin):
    ours, theirs = TWINS[twin][0](), TWINS[twin][1]()
    ours.build(_two_variables())
    theirs.build(_two_variables())
    assert [v.shape for v in ours.variables] == [v.shape for v in theirs.variables]
    assert len(ours.variables) > 2  # iterations, learning rate and the state


@pytest.mark.parametrize("twin", TWINS)
def test_a_keras_optimizers_state_carries_over(twin):
    # 20 steps with the Keras optimizer, then its state copied into ours:
    # the next 20 steps agree with the Keras optimizer's own.
    theirs, variables = TWINS[twin][1](), _two_variables()
    _steps(theirs, variables, 0, 20)
    ours, copies = TWINS[twin][0](), [keras.Variable(v.numpy(), name=v.name) for v in variables]
    ours.build(copies)
    for mine, their in zip(ours.variables, theirs.variables, strict=True):
        mine.assign(their)
    _steps(theirs, variables, 20, 20)
    _steps(ours, copies, 20, 20)
    assert int(ours.iterations.numpy()) == 40
    for mine, their in zip(copies, variables, strict=True):
        np.testing.assert_allclose(mine.numpy(), their.numpy(), rtol=0, atol=1e-7)


def _trained_model(optimizer):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), custom_layers.Dense(2)])
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(X, Y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    return model


def saved_states(tmp_path):
    """Each twin's model saved after 3 epochs; reloaded here, its optimizer
    state is the same and one more epoch gives the expected weights. Returns
    the script with which a fresh process reloads it and gets them too."""
    expected = {}
    for twin, (make, _) in TWINS.items():
        model = _trained_model(make())
        model.save(tmp_path / f"{twin}.keras")
        loaded = keras.models.load_model(tmp_path / f"{twin}.keras")
        assert loaded.optimizer.get_config() == model.optimizer.get_config()
        for a, b in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
            np.testing.assert_array_equal(a, b)
        model.fit(X, Y, batch_size=16, epochs=1, shuffle=False, verbose=0)
        expected[twin] = model.get_weights()
        np.save(tmp_path / f"{twin}.npy", np.concatenate([w.ravel() for w in expected[twin]]))
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", Y)
    script = f"""
        import numpy as np, keras
        import custom_layers  # registers the custom objects
        folder = {str(tmp_path)!r}
        x, y = np.load(folder + "/x.npy"), np.load(folder + "/y.npy")
        for twin, cls in [("nesterov_momentum", custom_layers.GradientDescent),
                          ("rmsprop_centered_momentum", custom_layers.RMSprop),
                          ("amsgrad", custom_layers.Adam)]:
            model = keras.models.load_model(folder + "/" + twin + ".keras")
            assert type(model.optimizer) is cls, type(model.optimizer)
            model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
            got = np.concatenate([w.ravel() for w in model.get_weights()])
            diff = np.max(np.abs(got - np.load(folder + "/" + twin + ".npy")))
            assert diff <= 1e-6, (twin, diff)
        """
    return script
