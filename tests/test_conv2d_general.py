"""Conv2D beyond the notes: dilation, groups and channels-first inputs.

The generalised formula the layer implements:

    Output[b, i, j, k] = Σ_{m,n,c} Input[b, i·s_h + m·d_h, j·s_w + n·d_w, g(k)·C/G + c]
                                   ·Kernel[m, n, c, k] + bias[k]

with g(k) = ⌊k / (K/G)⌋ the group of filter k. Checked against the package's
NumPy loop of it (``conv2d_reference``, float64), against keras.layers.Conv2D
(values and every gradient), by finite differences, and on each internal
path (both input-gradient methods, both window layouts).
"""

import itertools

import keras
import numpy as np
import pytest

import custom_layers
from custom_layers.layers import _conv_correlation, _conv_geometry
from custom_layers.layers.conv2d_reference import conv2d_reference
from recipes import backends
from tests.helpers import (
    TRAJECTORY_TOL,
    fit_in_passes,
    gradients,
    layer_gradients,
    max_weight_diff,
)

# ---------------------------------------------------------------- reference


def _pairs(*values):
    return [(v, v) if isinstance(v, int) else tuple(v) for v in values]


def _padded(x, kernel_hw, strides, dilation, padding):
    """x with Keras' "same" zeros: per axis max((⌈n/s⌉ − 1)·s + (k − 1)·d + 1 − n, 0)
    of them, one more after than before when odd. Returns (padded x, top, left)."""
    if padding == "valid":
        return x, 0, 0
    pads = []
    for n, k, s, d in zip(x.shape[1:3], kernel_hw, strides, dilation, strict=True):
        total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, ((0, 0), *pads, (0, 0))), pads[0][0], pads[1][0]


def _ref_gradients(x, kernel, upstream, strides, padding, dilation, groups):
    """∂/∂Input and ∂/∂Kernel of Σ Output·upstream: kernel offset (m, n) of
    group g pairs Input[i·s + m·d, j·s + n·d, channels of g] with
    Output[i, j, filters of g]."""
    strides, dilation = _pairs(strides, dilation)
    kh, kw, per_group_c, filters = kernel.shape
    height, width = x.shape[1:3]
    x, top, left = _padded(x, (kh, kw), strides, dilation, padding)
    out_h, out_w = upstream.shape[1:3]
    per_group_k = filters // groups
    d_x, d_kernel = np.zeros_like(x), np.zeros(kernel.shape)
    for m, n, g in itertools.product(range(kh), range(kw), range(groups)):
        rows = slice(m * dilation[0], m * dilation[0] + strides[0] * (out_h - 1) + 1, strides[0])
        cols = slice(n * dilation[1], n * dilation[1] + strides[1] * (out_w - 1) + 1, strides[1])
        cs = slice(g * per_group_c, (g + 1) * per_group_c)
        ks = slice(g * per_group_k, (g + 1) * per_group_k)
        d_kernel[m, n, :, ks] = np.einsum("bijc,bijk->ck", x[:, rows, cols, cs], upstream[..., ks])
        d_x[:, rows, cols, cs] += np.einsum("bijk,ck->bijc", upstream[..., ks], kernel[m, n, :, ks])
    return d_x[:, top : top + height, left : left + width], d_kernel


def _to_first(a):
    return np.transpose(a, (0, 3, 1, 2))


def _to_last(a):
    return np.transpose(a, (0, 2, 3, 1))


def test_the_reference_loop_reduces_to_the_plain_formula():
    # One image, channel and filter, no stride, dilation or padding: the
    # package's loop must be the notes' Output[i, j] = Σ_{m,n} Input[i+m, j+n]·Kernel[m, n].
    rng = np.random.default_rng(0)
    image, kernel = rng.standard_normal((7, 6)), rng.standard_normal((3, 2))
    got = conv2d_reference(image[None, :, :, None], kernel[:, :, None, None])[0, :, :, 0]
    want = np.zeros((5, 5))
    for i, j in itertools.product(range(5), range(5)):
        for m, n in itertools.product(range(3), range(2)):
            want[i, j] += image[i + m, j + n] * kernel[m, n]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------- vs keras.layers.Conv2D

_GROUPINGS = ((1, 3, 4), (2, 4, 6), (4, 8, 4), (2, 12, 4))  # (groups, channels, filters)
_MOTIONS = ((1, 2), (1, (1, 3)), (1, (2, 1)), (2, 1), ((2, 1), 1), (1, 1))  # (strides, dilation)


def _grid():
    # Every (grouping, strides/dilation); the padding alternates so that each
    # grouping and each strides/dilation sees both; kernel and data format
    # are drawn per case (seeded). No plain channels-last case: test_conv2d.py's
    # grid has those.
    rng = np.random.default_rng(42)
    cases = []
    for (g, grouping), (s, motion) in itertools.product(enumerate(_GROUPINGS), enumerate(_MOTIONS)):
        (groups, channels, filters), (strides, dilation) = grouping, motion
        padding = ("valid", "same")[(g + s) % 2]
        kernel = [2, 3, (3, 2)][rng.integers(3)]
        data_format = ["channels_last", "channels_first"][rng.integers(2)]
        if groups == dilation == 1:
            data_format = "channels_first"
        cases.append((groups, channels, filters, kernel, strides, dilation, padding, data_format))
    return cases


def _value_and_grads(layer, x, upstream):
    """[output, ∂input, ∂kernel, ∂bias] of Σ output·upstream, as NumPy arrays.

    Compiled (on JAX, one jit per case: the grid runs 4x faster than op by
    op); the eager custom gradient is checked by the path tests below."""
    y, grads = layer_gradients(layer, x, upstream, compiled=True)
    return [y, *grads]


@pytest.mark.parametrize(
    ("groups", "channels", "filters", "kernel", "strides", "dilation", "padding", "data_format"),
    _grid(),
)
def test_values_and_gradients_match_keras_conv2d(
    groups, channels, filters, kernel, strides, dilation, padding, data_format
):
    rng = np.random.default_rng(channels * 10 + filters)
    shape = (2, 7, 8, channels)  # channels-last; odd and even sides
    x = rng.standard_normal(shape).astype("float32")
    kwargs = {"strides": strides, "padding": padding, "dilation_rate": dilation, "groups": groups}
    custom = custom_layers.Conv2D(
        filters, kernel, data_format=data_format, bias_initializer="random_normal", **kwargs
    )
    # TensorFlow's CPU convolution has no channels-first kernel: the built-in
    # runs channels-last on the same values.
    builtin = keras.layers.Conv2D(filters, kernel, **kwargs)
    first = data_format == "channels_first"
    custom.build(_to_first(x).shape if first else shape)
    builtin.build(shape)
    builtin.set_weights(custom.get_weights())
    out_shape = builtin.compute_output_shape(shape)
    assert custom.compute_output_shape(_to_first(x).shape if first else shape) == (
        (out_shape[0], out_shape[3], *out_shape[1:3]) if first else out_shape
    )
    upstream = rng.standard_normal(out_shape).astype("float32")
    if first:
        ours = _value_and_grads(custom, _to_first(x), _to_first(upstream))
        ours[:2] = [_to_last(a) for a in ours[:2]]
    else:
        ours = _value_and_grads(custom, x, upstream)
    theirs = _value_and_grads(builtin, x, upstream)
    tolerance = {"rtol": 1e-5, "atol": 1e-5}  # float32 sums of up to 54 products
    for name, a, b in zip(("output", "d_input", "d_kernel", "d_bias"), ours, theirs, strict=True):
        assert a.shape == b.shape, name
        np.testing.assert_allclose(a, b, **tolerance, err_msg=f"{name} vs keras")

    # ... and both equal the formula
    kernel_values, bias_values = (w.astype("float64") for w in custom.get_weights())
    args = (custom.strides, padding, custom.dilation_rate, groups)
    x64 = x.astype("float64")
    d_x, d_kernel = _ref_gradients(x64, kernel_values, upstream.astype("float64"), *args)
    references = (conv2d_reference(x64, kernel_values, bias_values, *args), d_x, d_kernel)
    for name, a, b in zip(("output", "d_input", "d_kernel"), ours, references, strict=False):
        np.testing.assert_allclose(a, b, **tolerance, err_msg=f"{name} vs the formula")


# ----------------------------------------------- every internal path, float64

_PATH_CASES = [
    # (shape, kernel, strides, dilation, groups, padding, bias)
    ((2, 7, 8, 3), (3, 3), (1, 1), (2, 2), 1, "same", True),
    ((1, 8, 7, 6), (2, 3), (1, 1), (1, 3), 3, "valid", False),
    ((2, 6, 7, 4), (3, 3), (2, 1), (1, 1), 2, "same", True),
    ((1, 5, 6, 10), (3, 2), (1, 1), (2, 1), 1, "valid", False),
    # strides and dilation together: Keras refuses them, the geometry does not
    ((1, 9, 9, 4), (3, 3), (2, 3), (3, 2), 2, "same", True),
    ((2, 7, 7, 8), (2, 2), (3, 3), (2, 2), 4, "valid", False),
]


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("by_windows", [True, False], ids=["grad-by-windows", "grad-by-phases"])
@pytest.mark.parametrize("columns", [True, False], ids=["windows-as-columns", "windows-as-rows"])
@pytest.mark.parametrize(
    ("shape", "kernel_size", "strides", "dilation", "groups", "padding", "with_bias"), _PATH_CASES
)
def test_every_path_matches_the_formula(
    monkeypatch,
    by_windows,
    columns,
    shape,
    kernel_size,
    strides,
    dilation,
    groups,
    padding,
    with_bias,
):
    # The layer picks the window layout by the channels per group and the
    # input-gradient method by the values each moves; force each here.
    monkeypatch.setattr(_conv_geometry, "MAX_CHANNELS_FOR_COLUMNS", 99 if columns else 0)
    monkeypatch.setattr(
        _conv_geometry.Geometry, "input_gradient_by_windows", lambda self, c, k: by_windows
    )
    monkeypatch.setattr(
        _conv_geometry.Geometry, "by_tiles", lambda self, channels, inference=False: False
    )
    rng = np.random.default_rng(11)
    filters = 2 * groups
    x = rng.standard_normal(shape)
    kernel = rng.standard_normal((*kernel_size, shape[-1] // groups, filters))
    bias = rng.standard_normal(filters) if with_bias else np.zeros(filters)
    geometry = _conv_geometry.Geometry(shape[1:3], kernel_size, strides, padding, dilation)
    assert geometry.windows_as_columns(shape[-1] // groups) is columns
    upstream = rng.standard_normal((shape[0], *geometry.out_hw, filters))
    variables = [x, kernel, bias] if with_bias else [x, kernel]

    def y(x, kernel, bias=None):
        return _conv_correlation.correlate(x, kernel, bias, geometry, groups)

    value, grads = gradients(y, *variables, upstream=upstream)
    args = (strides, padding, dilation, groups)
    np.testing.assert_allclose(
        value, conv2d_reference(x, kernel, bias, *args), rtol=1e-10, atol=1e-10
    )
    references = _ref_gradients(x, kernel, upstream, *args)
    if with_bias:
        references += (upstream.sum((0, 1, 2)),)
    for got, want in zip(grads, references, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.usefixtures("float64")
def test_gradients_vs_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 6, 6, 4))
    kernel = rng.standard_normal((2, 2, 2, 4))  # 2 groups of 2 channels, 2 filters each
    bias = rng.standard_normal(4)
    args = ((1, 1), "same", (2, 2), 2)
    geometry = _conv_geometry.Geometry((6, 6), (2, 2), (1, 1), "same", (2, 2))
    upstream = rng.standard_normal((1, 6, 6, 4))

    def loss(x_, kernel_, bias_):
        return float(np.sum(conv2d_reference(x_, kernel_, bias_, *args) * upstream))

    _, analytic = gradients(
        lambda *v: _conv_correlation.correlate(*v, geometry, 2) * upstream, x, kernel, bias
    )
    h = 1e-6
    values = [x, kernel, bias]
    for which, array in enumerate(values):
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            step = np.zeros_like(array)
            step[index] = h
            plus = [v + step if i == which else v for i, v in enumerate(values)]
            minus = [v - step if i == which else v for i, v in enumerate(values)]
            numeric[index] = (loss(*plus) - loss(*minus)) / (2 * h)
        np.testing.assert_allclose(analytic[which], numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    ("n", "k", "s", "d"), [(7, 3, 1, 2), (8, 2, 1, 3), (6, 3, 2, 1), (5, 3, 1, 4)]
)
def test_same_padding_counts_the_dilated_extent(n, k, s, d):
    # Keras/TF pad for a kernel spanning (k − 1)·d + 1 pixels.
    x = np.zeros((1, n, n, 1))
    _, top, _ = _padded(x, (k, k), (s, s), (d, d), "same")
    total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
    assert _conv_geometry.same_padding(n, k, s, d) == (top, total - top)
    assert _conv_geometry.output_length(n, k, s, "valid", d) == max(
        (n - (k - 1) * d - 1) // s + 1, 0
    )


@pytest.mark.parametrize("channels", [4, 12])  # per group 2 (columns) and 6 (rows)
def test_grouped_layer_serves_every_batch_size_including_empty(channels):
    layer = custom_layers.Conv2D(
        4, 3, padding="same", groups=2, dilation_rate=2, bias_initializer="random_normal"
    )
    layer.build((None, 7, 6, channels))
    kernel, bias = (w.astype("float64") for w in layer.get_weights())
    rng = np.random.default_rng(channels)
    for batch in (1, 3, 0, 2):
        x = rng.standard_normal((batch, 7, 6, channels)).astype("float32")
        want = conv2d_reference(x, kernel, bias, 1, "same", 2, 2)
        np.testing.assert_allclose(layer(x), want, rtol=1e-5, atol=1e-5)
    empty = np.zeros((0, 7, 6, channels), "float32")
    _, (d_x, d_kernel, d_bias) = layer_gradients(layer, empty, np.ones((0, 7, 6, 4), "float32"))
    assert d_x.shape == (0, 7, 6, channels)
    assert d_kernel.shape == (3, 3, channels // 2, 4) and d_bias.shape == (4,)
    assert not np.any(d_kernel) and not np.any(d_bias)


# ------------------------------------------------------------------ training


def _cnn(conv):
    return keras.Sequential(
        [
            keras.Input((10, 10, 4)),
            conv(8, 3, padding="same", dilation_rate=2, activation="relu"),
            conv(8, 3, strides=2, groups=4, activation="relu"),
            conv(4, (2, 1), groups=2),
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ]
    )


def test_dilated_and_grouped_cnn_trains_with_the_builtin():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 10, 10, 4)).astype("float32")
    y = rng.integers(0, 3, 48)
    custom, builtin = _cnn(custom_layers.Conv2D), _cnn(keras.layers.Conv2D)
    builtin.set_weights(custom.get_weights())
    for model in (custom, builtin):
        backends.compile_for_fit(
            model,
            optimizer=keras.optimizers.Adam(0.01),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    # 8 epochs of 3 batches (24 steps): the mean loss of each epoch
    history_c = fit_in_passes(custom, x, y, passes=8, batch_size=16)
    history_b = fit_in_passes(builtin, x, y, passes=8, batch_size=16)
    assert max_weight_diff(custom, builtin) <= TRAJECTORY_TOL
    assert history_c[-1] < 0.7 * history_c[0]
    np.testing.assert_allclose(history_c, history_b, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------- configuration


_KERAS_ARGUMENTS = {
    "filters": 6,
    "kernel_size": (2, 3),
    "strides": 1,
    "padding": "same",
    "data_format": "channels_first",
    "dilation_rate": (2, 1),
    "groups": 3,
    "use_bias": False,
    "kernel_initializer": "he_normal",
    "kernel_regularizer": "l2",
    "activity_regularizer": "l1",
    "bias_constraint": "non_neg",
}


def test_a_keras_conv2d_config_builds_ours_with_every_argument():
    for kwargs in ({"filters": 4, "kernel_size": 3}, _KERAS_ARGUMENTS):
        theirs = keras.layers.Conv2D(**kwargs).get_config()
        ours = custom_layers.Conv2D.from_config(theirs)
        assert type(ours) is custom_layers.Conv2D
        config = ours.get_config()
        assert set(config) == set(theirs)
        for key in set(theirs) - {"name", "activation"}:
            assert config[key] == theirs[key], key
        # ... and the other way: Keras builds its own from ours
        back = keras.layers.Conv2D.from_config(config).get_config()
        for key in ("kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups"):
            assert back[key] == theirs[key], key


def test_data_format_none_follows_the_keras_setting():
    before = keras.config.image_data_format()
    try:
        keras.config.set_image_data_format("channels_first")
        layer = custom_layers.Conv2D(4, 3, padding="same", groups=2)
        assert layer.data_format == "channels_first"
    finally:
        keras.config.set_image_data_format(before)
    # the setting is read once: a later change does not move the layer
    assert custom_layers.Conv2D(4, 3).data_format == before
    x = np.random.default_rng(0).standard_normal((2, 6, 7, 5)).astype("float32")  # C = 6
    assert layer(x).shape == (2, 4, 7, 5)
    assert layer.get_config()["data_format"] == "channels_first"


def test_keras_round_trip_keeps_dilation_groups_and_format(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((6, 9, 8)),  # channels first: 6 channels of 9x8
            custom_layers.Conv2D(
                6, 3, padding="same", data_format="channels_first", dilation_rate=(1, 2)
            ),
            custom_layers.Conv2D(4, 2, data_format="channels_first", groups=2, strides=2),
            keras.layers.Flatten(),
        ]
    )
    x = np.random.default_rng(1).standard_normal((3, 6, 9, 8)).astype("float32")
    expected = model.predict(x, verbose=0)
    assert expected.shape == (3, 4 * 4 * 4)
    model.save(tmp_path / "general.keras")
    loaded = keras.models.load_model(tmp_path / "general.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    for a, b in zip(loaded.layers[:2], model.layers[:2], strict=True):
        assert type(a) is custom_layers.Conv2D and a.get_config() == b.get_config()


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dilation_rate": 0}, r"`dilation_rate`.*Received dilation_rate=0"),
        ({"dilation_rate": (1, 0)}, r"Received dilation_rate=\(1, 0\), including values \{0\}"),
        ({"dilation_rate": (2,)}, r"`dilation_rate` argument must be a tuple of 2 integers"),
        ({"dilation_rate": "2"}, r"Received dilation_rate='2'"),
        ({"dilation_rate": 1.5}, r"Received dilation_rate=1.5"),
        ({"dilation_rate": True}, r"Received dilation_rate=True"),
        ({"groups": 0}, r"groups must be a positive integer. Received: groups=0"),
        ({"groups": -2}, r"Received: groups=-2"),
        ({"groups": 2.0}, r"Received: groups=2.0"),
        ({"groups": "2"}, r"Received: groups='2'"),
        ({"groups": 3}, r"filters must be evenly divisible .* Received: groups=3, filters=4"),
        ({"data_format": "NHWC"}, r"`data_format`.*Received: data_format='NHWC'"),
        ({"data_format": 1}, r"Received: data_format=1"),
        (
            {"strides": 2, "dilation_rate": (1, 2)},
            r"Received: strides=\(2, 2\) and dilation_rate=\(1, 2\)",
        ),
    ],
)
def test_bad_new_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        custom_layers.Conv2D(4, 3, **kwargs)


def test_lora_is_refused_unless_none():
    # Keras' LoRA options are not implemented: None (their default) passes.
    assert custom_layers.Conv2D(2, 3, lora_rank=None, lora_alpha=None).groups == 1
    with pytest.raises(ValueError, match=r"LoRA.*Received: lora_rank=2"):
        custom_layers.Conv2D(2, 3, lora_rank=2)
    config = keras.layers.Conv2D(2, 3, lora_rank=2).get_config()
    with pytest.raises(ValueError, match=r"LoRA.*Received: lora_rank=2"):
        custom_layers.Conv2D.from_config(config)
    assert config["lora_rank"] == 2  # the caller's config is left as it was


def test_channels_first_and_uppercase_formats_are_accepted():
    assert custom_layers.Conv2D(2, 3, data_format="Channels_First").data_format == "channels_first"
    assert custom_layers.Conv2D(2, 3, data_format="CHANNELS_LAST").data_format == "channels_last"


def test_bad_inputs_for_the_new_arguments_raise_value_error():
    with pytest.raises(ValueError, match=r"input channels must be evenly divisible .* 5 channels"):
        custom_layers.Conv2D(4, 3, groups=2).build((None, 8, 8, 5))
    with pytest.raises(ValueError, match=r"input channels must be evenly divisible .* 3 channels"):
        custom_layers.Conv2D(4, 3, groups=2, data_format="channels_first").build((None, 3, 8, 8))
    # valid padding: the dilated kernel spans (3 − 1)·4 + 1 = 9 > 8 rows
    with pytest.raises(ValueError, match=r"smaller than the kernel spans .* = 9"):
        custom_layers.Conv2D(2, 3, dilation_rate=(4, 1))(np.ones((1, 8, 9, 1), "float32"))
    layer = custom_layers.Conv2D(2, 3, data_format="channels_first")
    layer(np.ones((1, 3, 8, 8), "float32"))
    with pytest.raises(ValueError, match=r"expected axis 1 .* value 3"):
        layer(np.ones((1, 8, 8, 3), "float32"))
