"""What ``fit`` costs with the custom objects against the built-ins, for the
recipes' small models: the first epoch (tracing and compiling the train step,
then the epoch's steps) and a step after it.

Each recipe's model comes from its own ``build_model``, compiled with the
recipe's loss and optimizer, once from ``custom_layers`` and once from the
Keras built-ins, with the same initial weights and synthetic data of the
recipe's shapes. Every repeat builds both models afresh (so that the first
epoch traces again), the two interleaved in alternating order; the table
shows the best of the repeats per side, as the machine's noise is 15-25 %
between runs.

    python -m benchmarks.fit_cost [--repeats 5] [--samples 2048] [--epochs 5]

Backend-neutral (``model.fit`` only): ``KERAS_BACKEND=jax`` compares the
custom objects with JAX's built-ins.

``--ops`` prints instead a figure that does not depend on the machine's
load: the number of ops in each model's traced train step, custom against
built-in (TensorFlow: the nodes of the step's graph and of the functions it
calls; JAX: the equations of the step's jaxpr and of its sub-jaxprs).
"""

import argparse
import time

import keras
import numpy as np

import custom_layers
from recipes import (
    binary_classification,
    cnn_image_classification,
    multiclass_classification,
    regression,
    report,
)


def _sparse_labels(rng, samples, classes=10):
    return rng.integers(0, classes, samples)


def _binary_labels(rng, samples, columns=1):
    return rng.integers(0, 2, (samples, columns)).astype("float32")


def _regression_targets(rng, samples):
    return rng.standard_normal((samples, 1)).astype("float32")


def _adam():
    return custom_layers.Adam(0.003), keras.optimizers.Adam(0.003)


def _from_logits(loss):
    """The recipe's loss on logits: a factory of the custom one and Keras'."""
    return lambda: (
        getattr(custom_layers, loss)(from_logits=True),
        getattr(keras.losses, loss)(from_logits=True),
    )


# name -> (build(layers), input shape, labels(rng, samples), (custom, built-in) optimizers,
# (custom, built-in) losses), as each recipe compiles its twins.
MODELS = {
    "regression": (
        lambda layers: regression.build_model(layers, 10),
        (10,),
        _regression_targets,
        lambda: (custom_layers.GradientDescent(0.2), keras.optimizers.SGD(0.2)),
        lambda: (custom_layers.MeanSquaredError(), keras.losses.MeanSquaredError()),
    ),
    "binary, logistic": (
        lambda layers: binary_classification.build_logistic(layers, 30),
        (30,),
        _binary_labels,
        lambda: (custom_layers.GradientDescent(0.5), keras.optimizers.SGD(0.5)),
        _from_logits("BinaryCrossentropy"),
    ),
    "binary, network": (
        lambda layers: binary_classification.build_network(layers, 30),
        (30,),
        _binary_labels,
        _adam,
        _from_logits("BinaryCrossentropy"),
    ),
    "multi-class": (
        lambda layers: multiclass_classification.build_model(layers),
        (8, 8, 1),
        _sparse_labels,
        _adam,
        _from_logits("SparseCategoricalCrossentropy"),
    ),
    "multi-label": (
        lambda layers: multiclass_classification.build_model(layers, classes=4),
        (8, 8, 1),
        lambda rng, samples: _binary_labels(rng, samples, 4),
        _adam,
        _from_logits("BinaryCrossentropy"),
    ),
    "cnn": (
        lambda layers: cnn_image_classification.build_model(layers),
        (28, 28, 1),
        _sparse_labels,
        _adam,
        _from_logits("SparseCategoricalCrossentropy"),
    ),
}


def _twins(name, weights):
    """The recipe's model ``name`` compiled from custom parts and from
    built-ins, both starting from ``weights`` (``None``: the custom model's)."""
    build, _, _, optimizers, losses = MODELS[name]
    keras.backend.clear_session()
    models = {"custom": build(custom_layers), "builtin": build(keras.layers)}
    weights = models["custom"].get_weights() if weights is None else weights
    for model, optimizer, loss in zip(models.values(), optimizers(), losses(), strict=True):
        model.set_weights(weights)
        model.compile(optimizer=optimizer, loss=loss)
    return models, weights


def _seconds(model, x, y, batch_size, epochs):
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    return time.perf_counter() - start


def measure(name, repeats=5, samples=2048, batch_size=32, epochs=5, seed=0):
    """Best over repeats, per side: the first epoch's seconds and the
    milliseconds per step of the ``epochs`` epochs that follow it."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    _, shape, labels, _, _ = MODELS[name]
    x = rng.standard_normal((samples, *shape)).astype("float32")
    y = labels(rng, samples)
    steps = epochs * -(-samples // batch_size)
    first = {"custom": [], "builtin": []}
    step = {"custom": [], "builtin": []}
    order, weights = list(first), None
    for repeat in range(repeats + 1):  # the first round warms the process up, untimed
        for impl in order:
            models, weights = _twins(name, weights)
            model = models[impl]
            first_seconds = _seconds(model, x, y, batch_size, 1)
            step_ms = 1e3 * _seconds(model, x, y, batch_size, epochs) / steps
            if repeat:
                first[impl].append(first_seconds)
                step[impl].append(step_ms)
        order.reverse()
    return {impl: (min(first[impl]), min(step[impl])) for impl in first}


def jaxpr_equations(jaxpr):
    """Every equation of a jaxpr, those of the jaxprs in its equations'
    parameters too (a ``cond``'s branches, a ``jit``'s body, a ``custom_vjp``'s
    function, ...)."""
    from jax.extend import core

    for equation in jaxpr.eqns:
        yield equation
        for param in equation.params.values():
            for sub in param if isinstance(param, (list, tuple)) else [param]:
                if isinstance(sub, core.ClosedJaxpr):
                    yield from jaxpr_equations(sub.jaxpr)
                elif isinstance(sub, core.Jaxpr):
                    yield from jaxpr_equations(sub)


def step_ops(model, x, y):
    """The number of ops in ``model``'s traced train step on a batch ``(x, y)``."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # one eager step builds the optimizer's and the metrics' variables
        # (train_on_batch would trace Keras' own step function for every model,
        # and TensorFlow warns of retracing from the fifth model on)
        model.train_step((tf.constant(x), tf.constant(y)))
        specs = [tf.TensorSpec((None, *a.shape[1:]), a.dtype) for a in (x, y)]
        step = tf.function(lambda x, y: model.train_step((x, y)), autograph=False)
        graph = step.get_concrete_function(*specs).graph.as_graph_def()
        return len(graph.node) + sum(len(f.node_def) for f in graph.library.function)
    import jax

    model.train_on_batch(x, y)  # builds the optimizer's and the metrics' variables
    parts = (model.trainable_variables, model.non_trainable_variables)
    parts += (model.optimizer.variables, model.metrics_variables)
    state = tuple([v.value for v in variables] for variables in parts)
    return sum(1 for _ in jaxpr_equations(jax.make_jaxpr(model.train_step)(state, (x, y)).jaxpr))


def ops_table(names, batch_size=32, seed=0):
    """``{name: {"custom": ops, "builtin": ops}}`` for the train steps of ``names``."""
    rng = np.random.default_rng(seed)
    counts = {}
    for name in names:
        _, shape, labels, _, _ = MODELS[name]
        x = rng.standard_normal((batch_size, *shape)).astype("float32")
        y = labels(rng, batch_size)
        models, _ = _twins(name, None)
        counts[name] = {impl: step_ops(model, x, y) for impl, model in models.items()}
    return counts


def _print_ops(names, batch_size):
    print(
        f"ops in the traced train step, custom against built-in, backend: {keras.backend.backend()}"
    )
    print(f"{'model':<17}{'custom':>8}{'built-in':>10}{'ratio':>7}")
    counts = ops_table(names, batch_size)
    for name, count in counts.items():
        ratio = count["custom"] / count["builtin"]
        print(f"{name:<17}{count['custom']:>8}{count['builtin']:>10}{ratio:>6.2f}x")
    return {"ops": counts}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=5, help="epochs timed after the first")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument(
        "--ops", action="store_true", help="print the train steps' op counts instead, no timing"
    )
    report.add_table_flag(parser, "fit-cost")
    args = parser.parse_args(argv)
    if args.ops:
        return _print_ops(args.models, args.batch_size)
    steps = -(-args.samples // args.batch_size)
    heading = (
        f"batch {args.batch_size}, {steps} steps/epoch; first epoch (trace, compile, "
        f"{steps} steps) and ms/step over the {args.epochs} epochs after it; best of "
        f"{args.repeats} interleaved repeats"
    )
    print(f"fit cost, custom against built-in, {heading}, backend: {keras.backend.backend()}")
    header = ["model", "first epoch s", "ratio", "ms/step", "ratio"]
    print(f"{header[0]:<17}{'first epoch s':>24}{'ratio':>7}{'ms/step':>18}{'ratio':>7}")
    results, rows = {}, []
    for name in args.models:
        best = measure(name, args.repeats, args.samples, args.batch_size, args.epochs)
        (custom_first, custom_step), (builtin_first, builtin_step) = best.values()
        results[name] = {
            "first": best["custom"][0] / best["builtin"][0],
            "step": best["custom"][1] / best["builtin"][1],
            "seconds": best,
        }
        cells = (
            f"{custom_first:.3f} / {builtin_first:.3f}",
            f"{results[name]['first']:.2f}x",
            f"{custom_step:.3f} / {builtin_step:.3f}",
            f"{results[name]['step']:.2f}x",
        )
        print(f"{name:<17}{cells[0]:>24}{cells[1]:>7}{cells[2]:>18}{cells[3]:>7}")
        rows.append((name, *cells))
    caption = f"custom / built-in, {heading}"
    command = report.command("benchmarks.fit_cost", argv)
    path = report.write(args.table, command, [(caption, header, rows)])
    print(f"wrote {path}")
    return {"models": results, "path": path}


if __name__ == "__main__":
    main()
