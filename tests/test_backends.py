"""The same objects on TensorFlow and on JAX: a ``.keras`` file crosses
between the backends with the same predictions, JAX's own transformations
(``jax.jit``, ``jax.grad``, ``stateless_call``) see the formulas, bad labels
are refused inside a compiled step, and no TensorFlow is needed on JAX."""

import textwrap

import keras
import numpy as np
import pytest

import custom_layers
from custom_layers import losses
from tests.helpers import GRADIENT_TOL, run_in_fresh_python

RNG = np.random.default_rng(0)


# A model with every kind of custom object, trained a few steps (so that the
# file holds optimizer state too), saved with its inputs and predictions.
def save_trained_model(folder):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 7, 7, 2)).astype("float32")
    y = rng.integers(0, 3, 16)
    model = keras.Sequential(
        [
            keras.Input((7, 7, 2)),
            custom_layers.Conv2D(
                4,
                3,
                strides=(2, 1),
                padding="same",
                activation=custom_layers.activations.relu,
                bias_initializer="random_normal",
            ),
            keras.layers.Flatten(),
            custom_layers.Dense(8, activation=custom_layers.activations.tanh),
            custom_layers.Dense(3, activation="linear"),
        ]
    )
    model.compile(
        optimizer=custom_layers.Adam(0.01, amsgrad=True),
        loss=custom_layers.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    save_with_expectations(model, x, y, folder)


def save_with_expectations(model, x, y, folder):
    """The model's file, and what it predicts and evaluates here on x, y."""
    model.save(f"{folder}/model.keras")
    np.savez(
        f"{folder}/expected.npz",
        x=x,
        y=y,
        predictions=model.predict(x, verbose=0),
        loss=model.evaluate(x, y, verbose=0),
        iterations=int(model.optimizer.iterations),
        backend=keras.backend.backend(),
    )


# The file loads with every object's own class, predicts and evaluates as it
# did where it was saved, and keeps training here (one epoch: 2 steps).
def check_loaded_model(folder, trained_on):
    saved = np.load(f"{folder}/expected.npz")
    assert str(saved["backend"]) == trained_on[-1]
    model = keras.models.load_model(f"{folder}/model.keras")
    if keras.backend.backend() == "jax" and not model.jit_compile:
        # The file keeps what jit_compile="auto" became where it was compiled:
        # False on TensorFlow without a GPU. On JAX that runs every op on its
        # own (this fit: 8.5 s instead of 1.3 s); what a user does is turn it on.
        model.jit_compile = True
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D",
        "Flatten",
        "Dense",
        "Dense",
    ]
    assert type(model.layers[0]) is custom_layers.Conv2D
    assert type(model.layers[2]) is custom_layers.Dense
    assert type(model.loss) is custom_layers.SparseCategoricalCrossentropy
    assert type(model.optimizer) is custom_layers.Adam and model.optimizer.amsgrad
    # 4 steps where it was first trained, 2 more on each backend since
    assert int(model.optimizer.iterations) == int(saved["iterations"]) == 2 * len(trained_on) + 2
    got = model.predict(saved["x"], verbose=0)
    diff = float(np.max(np.abs(got - saved["predictions"])))
    assert diff <= 1e-5, diff
    loss = model.evaluate(saved["x"], saved["y"], verbose=0)
    assert abs(loss - float(saved["loss"])) <= 1e-5, (loss, float(saved["loss"]))
    model.fit(saved["x"], saved["y"], batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert int(model.optimizer.iterations) == int(saved["iterations"]) + 2
    return model, saved["x"], saved["y"]


# On JAX the custom objects run without TensorFlow: a model of them trains,
# every loss computes, and TensorFlow was never imported. Keras' own saving
# imports TensorFlow whenever it is installed (to recognise tf.TensorShape):
# the check runs before anything in its process saves or loads a model.
# After it, _TENSORFLOW_NOT_INSTALLED makes every import of TensorFlow fail,
# so that the file is loaded and saved as by a user who has only JAX (and
# without the 3 s of CPU that the import costs here).
_NO_TENSORFLOW_ON_JAX = """
    import sys
    import numpy as np, keras, custom_layers as C
    assert keras.backend.backend() == "jax"
    model = keras.Sequential([
        keras.Input((6, 6, 1)), C.Conv2D(2, 3), keras.layers.Flatten(), C.Dense(3),
    ])
    model.compile(optimizer=C.Adam(), loss=C.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(np.ones((4, 6, 6, 1), "float32"), np.array([0, 1, 2, 0]), verbose=0)
    for loss in (C.BinaryCrossentropy(), C.CategoricalCrossentropy(), C.MeanSquaredError()):
        loss(np.ones((2, 3), "float32"), np.full((2, 3), 0.5, "float32"))
    assert "tensorflow" not in sys.modules, "custom_layers imported TensorFlow on JAX"
    print("no-tensorflow")
    """


_TENSORFLOW_NOT_INSTALLED = 'import sys\nsys.modules["tensorflow"] = None\n'


@pytest.mark.slow  # a fresh Python process, on the other backend
def test_a_keras_file_crosses_to_the_other_backend_and_back(tmp_path):
    # Trained here, trained on in a fresh process on the other backend, saved
    # there, and trained on again here: each file predicts and evaluates
    # where it is loaded as where it was saved.
    here = keras.backend.backend()
    other = "jax" if here == "tensorflow" else "tensorflow"
    there, back = tmp_path / "there", tmp_path / "back"
    there.mkdir()
    back.mkdir()
    save_trained_model(there)
    script = f"""
        import keras
        from tests.test_backends import check_loaded_model, save_with_expectations
        model, x, y = check_loaded_model({str(there)!r}, [{here!r}])
        save_with_expectations(model, x, y, {str(back)!r})
        print("loaded, trained and saved on", keras.backend.backend())
        """
    script = textwrap.dedent(script)
    if other == "jax":
        # The JAX process first checks that it runs without TensorFlow, then
        # loads and saves as on a machine where TensorFlow is not installed.
        script = textwrap.dedent(_NO_TENSORFLOW_ON_JAX) + _TENSORFLOW_NOT_INSTALLED + script
    said = run_in_fresh_python(script, f"loaded, trained and saved on {other}", backend=other)
    if other == "jax":  # the check ran, before anything was loaded or saved
        assert "no-tensorflow" in said.split("loaded, trained and saved")[0]
    check_loaded_model(back, [here, other])


@pytest.mark.slow  # a fresh Python process
def test_custom_layers_on_jax_never_import_tensorflow():
    if keras.backend.backend() == "tensorflow":
        # one fresh process fewer: TensorFlow takes 8-10 s to import on 2 cores
        pytest.skip(
            "checked in the JAX process of test_a_keras_file_crosses_to_the_other_backend_and_back"
        )
    run_in_fresh_python(_NO_TENSORFLOW_ON_JAX, "no-tensorflow", backend="jax")


# ------------------------------------------------------------ JAX itself


def _jax():
    import jax

    return jax


_LOSSES = {
    "bce": (losses.binary_crossentropy, keras.losses.binary_crossentropy, "binary"),
    "cce": (losses.categorical_crossentropy, keras.losses.categorical_crossentropy, "one_hot"),
    "sparse": (
        losses.sparse_categorical_crossentropy,
        keras.losses.sparse_categorical_crossentropy,
        "labels",
    ),
    "mse": (losses.mean_squared_error, keras.losses.mean_squared_error, "binary"),
}


@pytest.mark.jax_only
@pytest.mark.parametrize(
    ("name", "from_logits"),
    [(name, logits) for name in _LOSSES for logits in (False, True) if name != "mse" or not logits],
)
def test_losses_under_jit_and_grad_equal_eager_and_keras(name, from_logits):
    jax = _jax()
    ours, theirs, kind = _LOSSES[name]
    z = (3 * RNG.standard_normal((16, 5))).astype("float32")
    labels = RNG.integers(0, 5, 16)
    y = {
        "binary": RNG.integers(0, 2, (16, 5)).astype("float32"),
        "one_hot": np.eye(5, dtype="float32")[labels],
        "labels": labels,
    }[kind]
    x = z if from_logits else np.asarray(keras.ops.softmax(z))
    kw = {} if name == "mse" else {"from_logits": from_logits}

    def total(fn):
        return lambda v, y: jax.numpy.sum(fn(y, v, **kw))

    eager_value, eager_grad = total(ours)(x, y), jax.grad(total(ours))(x, y)
    jit_value = jax.jit(total(ours))(x, y)
    jit_grad = jax.jit(jax.grad(total(ours)))(x, y)
    np.testing.assert_allclose(jit_value, eager_value, rtol=1e-6)
    np.testing.assert_allclose(jit_grad, eager_grad, rtol=1e-5, atol=GRADIENT_TOL)
    np.testing.assert_allclose(
        jit_grad, jax.jit(jax.grad(total(theirs)))(x, y), rtol=1e-5, atol=GRADIENT_TOL
    )


@pytest.mark.jax_only
def test_bad_labels_under_jax_jit_and_grad_are_refused_with_the_label():
    jax = _jax()
    z = np.zeros((3, 1), "float32")
    y = np.array([[0.0], [1.5], [1.0]], "float32")

    def loss(v, y):
        return jax.numpy.sum(losses.binary_crossentropy(y, v, from_logits=True))

    # labels known (only the predictions traced): the eager ValueError
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\].*1 such labels, e\.g\. 1\.5"):
        jax.grad(lambda v: loss(v, y))(z)
    # labels traced: the check runs on the actual labels when the step runs
    with pytest.raises(jax.errors.JaxRuntimeError, match=r"1 such labels, e\.g\. 1\.5"):
        jax.block_until_ready(jax.jit(jax.grad(loss))(z, y))
    # good labels under jit: no error, the same value as eagerly
    good = np.array([[0.0], [0.5], [1.0]], "float32")
    np.testing.assert_allclose(jax.jit(loss)(z, good), loss(z, good), rtol=1e-6)


@pytest.mark.jax_only
@pytest.mark.parametrize("layer", ["dense", "conv2d"])
def test_stateless_call_under_jit_and_grad_matches_the_builtin(layer):
    # The JAX way to train a Keras layer: pure functions of its weights.
    jax = _jax()
    if layer == "dense":
        x = RNG.standard_normal((8, 6)).astype("float32")
        ours, theirs = custom_layers.Dense(4, "tanh"), keras.layers.Dense(4, "tanh")
    else:
        x = RNG.standard_normal((2, 7, 7, 3)).astype("float32")
        ours = custom_layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")
        theirs = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    target = RNG.standard_normal(ours.compute_output_shape(x.shape)).astype("float32")

    def loss(weights, layer, x):
        out, _ = layer.stateless_call(weights, [], x)
        return keras.ops.mean(keras.ops.square(out - target))

    weights = [v.value for v in ours.trainable_variables]
    grad_ours = jax.jit(jax.grad(loss, argnums=(0, 2)), static_argnums=1)(weights, ours, x)
    grad_theirs = jax.jit(jax.grad(loss, argnums=(0, 2)), static_argnums=1)(weights, theirs, x)
    for a, b in zip(jax.tree.leaves(grad_ours), jax.tree.leaves(grad_theirs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=GRADIENT_TOL)


@pytest.mark.jax_only
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (
            lambda: custom_layers.GradientDescent(0.1, momentum=0.9, nesterov=True),
            lambda: keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        ),
        (
            lambda: custom_layers.RMSprop(0.01, centered=True, momentum=0.5),
            lambda: keras.optimizers.RMSprop(0.01, centered=True, momentum=0.5),
        ),
        (
            lambda: custom_layers.Adam(0.05, amsgrad=True, epsilon_placement="keras"),
            lambda: keras.optimizers.Adam(0.05, amsgrad=True),
        ),
    ],
)
def test_optimizer_stateless_apply_under_jit_matches_the_builtin(ours, theirs):
    # JAX's functional optimizer step: (state, gradients, weights) in, new ones out.
    jax = _jax()
    w0 = RNG.standard_normal((5, 3)).astype("float32")
    grads = [(RNG.standard_normal((5, 3))).astype("float32") for _ in range(10)]
    paths = []
    for make in (ours, theirs):
        w = keras.Variable(w0)
        optimizer = make()
        optimizer.build([w])
        state = [v.value for v in optimizer.variables]
        step = jax.jit(optimizer.stateless_apply)
        weights = [w.value]
        for g in grads:
            weights, state = step(state, [g], weights)
        paths.append(np.asarray(weights[0]))
    np.testing.assert_allclose(paths[0], paths[1], rtol=0, atol=1e-6)
    assert np.max(np.abs(paths[0] - w0)) > 1e-2  # it moved
