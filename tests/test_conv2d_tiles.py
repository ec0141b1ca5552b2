"""Conv2D by Winograd's F(2×2, 3×3) tiles (``_conv_winograd``): the notes' sum
for 3×3 kernels at stride 1, checked against the package's float64 loop of
the formula (``conv2d_reference``) and the loop's gradients, on the shapes
where tiles are ragged (odd sizes, cropped blocks), in chunks of the batch
(the last one padded), under a traced step with an unknown batch size, and
against keras.layers.Conv2D in training."""

import keras
import numpy as np
import pytest

import custom_layers
from custom_layers.layers import _conv_correlation, _conv_geometry, _conv_winograd
from custom_layers.layers.conv2d_reference import conv2d_reference
from tests.helpers import gradients, max_weight_diff
from tests.test_conv2d_general import _ref_gradients


@pytest.fixture
def tiles_everywhere(monkeypatch):
    """Every 3×3 stride-1 layer goes by tiles, whatever its channels."""
    monkeypatch.setattr(
        _conv_geometry, "MIN_CHANNELS_FOR_TILES", {"jax": (1, 1), "tensorflow": (1, 1)}
    )


@pytest.fixture
def one_image_chunks(monkeypatch):
    """Chunks of one image for the sizes below (their tiles fill more than
    one image's worth of ``CHUNK_BYTES``, none fills two)."""
    monkeypatch.setattr(_conv_winograd, "CHUNK_BYTES", 16 * 5 * 5 * 6 * 4)


def _check_against_the_formula(shape, filters, padding, with_bias, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    kernel = rng.standard_normal((3, 3, shape[-1], filters))
    bias = rng.standard_normal(filters) if with_bias else None
    geometry = _conv_geometry.Geometry(shape[1:3], (3, 3), (1, 1), padding)
    assert geometry.by_tiles(shape[-1])
    upstream = rng.standard_normal((shape[0], *geometry.out_hw, filters))
    variables = [x, kernel] if bias is None else [x, kernel, bias]

    def y(x, kernel, bias=None):
        return _conv_correlation.correlate(x, kernel, bias, geometry)

    value, grads = gradients(y, *variables, upstream=upstream)
    want = conv2d_reference(x, kernel, bias, (1, 1), padding)
    np.testing.assert_allclose(value, want, rtol=1e-10, atol=1e-10)
    references = _ref_gradients(x, kernel, upstream, (1, 1), padding, (1, 1), 1)
    if bias is not None:
        references += (upstream.sum((0, 1, 2)),)
    for name, got, want in zip(("input", "kernel", "bias"), grads, references, strict=False):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10, err_msg=name)


_SHAPES = [
    ((2, 8, 8, 3), 4, "same"),  # whole blocks
    ((2, 7, 9, 2), 3, "same"),  # odd sizes: the last blocks cropped
    ((3, 6, 5, 5), 2, "valid"),  # 4x3 outputs
    ((1, 3, 4, 1), 5, "valid"),  # one output row
]


@pytest.mark.usefixtures("float64", "tiles_everywhere")
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize(("shape", "filters", "padding"), _SHAPES)
def test_tiles_match_the_formula(shape, filters, padding, with_bias):
    _check_against_the_formula(shape, filters, padding, with_bias)


@pytest.mark.usefixtures("float64", "tiles_everywhere", "one_image_chunks")
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_tiles_in_chunks_match_the_formula(padding):
    # 3 images in chunks of 1; then 5 in chunks of 2, the last one padded.
    tiling = _conv_winograd.Tiling((9, 9), (9, 9), (1, 1))
    assert tiling._images(6) == 1
    _check_against_the_formula((3, 9, 9, 6), 4, padding, True, seed=1)
    _conv_winograd.CHUNK_BYTES *= 2
    assert tiling._images(6) == 2
    _check_against_the_formula((5, 9, 9, 6), 4, padding, True, seed=2)


@pytest.mark.parametrize(
    ("kernel_size", "arguments"),
    [
        ((3, 3), dict(strides=2)),
        ((3, 3), dict(dilation_rate=2)),
        ((5, 5), {}),
        ((3, 1), {}),
    ],
)
@pytest.mark.usefixtures("tiles_everywhere")
def test_tiles_only_for_3x3_at_stride_1(kernel_size, arguments):
    strides = (arguments.get("strides", 1),) * 2
    dilation = (arguments.get("dilation_rate", 1),) * 2
    geometry = _conv_geometry.Geometry((9, 9), kernel_size, strides, "same", dilation)
    assert not geometry.by_tiles(64)
    assert _conv_geometry.Geometry((9, 9), (3, 3), (1, 1), "same").by_tiles(64)


@pytest.mark.parametrize("inference", [True, False], ids=["inference", "training"])
def test_the_rule_picks_tiles_by_the_channels(inference):
    geometry = _conv_geometry.Geometry((9, 9), (3, 3), (1, 1), "same")
    rule = _conv_geometry.MIN_CHANNELS_FOR_TILES[keras.backend.backend()]
    least = rule[0 if inference else 1]
    assert geometry.by_tiles(least, inference) and not geometry.by_tiles(least - 1, inference)


@pytest.mark.usefixtures("tiles_everywhere", "one_image_chunks")
def test_tiles_train_with_the_built_in_and_predict_ragged_batches():
    # fit's and predict's traced steps see the batch size only at run time;
    # 5 samples in batches of 2 end with a batch of 1.
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 9, 9, 6)).astype("float32")
    y = rng.standard_normal((5, 9, 9, 4)).astype("float32")
    models = {}
    for name, layers in (("custom", custom_layers), ("builtin", keras.layers)):
        models[name] = keras.Sequential(
            [keras.Input((9, 9, 6)), layers.Conv2D(4, 3, padding="same", activation="relu")]
        )
    models["builtin"].set_weights(models["custom"].get_weights())
    kernel, bias = (w.astype("float64") for w in models["custom"].get_weights())
    want = np.maximum(conv2d_reference(x, kernel, bias, (1, 1), "same"), 0)
    got = models["custom"].predict(x, batch_size=2, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    for model in models.values():
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
    moved = max(
        np.max(np.abs(a - b))
        for a, b in zip(models["custom"].get_weights(), (kernel, bias), strict=True)
    )
    assert moved > 1e-3, "training did not change the weights"
    assert max_weight_diff(models["custom"], models["builtin"]) < 1e-5


def test_predict_goes_by_the_inference_rule_and_fit_by_the_training_rule(monkeypatch):
    # Tiles for inference from 1 channel, never for training; the tiles are
    # marked (+1000 on every output), so that each result shows its path:
    # ``predict`` (training=False) takes them, ``fit`` and a plain call do not.
    never = 10**6
    rule = {"jax": (1, never), "tensorflow": (1, never)}
    monkeypatch.setattr(_conv_geometry, "MIN_CHANNELS_FOR_TILES", rule)
    by_tiles = _conv_winograd.correlate
    monkeypatch.setattr(_conv_winograd, "correlate", lambda *args: by_tiles(*args) + 1000.0)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 6, 7, 3)).astype("float32")
    y = rng.standard_normal((4, 6, 7, 2)).astype("float32")
    models = {
        name: keras.Sequential([keras.Input((6, 7, 3)), layers.Conv2D(2, 3, padding="same")])
        for name, layers in (("custom", custom_layers), ("builtin", keras.layers))
    }
    models["builtin"].set_weights(models["custom"].get_weights())
    for model in models.values():
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        model.fit(x, y, epochs=2, verbose=0)
    assert max_weight_diff(models["custom"], models["builtin"]) < 1e-5
    kernel, bias = (w.astype("float64") for w in models["custom"].get_weights())
    want = conv2d_reference(x, kernel, bias, (1, 1), "same")
    np.testing.assert_allclose(models["custom"](x), want, rtol=1e-5, atol=1e-5)
    got = models["custom"].predict(x, verbose=0)
    np.testing.assert_allclose(got, want + 1000.0, rtol=1e-5, atol=1e-4)
