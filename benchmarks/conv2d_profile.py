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
- product / built-in: how that product alone compares with the built-in's
  whole convolution. Where it is above 1, no layout of the windows can bring
  the windows path to the built-in's speed: the product already costs more
  than the convolution oneDNN (TensorFlow) or XLA (JAX) runs, which never
  writes the windows and keeps its partial sums in registers.

    python -m benchmarks.conv2d_profile [--repeats 10] [--batch 32] [--only NAME]

Times are milliseconds per batch, best of the interleaved repeats; as in the
other benchmarks, compare the ratios, not the times, across machines.
"""

import argparse

import keras
import numpy as np
from keras import ops

import custom_layers
from benchmarks.conv2d import GRID, _interleaved
from custom_layers.layers import _conv_correlation, _conv_geometry
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

    return {
        "built-in": (_compiled(layers["built-in"]), (x,)),
        "custom": (_compiled(lambda x: layers["custom"](x, training=False)), (x,)),
        "windows": (windows, (x,)),
        "product": (_compiled(product), (laid_out, matrix)),
    }


def profile(calls, repeats):
    """Best milliseconds per call over ``repeats`` rounds, the calls
    interleaved in alternating order after one warm-up round
    (``benchmarks.conv2d._interleaved``)."""
    tasks = {name: lambda f=function, a=args: f(*a) for name, (function, args) in calls.items()}
    return {name: t.min() * 1e3 for name, t in _interleaved(tasks, repeats).items()}


COLUMNS = ("built-in", "custom", "windows", "product")


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
    header = ["layer", *(f"{c} ms" for c in COLUMNS), "product / built-in"]
    print(" | ".join(header))
    rows = []
    for name, size, channels, filters, stride in GRID:
        if args.only not in name:
            continue
        best = profile(stages(size, channels, filters, stride, args.batch), args.repeats)
        row = [name, *(f"{best[c]:.2f}" for c in COLUMNS)]
        row.append(f"{best['product'] / best['built-in']:.2f}")
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
