"""to_custom / to_builtin: whole models switch between the Keras built-ins and
the custom twins with the same configs and weights, so the same predictions."""

import keras
import numpy as np
import pytest

import custom_layers
from custom_layers import activations
from tests.helpers import FORWARD_TOL

RNG = np.random.default_rng(0)
IMAGES = RNG.standard_normal((6, 10, 10, 3)).astype("float32")
LABELS = RNG.integers(0, 4, 6)
VECTORS = RNG.standard_normal((9, 6)).astype("float32")

TWIN_OF = {keras.layers.Dense: custom_layers.Dense, keras.layers.Conv2D: custom_layers.Conv2D}
BUILTIN_OF = {twin: builtin for builtin, twin in TWIN_OF.items()}


def _builtin_cnn():
    """A small CNN of built-ins, with a trained-looking (random) bias."""
    return keras.Sequential(
        [
            keras.Input((10, 10, 3), name="image"),
            keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="conv_a"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Conv2D(
                6, (2, 3), strides=2, activation="tanh", bias_initializer="random_normal"
            ),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(8, activation="sigmoid", bias_initializer="random_normal"),
            keras.layers.Dense(4, activation="softmax", name="probabilities"),
        ],
        name="cnn",
    )


def _custom_cnn():
    return keras.Sequential(
        [
            keras.Input((10, 10, 3)),
            custom_layers.Conv2D(4, 3, activation="relu", bias_initializer="random_normal"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            custom_layers.Dense(6, activation=activations.tanh),
            custom_layers.Dense(4, activation="linear", bias_initializer="random_normal"),
        ]
    )


def _classes(model):
    return [type(layer) for layer in model.layers]


def _snapshot(model):
    """What a conversion must leave alone in the original."""
    return {
        "classes": _classes(model),
        "weights": [w.copy() for w in model.get_weights()],
        "outputs": [layer.output for layer in model.layers],  # raises once a layer has 2 calls
        "compiled": model.compiled,
    }


def _assert_untouched(model, snapshot):
    assert _classes(model) == snapshot["classes"]
    for a, b in zip(model.get_weights(), snapshot["weights"], strict=True):
        np.testing.assert_array_equal(a, b)
    outputs = [layer.output for layer in model.layers]
    assert all(a is b for a, b in zip(outputs, snapshot["outputs"], strict=True))
    assert model.compiled == snapshot["compiled"]


def _assert_converted(original, converted, twin_of):
    """Twins where there is one, the same class elsewhere; same config, same weights."""
    assert converted is not original
    assert len(converted.layers) == len(original.layers)
    for old, new in zip(original.layers, converted.layers, strict=True):
        assert type(new) is twin_of.get(type(old), type(old)), old.name
        assert new is not old
        old_config, new_config = old.get_config(), new.get_config()
        old_config.pop("activation", None)
        new_config.pop("activation", None)
        shared = old_config.keys() & new_config.keys()
        assert {k: old_config[k] for k in shared} == {k: new_config[k] for k in shared}
        assert len(old.weights) == len(new.weights)
        for a, b in zip(old.weights, new.weights, strict=True):
            assert a is not b
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_to_custom_sequential_cnn_same_predictions_weights_and_twins():
    model = _builtin_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    expected = model.predict(IMAGES, verbose=0)
    snapshot = _snapshot(model)

    custom = custom_layers.to_custom(model)

    _assert_converted(model, custom, TWIN_OF)
    assert isinstance(custom, keras.Sequential) and custom.name == "cnn"
    assert custom.inputs[0].name == "image" and custom.inputs[0].shape == (None, 10, 10, 3)
    assert custom.get_layer("conv_a").activation is activations.relu
    assert custom.layers[2].activation is activations.tanh
    assert custom.layers[5].activation is activations.sigmoid
    assert custom.get_layer("probabilities").activation is activations.softmax
    np.testing.assert_allclose(
        custom.predict(IMAGES, verbose=0), expected, rtol=0, atol=FORWARD_TOL
    )
    _assert_untouched(model, snapshot)
    np.testing.assert_array_equal(model.predict(IMAGES, verbose=0), expected)
    # Uncompiled, by design (the original keeps its optimizer).
    assert not custom.compiled
    assert model.compiled and isinstance(model.optimizer, keras.optimizers.Adam)


def test_to_builtin_sequential_same_predictions_weights_and_builtins():
    model = _custom_cnn()
    expected = model.predict(IMAGES, verbose=0)
    snapshot = _snapshot(model)

    builtin = custom_layers.to_builtin(model)

    _assert_converted(model, builtin, BUILTIN_OF)
    assert builtin.layers[0].activation is keras.activations.relu
    assert builtin.layers[3].activation is keras.activations.tanh
    assert builtin.layers[4].activation is keras.activations.linear
    np.testing.assert_allclose(builtin.predict(IMAGES, verbose=0), expected, rtol=0, atol=1e-5)
    _assert_untouched(model, snapshot)


def test_round_trips_give_identical_predictions():
    custom = _custom_cnn()
    again = custom_layers.to_custom(custom_layers.to_builtin(custom))
    assert _classes(again) == _classes(custom)
    np.testing.assert_array_equal(
        again.predict(IMAGES, verbose=0), custom.predict(IMAGES, verbose=0)
    )

    builtin = _builtin_cnn()
    back = custom_layers.to_builtin(custom_layers.to_custom(builtin))
    assert _classes(back) == _classes(builtin)
    assert back.layers[-1].activation is keras.activations.softmax
    np.testing.assert_array_equal(
        back.predict(IMAGES, verbose=0), builtin.predict(IMAGES, verbose=0)
    )


def _functional_two_in_two_out():
    """Two inputs (a dict), a layer shared by both, a nested Sequential, a
    ``keras.ops`` call in the graph, two outputs."""
    left = keras.Input((6,), name="left")
    right = keras.Input((6,), name="right")
    shared = keras.layers.Dense(5, activation="tanh", name="shared")
    inner = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(4, activation="relu", name="inner_dense"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(3, activation="sigmoid", name="inner_out"),
        ],
        name="inner",
    )
    h_left, h_right = shared(left), shared(right)
    scores = inner(h_left)
    joined = keras.layers.Concatenate()([h_left, h_right])
    value = keras.ops.multiply(keras.layers.Dense(2, name="value")(joined), 0.5)
    return keras.Model(
        {"left": left, "right": right}, {"scores": scores, "value": value}, name="two_heads"
    )


def test_to_custom_functional_nested_shared_multi_io():
    model = _functional_two_in_two_out()
    x = {"left": VECTORS, "right": VECTORS[::-1].copy()}
    expected = model.predict(x, verbose=0)
    inner_weights = [w.copy() for w in model.get_layer("inner").get_weights()]

    custom = custom_layers.to_custom(model)

    assert custom.name == "two_heads" and [t.name for t in custom.inputs] == ["left", "right"]
    assert type(custom.get_layer("shared")) is custom_layers.Dense
    assert type(custom.get_layer("value")) is custom_layers.Dense
    inner = custom.get_layer("inner")
    assert isinstance(inner, keras.Sequential) and inner is not model.get_layer("inner")
    _assert_converted(model.get_layer("inner"), inner, TWIN_OF)
    # The shared layer is still one layer (one set of weights) used twice.
    assert len(custom.weights) == len(model.weights)
    assert sum(layer.name == "shared" for layer in custom.layers) == 1
    got = custom.predict(x, verbose=0)
    assert got.keys() == expected.keys()
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=FORWARD_TOL)
    for a, b in zip(model.get_layer("inner").get_weights(), inner_weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert type(model.get_layer("shared")) is keras.layers.Dense
    assert not custom.compiled

    back = custom_layers.to_builtin(custom)
    assert type(back.get_layer("inner").get_layer("inner_out")) is keras.layers.Dense
    again = back.predict(x, verbose=0)
    for name in expected:
        np.testing.assert_allclose(again[name], expected[name], rtol=0, atol=FORWARD_TOL)


def test_loaded_keras_file_with_builtins_converts(tmp_path):
    model = _builtin_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(IMAGES, LABELS, epochs=1, verbose=0)
    model.save(tmp_path / "builtin.keras")
    loaded = keras.models.load_model(tmp_path / "builtin.keras")
    expected = loaded.predict(IMAGES, verbose=0)

    custom = custom_layers.to_custom(loaded)

    _assert_converted(loaded, custom, TWIN_OF)
    np.testing.assert_allclose(
        custom.predict(IMAGES, verbose=0), expected, rtol=0, atol=FORWARD_TOL
    )
    assert loaded.compiled and not custom.compiled


def test_converted_model_trains_saves_and_reloads(tmp_path):
    model = _builtin_cnn()
    original_weights = [w.copy() for w in model.get_weights()]
    custom = custom_layers.to_custom(model)
    custom.compile(
        optimizer=custom_layers.Adam(0.01),
        loss=custom_layers.SparseCategoricalCrossentropy(),
    )
    history = custom.fit(IMAGES, LABELS, epochs=1, batch_size=3, verbose=0).history["loss"]
    assert np.isfinite(history[0])
    moved = max(
        float(np.max(np.abs(a - b)))
        for a, b in zip(custom.get_weights(), original_weights, strict=True)
    )
    assert moved > 1e-4  # it trained ...
    for a, b in zip(model.get_weights(), original_weights, strict=True):
        np.testing.assert_array_equal(a, b)  # ... its own variables, not the original's

    custom.save(tmp_path / "custom.keras")
    reloaded = keras.models.load_model(tmp_path / "custom.keras")
    assert _classes(reloaded) == _classes(custom)
    np.testing.assert_array_equal(
        reloaded.predict(IMAGES, verbose=0), custom.predict(IMAGES, verbose=0)
    )


def test_layers_without_twin_keep_class_and_state():
    """BatchNormalization's moving statistics (non-trainable weights) and a
    user's subclass of keras.layers.Dense (its own call) are copied as they are."""

    class DoubledDense(keras.layers.Dense):
        def call(self, inputs):
            return 2.0 * super().call(inputs)

    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(5, activation="relu"),
            keras.layers.BatchNormalization(),
            DoubledDense(3, name="doubled"),
            keras.layers.Activation("softmax"),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    model.fit(VECTORS, np.ones((9, 3)), epochs=2, verbose=0)  # moving statistics move
    assert np.max(np.abs(model.layers[1].moving_mean.numpy())) > 1e-3

    custom = custom_layers.to_custom(model)

    assert _classes(custom) == [
        custom_layers.Dense,
        keras.layers.BatchNormalization,
        DoubledDense,
        keras.layers.Activation,
    ]
    _assert_converted(model, custom, TWIN_OF)
    np.testing.assert_allclose(
        custom.predict(VECTORS, verbose=0), model.predict(VECTORS, verbose=0), rtol=0, atol=1e-6
    )


@pytest.mark.parametrize(
    ("name", "custom"),
    [
        ("relu", activations.relu),
        ("linear", activations.linear),
        ("sigmoid", activations.sigmoid),
        ("tanh", activations.tanh),
        ("softmax", activations.softmax),
    ],
)
def test_equal_activations_switch_sides(name, custom):
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation=name)])
    converted = custom_layers.to_custom(model)
    assert converted.layers[0].activation is custom
    back = custom_layers.to_builtin(converted)
    assert back.layers[0].activation is keras.activations.get(name)
    np.testing.assert_allclose(
        converted.predict(VECTORS, verbose=0),
        model.predict(VECTORS, verbose=0),
        rtol=0,
        atol=FORWARD_TOL,
    )


def test_activation_without_twin_is_kept():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="gelu")])
    converted = custom_layers.to_custom(model)
    assert type(converted.layers[0]) is custom_layers.Dense
    assert converted.layers[0].activation is keras.activations.gelu
    np.testing.assert_allclose(
        converted.predict(VECTORS, verbose=0), model.predict(VECTORS, verbose=0), atol=FORWARD_TOL
    )


def _leaky(z, slope):
    return np.where(z > 0, z, slope * z)


def test_keras_leaky_relu_slope_never_changes_even_after_reload(tmp_path):
    """Keras' leaky_relu has slope 0.2, the notes' 0.01: the converted model
    must keep 0.2, in memory and after a .keras round trip."""
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(4, activation="leaky_relu", name="leaky")]
    )
    w, b = model.layers[0].get_weights()
    reference = _leaky(VECTORS @ w + b, 0.2)
    assert np.min(VECTORS @ w + b) < -0.1  # the slope matters on these inputs

    converted = custom_layers.to_custom(model)
    layer = converted.layers[0]
    assert type(layer) is custom_layers.Dense
    assert layer.activation is keras.activations.leaky_relu
    np.testing.assert_allclose(converted.predict(VECTORS, verbose=0), reference, atol=1e-5)

    converted.save(tmp_path / "leaky.keras")
    reloaded = keras.models.load_model(tmp_path / "leaky.keras")
    np.testing.assert_allclose(reloaded.predict(VECTORS, verbose=0), reference, atol=1e-5)


def test_notes_leaky_relu_stays_custom_in_builtin_layer(tmp_path):
    model = keras.Sequential(
        [keras.Input((6,)), custom_layers.Dense(4, activation="leaky_relu", name="leaky")]
    )
    w, b = model.layers[0].get_weights()
    reference = _leaky(VECTORS @ w + b, 0.01)
    builtin = custom_layers.to_builtin(model)
    assert type(builtin.layers[0]) is keras.layers.Dense
    assert builtin.layers[0].activation is activations.leaky_relu
    np.testing.assert_allclose(builtin.predict(VECTORS, verbose=0), reference, atol=1e-5)
    builtin.save(tmp_path / "b.keras")
    reloaded = keras.models.load_model(tmp_path / "b.keras")
    np.testing.assert_allclose(reloaded.predict(VECTORS, verbose=0), reference, atol=1e-5)


def test_unbuilt_and_lazily_built_sequential():
    unbuilt = keras.Sequential([keras.layers.Dense(5, activation="relu"), keras.layers.Dense(2)])
    converted = custom_layers.to_custom(unbuilt)
    assert not converted.built and not unbuilt.built
    assert _classes(converted) == [custom_layers.Dense, custom_layers.Dense]
    assert converted.layers[0].units == 5 and converted.layers[0].activation is activations.relu
    converted.build((None, 6))
    assert [w.shape for w in converted.weights] == [(6, 5), (5,), (5, 2), (2,)]
    assert not unbuilt.built

    lazy = keras.Sequential([keras.layers.Dense(5, activation="relu"), keras.layers.Dense(2)])
    lazy(VECTORS)  # built by a call, no Input
    converted = custom_layers.to_custom(lazy)
    _assert_converted(lazy, converted, TWIN_OF)
    np.testing.assert_allclose(
        converted.predict(VECTORS, verbose=0), lazy.predict(VECTORS, verbose=0), atol=FORWARD_TOL
    )


def test_trainable_flags_are_kept():
    inputs = keras.Input((6,))
    frozen = keras.layers.Dense(4, name="frozen")
    outputs = keras.layers.Dense(2, name="head")(frozen(inputs))
    model = keras.Model(inputs, outputs)
    frozen.trainable = False
    converted = custom_layers.to_custom(model)
    assert not converted.get_layer("frozen").trainable
    assert converted.get_layer("head").trainable
    assert len(converted.trainable_weights) == 2 and len(converted.non_trainable_weights) == 2

    model.trainable = False
    converted = custom_layers.to_custom(model)
    assert not converted.trainable and converted.trainable_weights == []
    assert len(converted.non_trainable_weights) == 4


def test_functional_subclass_keeps_its_class():
    class CountingModel(keras.Model):
        """A functional model with its own train_step, as in the Keras guides."""

        def train_step(self, data):
            return super().train_step(data)

    inputs = keras.Input((6,))
    model = CountingModel(inputs, keras.layers.Dense(3)(inputs), name="counting")
    converted = custom_layers.to_custom(model)
    assert type(converted) is CountingModel and converted.name == "counting"
    assert type(converted.layers[-1]) is custom_layers.Dense
    np.testing.assert_allclose(
        converted.predict(VECTORS, verbose=0), model.predict(VECTORS, verbose=0), atol=FORWARD_TOL
    )


def test_subclassed_model_is_refused_with_its_name():
    class TwoLayers(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = keras.layers.Dense(4)
            self.out = keras.layers.Dense(1)

        def call(self, inputs):
            return self.out(self.hidden(inputs))

    model = TwoLayers(name="my_subclass")
    model(VECTORS)
    with pytest.raises(ValueError, match=r"Cannot convert model 'my_subclass' of class TwoLayers"):
        custom_layers.to_custom(model)
    # ... also when nested inside a functional model.
    inputs = keras.Input((6,))
    outer = keras.Model(inputs, model(inputs))
    with pytest.raises(ValueError, match=r"model 'my_subclass'"):
        custom_layers.to_builtin(outer)


def test_layer_that_cannot_be_rebuilt_is_named():
    inputs = keras.Input((6,))
    outputs = keras.layers.Lambda(lambda t: 2.0 * t, name="doubling")(keras.layers.Dense(3)(inputs))
    with pytest.raises(ValueError, match=r"Cannot rebuild layer 'doubling' \(Lambda\)"):
        custom_layers.to_custom(keras.Model(inputs, outputs))


@pytest.mark.parametrize("convert", [custom_layers.to_custom, custom_layers.to_builtin])
@pytest.mark.parametrize(
    "value", [None, "model.keras", keras.layers.Dense(3), [keras.layers.Dense(3)]]
)
def test_non_models_are_refused(convert, value):
    with pytest.raises(ValueError, match=r"Argument `model` .* Received: model="):
        convert(value)


@pytest.mark.parametrize(
    "arguments",
    [
        {"dilation_rate": 2},
        {"groups": 2},
        {"strides": (1, 2), "kernel_size": (2, 3)},
        {"activity_regularizer": "l2", "kernel_regularizer": "l1"},
        {"use_bias": False, "kernel_constraint": "non_neg"},
        {"dtype": "mixed_float16"},
    ],
    ids=lambda arguments: "-".join(arguments),
)
def test_every_conv2d_and_dense_setting_carries_over(arguments):
    dense_arguments = {k: v for k, v in arguments.items() if k in ("use_bias", "dtype")}
    model = keras.Sequential(
        [
            keras.Input((9, 9, 4)),
            keras.layers.Conv2D(
                4, **{"kernel_size": 3, **arguments}, padding="same", activation="relu"
            ),
            keras.layers.Flatten(),
            keras.layers.Dense(3, **dense_arguments),
        ]
    )
    x = IMAGES[:, :9, :9, :].repeat(2, axis=-1)[..., :4]
    custom = custom_layers.to_custom(model)
    _assert_converted(model, custom, TWIN_OF)
    back = custom_layers.to_builtin(custom)
    _assert_converted(custom, back, BUILTIN_OF)
    tolerance = 1e-2 if "dtype" in arguments else FORWARD_TOL  # float16 outputs
    expected = model.predict(x, verbose=0).astype("float32")
    for converted in (custom, back):
        got = converted.predict(x, verbose=0).astype("float32")
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance)
