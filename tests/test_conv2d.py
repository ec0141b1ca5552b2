"""Conv2D from the notes' formula vs a NumPy loop and keras.layers.Conv2D."""

import itertools
import re
import warnings

import keras
import numpy as np
import pytest
from keras import ops
from sklearn.datasets import load_sample_image

import custom_layers
from benchmarks.fit_cost import jaxpr_equations
from custom_layers.layers import _conv_correlation, _conv_geometry
from custom_layers.layers.conv2d_reference import conv2d_reference
from recipes import backends
from tests.helpers import (
    BACKEND,
    TRAJECTORY_TOL,
    fit_in_passes,
    gradients,
    layer_gradients,
    max_weight_diff,
)

# ---------------------------------------------------------------- reference


def _ref_gradients(x, kernel, upstream, strides, padding):
    """∂/∂Input and ∂/∂Kernel of Σ Output·upstream, from the same formula:
    each kernel offset (m, n) pairs Input[i·s + m, j·s + n] with Output[i, j]."""
    kh, kw = kernel.shape[:2]
    sh, sw = strides
    height, width = x.shape[1:3]
    top = left = 0
    if padding == "same":
        top, bottom = _conv_geometry.same_padding(x.shape[1], kh, sh)
        left, right = _conv_geometry.same_padding(x.shape[2], kw, sw)
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    out_h, out_w = upstream.shape[1:3]
    d_x, d_kernel = np.zeros_like(x), np.zeros(kernel.shape)
    for m, n in itertools.product(range(kh), range(kw)):
        rows = slice(m, m + sh * (out_h - 1) + 1, sh)
        cols = slice(n, n + sw * (out_w - 1) + 1, sw)
        d_kernel[m, n] = np.einsum("bijc,bijk->ck", x[:, rows, cols, :], upstream)
        d_x[:, rows, cols, :] += np.einsum("bijk,ck->bijc", upstream, kernel[m, n])
    return d_x[:, top : top + height, left : left + width], d_kernel


def _twins(x_shape, filters, kernel_size, strides, padding):
    """Our Conv2D and Keras', with the same Glorot-uniform kernel and N(0, 0.05²)
    bias (Keras' "random_normal"), drawn by NumPy: on JAX, Keras' random
    initializers compile once per weight shape, about a second each here."""
    twins = [
        conv(filters, kernel_size, strides=strides, padding=padding, kernel_initializer="zeros")
        for conv in (custom_layers.Conv2D, keras.layers.Conv2D)
    ]
    for layer in twins:
        layer.build(x_shape)
    kh, kw, channels, _ = twins[0].kernel.shape
    limit = np.sqrt(6 / (kh * kw * (channels + filters)))  # fan in + fan out
    rng = np.random.default_rng(0)
    kernel = rng.uniform(-limit, limit, (kh, kw, channels, filters)).astype("float32")
    bias = rng.normal(0.0, 0.05, filters).astype("float32")
    for layer in twins:
        layer.set_weights([kernel, bias])
    return twins


def _value_and_grads(layer, x, upstream):
    """[output, ∂input, ∂kernel, ∂bias] of Σ output·upstream, as NumPy arrays.

    Compiled (on JAX, one jit per case: the grid runs 4x faster than op by
    op); the eager custom gradient is checked by the path tests below."""
    y, grads = layer_gradients(layer, x, upstream, compiled=True)
    return [y, *grads]


# ------------------------------------------------------------------- values


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize(
    ("shape", "kernel_shape", "strides", "padding", "dilation", "groups"),
    [
        ((2, 7, 8, 3), (3, 3, 3, 4), 1, "valid", 1, 1),
        ((1, 7, 6, 2), (2, 3, 2, 3), (2, 1), "same", 1, 1),  # 1 zero on the rows: after
        ((2, 8, 7, 4), (3, 2, 4, 2), 1, "same", (2, 3), 1),  # 3 zeros on the columns
        ((1, 6, 7, 6), (3, 3, 2, 6), 2, "same", 1, 3),
        ((2, 9, 8, 4), (2, 3, 1, 4), 1, "valid", 2, 4),
        ((1, 5, 5, 2), (1, 1, 2, 2), 3, "same", 1, 1),  # stride above the kernel
    ],
)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_the_reference_loop_equals_keras_ops_conv(
    shape, kernel_shape, strides, padding, dilation, groups, data_format
):
    # The reference the other tests hold the layer to is itself held to the
    # backend's convolution (plus the bias), in float64.
    rng = np.random.default_rng(sum(shape))
    x, kernel = rng.standard_normal(shape), rng.standard_normal(kernel_shape)
    bias = rng.standard_normal(kernel_shape[-1])
    want = ops.convert_to_numpy(
        ops.conv(x, kernel, strides, padding, "channels_last", dilation) + bias
    )
    first = data_format == "channels_first"
    got = conv2d_reference(
        np.transpose(x, (0, 3, 1, 2)) if first else x,
        kernel,
        bias,
        strides,
        padding,
        dilation,
        groups,
        data_format,
    )
    np.testing.assert_allclose(
        np.transpose(got, (0, 2, 3, 1)) if first else got, want, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize(
    ("shape", "kernel_size", "strides", "padding"),
    [
        ((2, 5, 6, 2), (3, 3), (1, 1), "valid"),
        ((1, 6, 5, 3), (2, 3), (2, 1), "same"),
        ((2, 7, 7, 1), (3, 3), (2, 2), "same"),
        ((1, 8, 7, 2), (4, 2), (3, 2), "valid"),
    ],
)
def test_matches_the_notes_formula_as_a_numpy_loop(shape, kernel_size, strides, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype("float32")
    layer = custom_layers.Conv2D(
        3, kernel_size, strides=strides, padding=padding, bias_initializer="random_normal"
    )
    out = np.asarray(layer(x))
    kernel, bias = layer.get_weights()
    ref = conv2d_reference(x, kernel, bias, strides, padding)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


GRID = [
    (size, kernel, stride, padding, channels, batch)
    for size in (7, 8)
    for kernel in (1, 2, 3, 5, (2, 3))
    for stride in (1, 2, 3, (2, 1))
    for padding in ("valid", "same")
    for channels, batch in ((1, 1), (3, 2), (8, 3))
]


# TF 2.21's oneDNN Conv2DBackpropFilter (the built-in's kernel gradient) fails
# for a 1x1 kernel with unequal strides: wrong values, "could not create a
# primitive descriptor", or a segmentation fault. There the built-in's
# gradients are not computed and the formula's reference stands alone.
# JAX's built-in (lax.conv_general_dilated) has no such hole.
def _builtin_gradient_broken(kernel, stride):
    unequal = isinstance(stride, tuple) and stride[0] != stride[1]
    return BACKEND == "tensorflow" and kernel == 1 and unequal


@pytest.mark.parametrize(("size", "kernel", "stride", "padding", "channels", "batch"), GRID)
def test_values_and_gradients_match_keras_conv2d(size, kernel, stride, padding, channels, batch):
    rng = np.random.default_rng(size * 100 + channels)
    shape = (batch, size, size + 1, channels)  # odd and even sides at once
    x = rng.standard_normal(shape).astype("float32")
    custom, builtin = _twins(shape, 4, kernel, stride, padding)
    out_shape = builtin.compute_output_shape(shape)
    assert custom.compute_output_shape(shape) == out_shape
    upstream = rng.standard_normal(out_shape).astype("float32")
    ours = _value_and_grads(custom, x, upstream)
    names = ("output", "d_input", "d_kernel", "d_bias")
    # Sums of up to 25·8·(out positions) float32 products.
    tolerance = {"rtol": 1e-5, "atol": 1e-5}

    kernel_values = custom.get_weights()[0].astype("float64")
    d_x, d_kernel = _ref_gradients(
        x.astype("float64"), kernel_values, upstream, custom.strides, padding
    )
    references = (d_x, d_kernel, upstream.sum((0, 1, 2)))
    for name, a, b in zip(names[1:], ours[1:], references, strict=True):
        np.testing.assert_allclose(a, b, **tolerance, err_msg=f"{name} vs the formula")
    if _builtin_gradient_broken(kernel, stride):
        np.testing.assert_allclose(ours[0], builtin(x), **tolerance, err_msg="output")
        return
    theirs = _value_and_grads(builtin, x, upstream)
    for name, a, b in zip(names, ours, theirs, strict=True):
        assert a.shape == b.shape, name
        np.testing.assert_allclose(a, b, **tolerance, err_msg=name)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize(
    "method",
    [_conv_correlation._input_gradient_by_phases, _conv_correlation._input_gradient_by_windows],
)
@pytest.mark.parametrize(
    ("shape", "kernel_size", "strides", "padding"),
    [
        ((2, 7, 8, 3), (3, 3), (1, 1), "same"),
        ((2, 8, 7, 2), (2, 3), (2, 1), "same"),
        ((1, 9, 9, 1), (5, 5), (3, 3), "valid"),
        ((2, 6, 6, 4), (1, 1), (2, 2), "same"),
        ((1, 8, 8, 2), (4, 4), (3, 2), "valid"),
    ],
)
def test_both_input_gradient_methods_match_the_formula(
    method, shape, kernel_size, strides, padding
):
    # The layer picks one of the two by the data each moves; both must be right.
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    kernel = rng.standard_normal((*kernel_size, shape[-1], 5))
    geometry = _conv_geometry.Geometry(shape[1:3], kernel_size, strides, padding)
    upstream = rng.standard_normal((shape[0], *geometry.out_hw, 5))
    d_x, _ = _ref_gradients(x, kernel, upstream, strides, padding)
    got = method(ops.convert_to_tensor(upstream), ops.convert_to_tensor(kernel), geometry)
    np.testing.assert_allclose(got, d_x, rtol=1e-10, atol=1e-10)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("columns", [True, False], ids=["windows-as-columns", "windows-as-rows"])
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize(
    ("shape", "kernel_size", "strides", "padding"),
    [
        ((2, 7, 8, 3), (3, 3), (1, 1), "same"),
        ((3, 9, 6, 1), (2, 3), (2, 1), "same"),
        ((1, 9, 9, 2), (5, 5), (3, 3), "valid"),
        ((2, 8, 8, 6), (4, 4), (3, 2), "valid"),
    ],
)
def test_both_window_layouts_match_the_formula(
    monkeypatch, columns, with_bias, shape, kernel_size, strides, padding
):
    # Few channels get their windows as columns, more as rows; force each on
    # every shape: values and all gradients must be the formula's.
    monkeypatch.setattr(_conv_geometry, "MAX_CHANNELS_FOR_COLUMNS", 99 if columns else 0)
    monkeypatch.setattr(
        _conv_geometry.Geometry, "by_tiles", lambda self, channels, inference=False: False
    )
    rng = np.random.default_rng(9)
    x = rng.standard_normal(shape)
    kernel = rng.standard_normal((*kernel_size, shape[-1], 4))
    bias = rng.standard_normal(4) if with_bias else np.zeros(4)
    geometry = _conv_geometry.Geometry(shape[1:3], kernel_size, strides, padding)
    assert geometry.windows_as_columns(shape[-1]) is columns
    upstream = rng.standard_normal((shape[0], *geometry.out_hw, 4))
    variables = [x, kernel, bias] if with_bias else [x, kernel]

    def y(x, kernel, bias=None):
        return _conv_correlation.correlate(x, kernel, bias, geometry)

    value, grads = gradients(y, *variables, upstream=upstream)
    np.testing.assert_allclose(
        value, conv2d_reference(x, kernel, bias, strides, padding), rtol=1e-10, atol=1e-10
    )
    references = _ref_gradients(x, kernel, upstream, strides, padding)
    if with_bias:
        references += (upstream.sum((0, 1, 2)),)
    for got, want in zip(grads, references, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("channels", [1, 3, 8])  # windows as columns (1, 3) and as rows (8)
def test_one_layer_serves_every_batch_size_including_empty(channels):
    # The column gather's indices depend on the batch size, known only at run time.
    layer = custom_layers.Conv2D(4, 3, padding="same", bias_initializer="random_normal")
    layer.build((None, 9, 8, channels))
    kernel, bias = (w.astype("float64") for w in layer.get_weights())
    rng = np.random.default_rng(channels)
    for batch in (1, 5, 2, 0, 3):
        x = rng.standard_normal((batch, 9, 8, channels)).astype("float32")
        want = conv2d_reference(x, kernel, bias, (1, 1), "same")
        np.testing.assert_allclose(layer(x), want, rtol=1e-5, atol=1e-5)
    empty = np.zeros((0, 9, 8, channels), "float32")
    _, (d_x, d_kernel, d_bias) = layer_gradients(layer, empty, np.ones((0, 9, 8, 4), "float32"))
    assert d_x.shape == (0, 9, 8, channels)
    assert d_kernel.shape == (3, 3, channels, 4) and d_bias.shape == (4,)
    assert not np.any(d_kernel) and not np.any(d_bias)


@pytest.mark.usefixtures("float64")
def test_input_and_kernel_gradients_vs_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 6, 5, 2))
    kernel = rng.standard_normal((3, 2, 2, 3))
    bias = rng.standard_normal(3)
    geometry = _conv_geometry.Geometry((6, 5), (3, 2), (2, 2), "same")
    upstream = rng.standard_normal((1, 3, 3, 3))

    def loss(x_, kernel_):
        return float(np.sum(conv2d_reference(x_, kernel_, bias, (2, 2), "same") * upstream))

    _, (d_x, d_kernel) = gradients(
        lambda x_, kernel_: _conv_correlation.correlate(x_, kernel_, bias, geometry) * upstream,
        x,
        kernel,
    )
    h = 1e-6
    for array, analytic, is_x in ((x, d_x, True), (kernel, d_kernel, False)):
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            step = np.zeros_like(array)
            step[index] = h
            plus = loss(x + step, kernel) if is_x else loss(x, kernel + step)
            minus = loss(x - step, kernel) if is_x else loss(x, kernel - step)
            numeric[index] = (plus - minus) / (2 * h)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    ("n", "k", "s", "expected"),
    [(5, 2, 1, (0, 1)), (6, 3, 2, (0, 1)), (7, 3, 2, (1, 1)), (8, 4, 3, (1, 1)), (4, 1, 2, (0, 0))],
)
def test_same_padding_puts_the_odd_zero_after(n, k, s, expected):
    assert _conv_geometry.same_padding(n, k, s) == expected


# ------------------------------------------------------------ the notes' use


def test_the_notes_example_works_as_written():
    with warnings.catch_warnings():
        # Keras warns about `input_shape=` on a layer, for its own Conv2D too.
        warnings.filterwarnings("ignore", "Do not pass an `input_shape`", UserWarning)
        conv_layer = custom_layers.Conv2D(
            filters=32,
            kernel_size=(3, 3),
            strides=(1, 1),
            padding="same",
            activation="relu",
            input_shape=(64, 64, 3),
        )
    model = keras.Sequential([conv_layer])
    assert model.output_shape == (None, 64, 64, 32)
    out = model(np.random.default_rng(0).uniform(size=(2, 64, 64, 3)).astype("float32"))
    assert out.shape == (2, 64, 64, 32) and float(ops.min(out)) >= 0.0
    with_input = keras.Sequential(
        [keras.Input((64, 64, 3)), custom_layers.Conv2D(32, (3, 3), padding="same")]
    )
    assert with_input.output_shape == (None, 64, 64, 32)


def test_sobel_edges_of_a_real_photo_match_keras():
    photo = load_sample_image("china.jpg").astype("float32") / 255.0  # (427, 640, 3)
    gray = photo.mean(axis=-1)[None, :, :, None]
    sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], "float32")
    kernel = np.stack([sobel_x, sobel_x.T], axis=-1)[:, :, None, :]  # (3, 3, 1, 2)
    custom, builtin = _twins(gray.shape, 2, 3, 1, "same")
    for layer in (custom, builtin):
        layer.set_weights([kernel, np.zeros(2, "float32")])
    edges = np.asarray(custom(gray))
    np.testing.assert_allclose(edges, builtin(gray), atol=1e-5)
    magnitude = np.hypot(edges[0, ..., 0], edges[0, ..., 1])
    # A photo has edges: some strong responses, most pixels flat.
    assert magnitude.max() > 1.0 and np.median(magnitude) < 0.5


def _cnn(conv):
    return keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            conv(6, 3, padding="same", activation="relu"),
            conv(8, 3, strides=2, padding="valid"),
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ]
    )


def test_small_cnn_trains_with_the_builtin_for_50_steps():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 12, 12, 1)).astype("float32")
    y = rng.integers(0, 3, 64)
    custom, builtin = _cnn(custom_layers.Conv2D), _cnn(keras.layers.Conv2D)
    builtin.set_weights(custom.get_weights())
    for model in (custom, builtin):
        backends.compile_for_fit(
            model,
            optimizer=keras.optimizers.Adam(0.01),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    # 12 epochs of 4 batches (about 50 steps): the mean loss of each epoch
    history_c = fit_in_passes(custom, x, y, passes=12, batch_size=16)
    history_b = fit_in_passes(builtin, x, y, passes=12, batch_size=16)
    assert int(custom.optimizer.iterations) == 48
    assert max_weight_diff(custom, builtin) <= TRAJECTORY_TOL
    assert history_c[-1] < 0.5 * history_c[0]
    np.testing.assert_allclose(history_c, history_b, rtol=1e-4, atol=1e-5)


def test_layers_of_one_configuration_share_one_geometry():
    x = np.ones((2, 9, 9, 3), "float32")
    _conv_geometry.geometry_of.cache_clear()
    first, same = custom_layers.Conv2D(4, 3, strides=2), custom_layers.Conv2D(7, 3, strides=2)
    first(x)
    same(x)  # other filters, same input size, kernel, stride and channels
    info = _conv_geometry.geometry_of.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    custom_layers.Conv2D(4, 3, strides=2)(x[..., :2])  # 2 channels: traces of its own
    custom_layers.Conv2D(6, 3, strides=2, groups=3)(x)  # and so do 3 groups
    custom_layers.Conv2D(4, 3, strides=1)(x)
    assert _conv_geometry.geometry_of.cache_info().misses == 4
    # sharing changes no value
    np.testing.assert_allclose(
        ops.convert_to_numpy(same(x)),
        ops.convert_to_numpy(ops.conv(x, same.kernel, strides=2) + same.bias),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.tensorflow_only
@pytest.mark.parametrize(
    ("channels", "groups", "filters", "compiled"),
    [
        (1, 1, 4, {"shifted_planes", "col2im"}),  # windows as columns, col2im gradient
        (8, 1, 16, {"col2im"}),  # windows as rows
        (4, 2, 8, {"shifted_planes", "grouped_col2im"}),
    ],
)
def test_graphs_compile_the_data_movement_and_eager_calls_run_it_op_by_op(
    channels, groups, filters, compiled
):
    # An eager call compiles nothing (no XLA compilation per new input
    # shape); a traced step (fit, predict, a tf.function) compiles the
    # helpers once; both give the same values and gradients.
    import tensorflow as tf

    rng = np.random.default_rng(channels)
    x = rng.standard_normal((2, 7, 6, channels)).astype("float32")
    layer = custom_layers.Conv2D(
        filters, 3, strides=(2, 1), padding="same", groups=groups, bias_initializer="ones"
    )
    layer.build(x.shape)
    upstream = rng.standard_normal(layer.compute_output_shape(x.shape)).astype("float32")
    _conv_geometry.geometry_of.cache_clear()
    eager = layer_gradients(layer, x, upstream)
    geometry = layer._geometry_for(*x.shape[1:])  # the layer's, from the cache
    assert _conv_geometry.geometry_of.cache_info().misses == 1  # the one the eager call made
    helpers = {
        name: getattr(geometry, name) for name in ("shifted_planes", "col2im", "grouped_col2im")
    }

    def traced():
        return {n for n, h in helpers.items() if h.compiled.experimental_get_tracing_count()}

    assert traced() == set()

    @tf.function
    def step(x, upstream):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            total = tf.reduce_sum(y * upstream)
        return y, tape.gradient(total, [x, *layer.trainable_variables])

    y, grads = step(tf.constant(x), tf.constant(upstream))
    assert traced() == compiled
    for name, a, b in zip(
        ("output", "d_input", "d_kernel", "d_bias"), (y, *grads), (eager[0], *eager[1]), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, err_msg=name)


def saved_cnn(tmp_path):
    """A CNN of the custom Conv2D saved and reloaded here; returns the script
    with which a fresh process (tests/test_fresh_process.py) reloads it."""
    model = _cnn(custom_layers.Conv2D)
    x = np.random.default_rng(1).standard_normal((4, 12, 12, 1)).astype("float32")
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "cnn.keras")
    loaded = keras.models.load_model(tmp_path / "cnn.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    assert loaded.layers[1].get_config() == model.layers[1].get_config()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", expected)
    script = f"""
        import numpy as np, keras
        import custom_layers
        model = keras.models.load_model({str(tmp_path / "cnn.keras")!r})
        got = model.predict(np.load({str(tmp_path / "x.npy")!r}), verbose=0)
        np.testing.assert_array_equal(got, np.load({str(tmp_path / "expected.npy")!r}))
        assert type(model.layers[0]).__module__ == "custom_layers.layers.conv2d"
        """
    return script


@pytest.mark.tensorflow_only
def test_saved_model_export_serves_the_same_outputs(tmp_path):
    # The layer's compiled (XLA) helpers must survive tf.saved_model export.
    import tensorflow as tf

    model = _cnn(custom_layers.Conv2D)
    x = np.random.default_rng(2).standard_normal((3, 12, 12, 1)).astype("float32")
    expected = model.predict(x, verbose=0)
    model.export(str(tmp_path / "served"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "served"))
    np.testing.assert_allclose(served.serve(x).numpy(), expected, rtol=1e-6, atol=1e-6)


def whole_xla_training(tmp_path):
    """The script checking that ``model.compile(jit_compile=True)``, which puts
    the layer's own XLA parts inside one XLA graph, keeps the trajectory.
    Run in a fresh process (tests/test_fresh_process.py): Keras refuses
    jit_compile once op determinism is on, and the recipes' --seed turns it
    on for the process that ran them. (On JAX, compiled is the default and
    jit_compile=False runs the step op by op: the same check.)"""
    del tmp_path  # nothing saved
    script = """
        import keras, numpy as np
        import custom_layers

        def cnn():
            return keras.Sequential([
                keras.Input((12, 12, 1)),
                custom_layers.Conv2D(6, 3, padding="same", activation="relu"),
                custom_layers.Conv2D(8, 3, strides=2, padding="valid"),
                keras.layers.Flatten(),
                keras.layers.Dense(3),
            ])

        rng = np.random.default_rng(4)
        x = rng.standard_normal((32, 12, 12, 1)).astype("float32")
        y = rng.integers(0, 3, 32)
        initial, trained = None, []
        for jit in (False, True):
            model = cnn()
            initial = initial or model.get_weights()
            model.set_weights(initial)
            model.compile(
                optimizer=keras.optimizers.SGD(0.05),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                jit_compile=jit,
            )
            assert model.jit_compile is jit
            model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
            trained.append(model.get_weights())
        moved = max(np.abs(a - b).max() for a, b in zip(initial, trained[0]))
        same = max(np.abs(a - b).max() for a, b in zip(*trained))
        assert moved > 1e-2 and same < 1e-5, (moved, same)
        """
    return script


def test_config_round_trip_keeps_every_argument():
    layer = custom_layers.Conv2D(
        5,
        (2, 3),
        strides=2,
        padding="SAME",
        activation="tanh",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer="l2",
        name="c",
    )
    config = layer.get_config()
    assert config["kernel_size"] == (2, 3) and config["strides"] == (2, 2)
    assert config["padding"] == "same"
    again = custom_layers.Conv2D.from_config(config)
    assert again.get_config() == config


# --------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filters": 0, "kernel_size": 3}, r"Received: filters=0"),
        ({"filters": -2, "kernel_size": 3}, r"Received: filters=-2"),
        ({"filters": 2.0, "kernel_size": 3}, r"Received: filters=2.0"),
        ({"filters": 2, "kernel_size": 0}, r"Received kernel_size=0"),
        ({"filters": 2, "kernel_size": (0, 3)}, r"Received kernel_size=\(0, 3\)"),
        ({"filters": 2, "kernel_size": (3,)}, r"Received kernel_size=\(3,\)"),
        ({"filters": 2, "kernel_size": "3"}, r"Received kernel_size='3'"),
        ({"filters": 2, "kernel_size": 3, "strides": 0}, r"Received strides=0"),
        ({"filters": 2, "kernel_size": 3, "strides": (1, -1)}, r"Received strides=\(1, -1\)"),
        ({"filters": 2, "kernel_size": 3, "padding": "full"}, r"Received: padding='full'"),
        ({"filters": 2, "kernel_size": 3, "padding": None}, r"Received: padding=None"),
        ({"filters": 2, "kernel_size": 3, "activation": "nope"}, r"Received: activation='nope'"),
        ({"filters": 2, "kernel_size": 3, "use_bias": 1}, r"Received: use_bias=1"),
    ],
)
def test_bad_constructor_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        custom_layers.Conv2D(**kwargs)


def test_bad_inputs_raise_value_error():
    layer = custom_layers.Conv2D(2, 3)
    with pytest.raises(ValueError, match=r"expected ndim=4"):
        layer(np.ones((8, 8, 1), "float32"))
    layer(np.ones((1, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match=r"expected axis -1 .* value 3"):
        layer(np.ones((1, 8, 8, 4), "float32"))
    with pytest.raises(ValueError, match=r"smaller than the kernel"):
        custom_layers.Conv2D(2, 5)(np.ones((1, 4, 8, 1), "float32"))


@pytest.mark.tensorflow_only
def test_unknown_height_and_width_in_a_tf_function_raise_value_error():
    # Only TensorFlow traces with unknown sizes; JAX traces with the batch's own.
    import tensorflow as tf

    dynamic = tf.function(
        custom_layers.Conv2D(2, 3),
        input_signature=[tf.TensorSpec((None, None, None, 1), tf.float32)],
    )
    with pytest.raises(ValueError, match=r"known input height and width"):
        dynamic.get_concrete_function()


# ---------------------------------------------------------- no built-in op


def _convolution_ops(layer, x):
    """The convolution ops in the traced forward and backward pass of
    ``layer`` on ``x``: TensorFlow's graph and every function it calls (the
    XLA-compiled helpers), or the jaxpr of JAX's value and gradient."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        @tf.function
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                total = tf.reduce_sum(layer(x))
            return tape.gradient(total, [x, *layer.trainable_weights])

        graph = step.get_concrete_function(tf.TensorSpec(x.shape, x.dtype)).graph.as_graph_def()
        nodes = [*graph.node, *(n for f in graph.library.function for n in f.node_def)]
        return sorted({node.op for node in nodes if re.search(r"Conv\dD|Conv2d", node.op)})
    import jax

    def loss(x, weights):
        values, _ = layer.stateless_call(weights, [], x)
        return jax.numpy.sum(values)

    jaxpr = jax.make_jaxpr(jax.value_and_grad(loss, argnums=(0, 1)))(
        x, [w.value for w in layer.trainable_weights]
    )
    names = {str(equation.primitive) for equation in jaxpr_equations(jaxpr.jaxpr)}
    return sorted(name for name in names if name.startswith("conv_general"))


@pytest.mark.parametrize(
    "shape, arguments",
    [
        ((2, 9, 9, 3), dict(filters=4, kernel_size=3, padding="same")),  # column windows
        ((2, 8, 7, 64), dict(filters=4, kernel_size=3, padding="same")),  # tiles
        ((2, 9, 9, 6), dict(filters=4, kernel_size=3, strides=2)),  # row windows, phases
        ((2, 9, 9, 6), dict(filters=4, kernel_size=3, dilation_rate=2, groups=2)),
        ((2, 6, 9, 9), dict(filters=4, kernel_size=(2, 3), data_format="channels_first")),
    ],
)
def test_no_built_in_convolution_in_the_traced_passes(shape, arguments):
    """The sum is the notes' formula, never the backend's convolution: the
    traced forward and backward passes hold no convolution op, where the
    same check finds one in keras.layers.Conv2D's."""
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    ours, keras_twin = custom_layers.Conv2D(**arguments), keras.layers.Conv2D(**arguments)
    for layer in (ours, keras_twin):
        layer.build(shape)
    assert _convolution_ops(keras_twin, ops.convert_to_tensor(x)), "the check sees no op at all"
    assert _convolution_ops(ours, ops.convert_to_tensor(x)) == []
