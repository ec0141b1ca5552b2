"""Training throughput of a 784-256-128-10 MLP: custom parts vs Keras built-ins.

Dense + ReLU + softmax cross-entropy from logits + Adam, built once from
``custom_layers`` and once from Keras, with the same initial weights, timed
in the same process with interleaved repeats (best of N per side, as the
machine's noise is 15-25 % between runs).

    python -m benchmarks.mlp [--repeats 10] [--samples 16384] [--batch-size 128]

Backend-neutral (``model.fit`` only): ``KERAS_BACKEND=jax`` compares the
custom parts with JAX's built-ins.
"""

import argparse
import time

import keras
import numpy as np

import custom_layers
from recipes import report


def build(impl):
    """The MLP from custom parts (``impl="custom"``) or from built-ins."""
    if impl == "custom":
        dense, loss, optimizer = (
            custom_layers.Dense,
            custom_layers.SparseCategoricalCrossentropy(from_logits=True),
            custom_layers.Adam(),
        )
    else:
        dense, loss, optimizer = (
            keras.layers.Dense,
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            keras.optimizers.Adam(),
        )
    model = keras.Sequential(
        [
            keras.Input((784,)),
            dense(256, activation="relu"),
            dense(128, activation="relu"),
            dense(10),
        ]
    )
    model.compile(optimizer=optimizer, loss=loss)
    return model


def time_epoch(model, x, y, batch_size):
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    return time.perf_counter() - start


def run(repeats=10, samples=16384, batch_size=128, seed=0):
    """Return {impl: best seconds per epoch}, the samples per epoch and the
    median over repeats of the ratio of two back-to-back epochs."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, 784)).astype("float32")
    y = rng.integers(0, 10, samples)
    models = {"custom": build("custom"), "builtin": build("builtin")}
    models["builtin"].set_weights(models["custom"].get_weights())
    for model in models.values():  # trace and warm up
        time_epoch(model, x, y, batch_size)
    times = {impl: [] for impl in models}
    order = list(models)
    for _ in range(repeats):
        for impl in order:  # interleaved, the order alternating (ABBA...)
            times[impl].append(time_epoch(models[impl], x, y, batch_size))
        order.reverse()
    paired = sorted(b / c for b, c in zip(times["builtin"], times["custom"], strict=True))
    return {impl: min(t) for impl, t in times.items()}, samples, paired[len(paired) // 2]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--samples", type=int, default=16384)
    parser.add_argument("--batch-size", type=int, default=128)
    report.add_table_flag(parser, "mlp")
    args = parser.parse_args(argv)
    best, samples, median_ratio = run(args.repeats, args.samples, args.batch_size)
    steps = -(-samples // args.batch_size)
    print(
        f"MLP 784-256-128-10, batch {args.batch_size}, {steps} steps/epoch, "
        f"best of {args.repeats} interleaved epochs, backend: {keras.backend.backend()}"
    )
    print(f"{'impl':<8} {'s/epoch':>8} {'samples/s':>10} {'ms/step':>8}")
    for impl, seconds in best.items():
        print(f"{impl:<8} {seconds:8.3f} {samples / seconds:10.0f} {1e3 * seconds / steps:8.2f}")
    ratio = best["builtin"] / best["custom"]
    print(
        f"throughput ratio custom/built-in: {ratio:.3f}x (best epochs), "
        f"{median_ratio:.3f}x (median of paired epochs)"
    )
    caption = (
        f"MLP 784-256-128-10, batch {args.batch_size}, {steps} steps/epoch, best of "
        f"{args.repeats} interleaved epochs; ratio custom/built-in {ratio:.3f}x (best epochs), "
        f"{median_ratio:.3f}x (median of paired epochs)"
    )
    rows = [
        (impl, f"{seconds:.3f}", f"{samples / seconds:.0f}", f"{1e3 * seconds / steps:.2f}")
        for impl, seconds in best.items()
    ]
    path = report.write(
        args.table,
        report.command("benchmarks.mlp", argv),
        [(caption, ["impl", "s/epoch", "samples/s", "ms/step"], rows)],
    )
    print(f"wrote {path}")
    return {"seconds": best, "ratio": ratio, "median_ratio": median_ratio, "path": path}


if __name__ == "__main__":
    main()
