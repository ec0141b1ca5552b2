"""Conv2D throughput: custom_layers.Conv2D (the notes' formula) vs keras.layers.Conv2D.

(a) the notes' example layer, Conv2D(32, (3, 3), padding="same", relu) on
    64x64x3 inputs, batch 32: forward alone, and a training step (forward,
    backward, SGD update) in one compiled function, as a first layer (no
    gradient for its input) and as an inner layer (with it);
(b) a small CNN on 28x28x1 inputs, batch 64: Conv(16, 3, same, relu) ->
    Conv(32, 3, stride 2, same, relu) -> flatten -> Dense(10), trained with
    ``model.fit``;
(c) outside the target, to show the limit: a wider inner layer, 64x64x16 ->
    16 filters 3x3 same + ReLU, batch 32, training step with dInput (its
    im2col is 84 MB: the gather's memory traffic dominates);
(d) dilated: the notes' layer with dilation_rate=2 (each 3x3 window spans
    5x5 pixels), training step with dInput;
(e) grouped: 32x32x32 -> 32 filters 3x3 same + ReLU in 4 groups (each
    filter sees 8 channels), batch 32, training step with dInput.

With ``--grid``, a second table: the layers of real CNNs, each 3x3 "same"
+ ReLU, batch 32, as inference (the compiled forward pass that ``predict``
runs per batch), as a training step for a first layer (no dInput) and as one
for an inner layer (with dInput):

- the notes' layer, 64x64x3 -> 32;
- MNIST: 28x28x1 -> 32, and 14x14x32 -> 64 after a 2x2 pooling;
- CIFAR-size: 32x32x{3, 32, 64} -> {32, 64};
- VGG-like inner layers: 64x64x{16, 32} -> {16, 32};
- stride 2: 32x32x32 -> 64 and 64x64x16 -> 32.

Each timed run of a grid row does about the arithmetic of ``--steps``
forward passes of the notes' layer (more steps for a small layer, at least
one); ``--grid CIFAR`` runs only the rows whose name holds "CIFAR".

Both sides share weights and are timed in the same process with interleaved
repeats in alternating order; the table shows the best of N per side and the
median of the N paired ratios. With ``KERAS_BACKEND=jax`` the same rows
compare the custom layer with JAX's built-in Conv2D, compiled by ``jax.jit``.

    python -m benchmarks.conv2d [--repeats 10] [--steps 10] [--cnn-samples 4096] [--grid [NAME]]

On 2 cores the default run takes a few minutes per backend and ``--grid``
adds a few more, JAX about twice TensorFlow's time; a smoke run,
``--repeats 1 --steps 1 --cnn-samples 256 --grid``, takes about one minute
on TensorFlow and two on JAX, most of it compiling.
"""

import argparse
import inspect
import time

import keras
import numpy as np

import custom_layers
from recipes import report

IMPLS = {"custom": custom_layers.Conv2D, "builtin": keras.layers.Conv2D}


def _interleaved(tasks, repeats):
    """Run each task once to warm up, then ``repeats`` rounds, ABBA order;
    return every round's time per task."""
    for task in tasks.values():
        task()
    times = {name: [] for name in tasks}
    order = list(tasks)
    for _ in range(repeats):
        for name in order:
            start = time.perf_counter()
            tasks[name]()
            times[name].append(time.perf_counter() - start)
        order.reverse()
    return {name: np.array(t) for name, t in times.items()}


def example_layer_tasks(batch=32, steps=10, channels=3, filters=32, size=64, **conv_args):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, size, size, channels)).astype("float32")
    layers = {}
    for name, conv in IMPLS.items():
        layers[name] = conv(
            filters=filters, kernel_size=(3, 3), padding="same", activation="relu", **conv_args
        )
        layers[name].build(x.shape)
    layers["builtin"].set_weights(layers["custom"].get_weights())
    forward, train, train_dx = {}, {}, {}
    for name, layer in layers.items():
        optimizer = keras.optimizers.SGD(1e-3)
        optimizer.build(layer.trainable_variables)
        predict, step, step_dx = _compiled_steps(layer, optimizer, x)
        # each task waits for its last result only: no sync between steps
        forward[name] = lambda f=predict: np.asarray([f() for _ in range(steps)][-1])
        train[name] = lambda f=step: np.asarray([f() for _ in range(steps)][-1])
        train_dx[name] = lambda f=step_dx: np.asarray([f() for _ in range(steps)][-1])
    return forward, train, train_dx, batch * steps


def _compiled_steps(layer, optimizer, x):
    """Three compiled functions of no argument, each returning a tensor: the
    forward pass on ``x`` (``training=False``, as ``predict`` calls it); a
    training step (the loss mean(layer(x)²), its gradient, an SGD update);
    the same step with the gradient for the input
    ``x`` too, as inside a network. ``tf.function`` with ``tf.GradientTape``
    on TensorFlow; on JAX, ``jax.jit`` of the layer's ``stateless_call`` with
    ``jax.value_and_grad``, the weights and the optimizer's variables carried
    from step to step. ``x`` is an input of every compiled function on both
    (TensorFlow captures it as one), not a constant XLA could fold."""
    if keras.backend.backend() == "jax":
        return _jax_steps(layer, optimizer, x)
    import tensorflow as tf

    x = tf.constant(x)

    @tf.function
    def predict():
        return layer(x, training=False)  # as ``predict`` calls it

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(x)))
        grads = tape.gradient(loss, layer.trainable_variables)
        optimizer.apply(grads, layer.trainable_variables)
        return loss

    @tf.function
    def step_dx():
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_mean(tf.square(layer(x)))
        d_x, *grads = tape.gradient(loss, [x, *layer.trainable_variables])
        optimizer.apply(grads, layer.trainable_variables)
        return loss + tf.reduce_sum(d_x)

    return predict, step, step_dx


def _jax_steps(layer, optimizer, x):
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(x)
    frozen = [v.value for v in layer.non_trainable_variables]
    # the state the steps carry: the layer's trainable weights, the optimizer's variables
    state = {
        "weights": [v.value for v in layer.trainable_variables],
        "optimizer": [v.value for v in optimizer.variables],
    }

    def loss(weights, x):
        return jnp.mean(jnp.square(layer.stateless_call(weights, frozen, x)[0]))

    # as ``predict`` calls the layer: training=False where its ``call`` takes it
    inference = (
        {"training": False} if "training" in inspect.signature(layer.call).parameters else {}
    )

    @jax.jit
    def predict(weights, x):
        return layer.stateless_call(weights, frozen, x, **inference)[0]

    @jax.jit
    def step(weights, optimizer_variables, x):
        value, grads = jax.value_and_grad(loss)(weights, x)
        weights, optimizer_variables = optimizer.stateless_apply(
            optimizer_variables, grads, weights
        )
        return value, weights, optimizer_variables

    @jax.jit
    def step_dx(weights, optimizer_variables, x):
        value, (grads, d_x) = jax.value_and_grad(loss, argnums=(0, 1))(weights, x)
        weights, optimizer_variables = optimizer.stateless_apply(
            optimizer_variables, grads, weights
        )
        return value + jnp.sum(d_x), weights, optimizer_variables

    def run(train_step):
        value, state["weights"], state["optimizer"] = train_step(
            state["weights"], state["optimizer"], x
        )
        return value

    return lambda: predict(state["weights"], x), lambda: run(step), lambda: run(step_dx)


# The layers of real CNNs, each 3x3 "same" + ReLU: (name, size, channels, filters, stride).
GRID = [
    ("notes' layer 64x64x3 -> 32", 64, 3, 32, 1),
    ("MNIST 28x28x1 -> 32", 28, 1, 32, 1),
    ("MNIST 14x14x32 -> 64", 14, 32, 64, 1),
    *((f"CIFAR 32x32x{c} -> {k}", 32, c, k, 1) for c in (3, 32, 64) for k in (32, 64)),
    *((f"VGG 64x64x{c} -> {k}", 64, c, k, 1) for c in (16, 32) for k in (16, 32)),
    ("stride 2, 32x32x32 -> 64", 32, 32, 64, 2),
    ("stride 2, 64x64x16 -> 32", 64, 16, 32, 2),
]
GRID_MODES = ("predict", "train, first layer", "train, inner layer")


def _multiply_adds(size, channels, filters, stride):
    """Multiply-adds of one image's forward pass: out_h·out_w·3·3·C·K."""
    out = -(-size // stride)
    return out * out * 9 * channels * filters


def grid_rows(steps, repeats, only=""):
    """Time the ``GRID`` layers whose name holds ``only``, one at a time, in
    the three ``GRID_MODES``; yield (name, images per run, {mode: times}).
    A timed run does the multiply-adds of ``steps`` forward passes of the
    notes' layer, so that small layers are not timed on a few milliseconds."""
    notes = _multiply_adds(64, 3, 32, 1)
    for name, size, channels, filters, stride in GRID:
        if only not in name:
            continue
        work = _multiply_adds(size, channels, filters, stride)
        *tasks, images = example_layer_tasks(
            steps=max(1, round(steps * notes / work)),
            channels=channels,
            filters=filters,
            size=size,
            strides=stride,
        )
        by_mode = zip(GRID_MODES, tasks, strict=True)
        yield name, images, {mode: _interleaved(t, repeats) for mode, t in by_mode}


def _figures(times):
    """The best time per side, their ratio (built-in / custom: above 1 the
    custom layer is faster), and the median of the paired ratios: a round's
    two runs are back to back, so their ratio is less exposed to the
    machine's slow minutes than the best times."""
    best = {side: t.min() for side, t in times.items()}
    median = float(np.median(times["builtin"] / times["custom"]))
    return best, best["builtin"] / best["custom"], median


def small_cnn_tasks(batch=64, samples=4096):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((samples, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, samples)
    models = {}
    for name, conv in IMPLS.items():
        models[name] = keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                conv(16, 3, padding="same", activation="relu"),
                conv(32, 3, strides=2, padding="same", activation="relu"),
                keras.layers.Flatten(),
                keras.layers.Dense(10),
            ]
        )
        models[name].compile(
            optimizer=keras.optimizers.Adam(),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    models["builtin"].set_weights(models["custom"].get_weights())
    tasks = {
        name: lambda m=model: m.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
        for name, model in models.items()
    }
    return tasks, samples


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--steps", type=int, default=10, help="steps per timed run of (a), (d), (e); (c) a third"
    )
    parser.add_argument("--cnn-samples", type=int, default=4096, help="one epoch of (b)")
    parser.add_argument(
        "--grid",
        nargs="?",
        const="",
        metavar="NAME",
        help="also time the grid of real CNN layers (only those whose name holds NAME)",
    )
    report.add_table_flag(parser, "conv2d")
    args = parser.parse_args(argv)
    for flag in ("repeats", "steps", "cnn_samples"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    steps = args.steps
    forward, train, train_dx, n = example_layer_tasks(steps=steps)
    cnn, cnn_samples = small_cnn_tasks(samples=args.cnn_samples)
    *_, wide_dx, wide_n = example_layer_tasks(steps=max(1, steps // 3), channels=16, filters=16)
    *_, dilated_dx, dilated_n = example_layer_tasks(steps=steps, dilation_rate=2)
    *_, grouped_dx, grouped_n = example_layer_tasks(steps=steps, channels=32, size=32, groups=4)
    rows = [
        ("(a) notes' layer 64x64x3, forward", forward, n),
        ("(a) train step, first layer (no dInput)", train, n),
        ("(a) train step, inner layer (with dInput)", train_dx, n),
        ("(b) small CNN 28x28x1, model.fit", cnn, cnn_samples),
        ("(c) 64x64x16 -> 16, train step with dInput", wide_dx, wide_n),
        ("(d) (a) with dilation 2, train step, dInput", dilated_dx, dilated_n),
        ("(e) 32x32x32 -> 32, 4 groups, step, dInput", grouped_dx, grouped_n),
    ]
    print(
        f"{keras.backend.backend()}: best of {args.repeats} interleaved repeats, images/s; "
        "median: of the paired ratios"
    )
    print(f"{'case':<44} {'custom':>9} {'built-in':>9} {'ratio':>7} {'median':>7}")
    results, table = {}, []

    def record(name, times, images):
        best, ratio, median = _figures(times)
        results[name] = {"ratio": ratio, "median_ratio": median}
        custom, builtin = images / best["custom"], images / best["builtin"]
        print(f"{name:<44} {custom:9.0f} {builtin:9.0f} {ratio:6.2f}x {median:6.2f}x")
        return f"{custom:.0f}", f"{builtin:.0f}", f"{ratio:.2f}x", f"{median:.2f}x"

    for name, tasks, images in rows:
        table.append((name, *record(name, _interleaved(tasks, args.repeats), images)))
    caption = f"images/s, best of {args.repeats} interleaved repeats; median of the paired ratios"
    sections = [(caption, ["case", "custom", "built-in", "ratio", "median"], table)]
    if args.grid is not None:
        grid = []
        for layer, images, by_mode in grid_rows(steps, args.repeats, args.grid):
            cells = [record(f"{layer}, {mode}", by_mode[mode], images) for mode in GRID_MODES]
            grid.append((layer, *(f"{c[0]} / {c[1]} = {c[2]} ({c[3]})" for c in cells)))
        sections.append(
            (
                "Real CNN layers, 3x3 same + ReLU, batch 32: custom / built-in images/s = "
                f"ratio (median), best of {args.repeats} interleaved repeats",
                ["layer", *GRID_MODES],
                grid,
            )
        )
    path = report.write(args.table, report.command("benchmarks.conv2d", argv), sections)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
