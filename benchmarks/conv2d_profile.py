"""Where the custom Conv2D's forward pass spends its time, on the layers of
``benchmarks.conv2d``'s grid, each stage compiled and timed alone on the
same batch:

- built-in: keras.layers.Conv2D's forward pass;
- custom: custom_layers.Conv2D's, as ``predict`` calls it (``training=False``:
  by Winograd's tiles where ``Geometry.by_tiles`` picks them, else by windows);
- windows: the windows path's first stage, laying out every window of the
  input (``_conv_correlation``'s gather, as rows or as columns, with the
  bias slots);
- product: its second stage, the matrix product of those windows with the
  kernel matrix, on windows gathered beforehand;
- tiles: the tiles path's whole forward pass (``_conv_winograd``, in its
  cache-sized chunks), on the 3×3 stride-1 layers it applies to, whether or
  not ``Geometry.by_tiles`` picks it there;
- tile products: its 16 matrix products alone, as one batched product of
  the whole batch's tiles (transformed beforehand) with the transformed
  kernel, compiled as the tiles path compiles them (XLA, on both backends):
  the multiplications at the speed of the backend's batched product. (The
  pass itself runs them chunk by chunk inside a loop, on tiles that are
  still in the cache; the rest of it, the transforms and the loop, costs
  roughly the difference between the two columns.)
- product / built-in and tile products / built-in: how each path's
  multiplications alone compare with the built-in's whole convolution.
  Where a ratio is near or above 1, no layout of that path's operands can
  bring it to the built-in's speed: its products already cost what the
  convolution oneDNN (TensorFlow) or XLA (JAX) runs costs, which never
  writes its operands and keeps its partial sums in registers.

    python -m benchmarks.conv2d_profile [--repeats 10] [--batch 32] [--only NAME]

Times are milliseconds per batch, best of the interleaved repeats ("–" where a
path does not apply); as in the other benchmarks, compare the ratios, not the
times, across machines.
"""

import argparse

import keras
import numpy as np
from keras import ops

import custom_layers
from benchmarks.conv2d import GRID, _interleaved
from custom_layers import _backend
from custom_layers.layers import _conv_correlation, _conv_geometry, _conv_winograd
from recipes import report


def _compiled(function):
    """``function`` traced and compiled as ``predict`` would run it, and a
    call that waits for its result."""
    if keras.backend.backend() == "jax":
        import jax

        compiled = jax.jit(function)
        return lambda *args: jax.block_until_ready(compiled(*args))
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(function, autograph=False)  # runs to completion on the CPU
    raise NotImplementedError(f"No compiled call for the {keras.backend.backend()} backend.")


def stages(size, channels, filters, stride, batch=32, seed=0):
    """The timed calls for one grid layer: {stage: (function, args)}."""
    rng = np.random.default_rng(seed)
    x = ops.convert_to_tensor(rng.standard_normal((batch, size, size, channels)), "float32")
    layers = {
        "custom": custom_layers.Conv2D(filters, 3, strides=stride, padding="same"),
        "built-in": keras.layers.Conv2D(filters, 3, strides=stride, padding="same"),
    }
    for layer in layers.values():
        layer.build(x.shape)
    layers["built-in"].set_weights(layers["custom"].get_weights())
    geometry = _conv_geometry.Geometry((size, size), (3, 3), (stride, stride), "same")
    as_columns = geometry.windows_as_columns(channels)

    windows = _compiled(lambda x: _conv_correlation._windows(x, geometry, 9, channels, True))

    kernel, bias = (ops.convert_to_tensor(w) for w in layers["custom"].get_weights())
    extra = 1 if as_columns else channels  # the bias slots, as the layer lays them out
    bias_rows = ops.pad(ops.expand_dims(bias, 0), ((0, extra - 1), (0, 0)))
    matrix = ops.concatenate([ops.reshape(kernel, (-1, filters)), bias_rows], axis=0)
    laid_out = windows(x)

    def product(windows, matrix):
        return ops.matmul(ops.transpose(windows) if as_columns else windows, matrix)

    calls = {
        "built-in": (_compiled(layers["built-in"]), (x,)),
        "custom": (_compiled(lambda x: layers["custom"](x, training=False)), (x,)),
        "windows": (windows, (x,)),
        "product": (_compiled(product), (laid_out, matrix)),
    }
    if _conv_winograd.applies(geometry.kernel_hw, geometry.strides, geometry.dilation):
        calls.update(_tile_stages(x, kernel, geometry))
    return calls


def _tile_stages(x, kernel, geometry):
    """The tiles path's whole forward pass, and its products alone: one
    batched product over the whole batch's tiles, transformed beforehand."""
    channels, filters = kernel.shape[2:]
    tiling = _conv_winograd.tiling_of(
        geometry.in_hw, geometry.out_hw, geometry.before, channels, filters
    )
    tiles = tiling.input_tiles(x)  # eagerly, once
    products = _backend.xla_compiled(lambda tiles, v: ops.matmul(tiles, v))
    return {
        "tiles": (_compiled(tiling.forward), (x, kernel)),
        "tile products": (_compiled(products), (tiles, _conv_winograd._kernel_transform(kernel))),
    }


def profile(calls, repeats):
    """Best milliseconds per call over ``repeats`` rounds, the calls
    interleaved in alternating order after one warm-up round
    (``benchmarks.conv2d._interleaved``)."""
    tasks = {name: lambda f=function, a=args: f(*a) for name, (function, args) in calls.items()}
    return {name: t.min() * 1e3 for name, t in _interleaved(tasks, repeats).items()}


COLUMNS = ("built-in", "custom", "windows", "product", "tiles", "tile products")


def _cells(best):
    """A table row's cells after the layer's name: the times, then the two
    products against the built-in ("–" where a path does not apply)."""
    cells = [f"{best[c]:.2f}" if c in best else "–" for c in COLUMNS]
    for stage in ("product", "tile products"):
        cells.append(f"{best[stage] / best['built-in']:.2f}" if stage in best else "–")
    return cells


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--only", default="", metavar="NAME", help="the grid rows holding NAME")
    report.add_table_flag(parser, "conv2d-profile")
    args = parser.parse_args(argv)
    for flag in ("repeats", "batch"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1")
    header = ["layer", *(f"{c} ms" for c in COLUMNS)]
    header += ["product / built-in", "tile products / built-in"]
    print(" | ".join(header))
    rows = []
    for name, size, channels, filters, stride in GRID:
        if args.only not in name:
            continue
        best = profile(stages(size, channels, filters, stride, args.batch), args.repeats)
        row = [name, *_cells(best)]
        print(" | ".join(row), flush=True)
        rows.append(row)
    caption = (
        f"The forward pass of 3x3 same layers, batch {args.batch}: milliseconds per batch, "
        f"best of {args.repeats} interleaved repeats; each stage compiled and timed alone"
    )
    path = report.write(
        args.table, report.command("benchmarks.conv2d_profile", argv), [(caption, header, rows)]
    )
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()
