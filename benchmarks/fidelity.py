"""Fidelity of every custom object vs its Keras built-in: a printed table.

Forward values and gradients on the same inputs, and 100-step training
trajectories from the same initial weights. Differences are
max |custom − built-in| / max(1, |built-in|): absolute for ordinary values,
relative where values are large (logits up to ±1e30 are among the inputs).
On TensorFlow the gradients come from tf.GradientTape; with KERAS_BACKEND=jax
from jax.vjp, against JAX's built-ins.

    python -m benchmarks.fidelity
"""

import argparse

import keras
import numpy as np
from keras import ops

import custom_layers
from custom_layers import _backend, activations, losses
from recipes import backends, report

RNG = np.random.default_rng(0)
EDGES = [-1e30, -1000.0, -20.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 20.0, 1000.0, 1e30]


def diff(a, b):
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


def value_and_grad(fn, x, upstream):
    """fn(x) and d/dx sum(fn(x)·upstream): tf.GradientTape or jax.vjp."""
    value, (grad,) = _backend.gradients(fn, x, upstream=upstream)
    return value, grad


def compare(custom_fn, builtin_fn, x):
    upstream = RNG.standard_normal(custom_fn(x).shape).astype("float32")
    (yc, gc), (yb, gb) = (
        value_and_grad(custom_fn, x, upstream),
        value_and_grad(builtin_fn, x, upstream),
    )
    return diff(yc, yb), diff(gc, gb)


def elementwise_rows():
    z = np.concatenate([EDGES, 5 * RNG.standard_normal(1000)]).astype("float32")
    logits = (5 * RNG.standard_normal((256, 10))).astype("float32")
    logits[0, :5] = [1000.0, -1000.0, 1e30, -1e30, 0.0]
    pairs = {
        "relu": (activations.relu, keras.activations.relu, z),
        "linear": (activations.linear, keras.activations.linear, z),
        "sigmoid": (activations.sigmoid, keras.activations.sigmoid, z),
        "tanh": (activations.tanh, keras.activations.tanh, z),
        # z = 0 left out: there the built-in's derivative is α on TensorFlow
        # and 1 on JAX (a kink, where any value in [α, 1] is a valid subgradient)
        "leaky_relu (α=0.01)": (
            activations.leaky_relu,
            lambda v: keras.activations.leaky_relu(v, 0.01),
            z[z != 0],
        ),
        "softmax": (activations.softmax, keras.activations.softmax, logits),
        # Keras' arguments (no input sits exactly on a kink, where the
        # backward passes differ by design)
        "relu(slope 0.1, max 6, threshold 0.5)": (
            lambda v: activations.relu(v, negative_slope=0.1, max_value=6.0, threshold=0.5),
            lambda v: keras.activations.relu(v, negative_slope=0.1, max_value=6.0, threshold=0.5),
            z,
        ),
        "softmax over axes (1, 2)": (
            lambda v: activations.softmax(v, axis=(1, 2)),
            lambda v: keras.activations.softmax(v, axis=(1, 2)),
            logits.reshape(64, 4, 10),
        ),
    }
    for name, (custom_fn, builtin_fn, x) in pairs.items():
        yield (name, *compare(custom_fn, builtin_fn, x))

    x = RNG.standard_normal((64, 32)).astype("float32")
    ours, theirs = custom_layers.Dense(16, activation="relu"), keras.layers.Dense(16, "relu")
    ours.build(x.shape), theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    yield ("Dense(relu), grad wrt x", *compare(ours, theirs, x))

    labels = RNG.integers(0, 10, 256)
    one_hot = np.eye(10, dtype="float32")[labels]
    binary = RNG.integers(0, 2, (256, 10)).astype("float32")
    probs = ops.convert_to_numpy(ops.softmax(np.clip(logits, -30, 30)))
    sig = ops.convert_to_numpy(ops.sigmoid(np.clip(logits, -15, 15)))
    theirs = keras.losses
    logit_mode = {"from_logits": True}
    cases = [
        ("BCE, probabilities", "binary_crossentropy", binary, sig, {}),
        ("BCE, from logits", "binary_crossentropy", binary, logits, logit_mode),
        ("CCE, probabilities", "categorical_crossentropy", one_hot, probs, {}),
        ("CCE, from logits", "categorical_crossentropy", one_hot, logits, logit_mode),
        ("sparse CCE, probabilities", "sparse_categorical_crossentropy", labels, probs, {}),
        ("sparse CCE, from logits", "sparse_categorical_crossentropy", labels, logits, logit_mode),
        ("MSE", "mean_squared_error", binary, sig, {}),
    ]
    for name, function, y, x, kw in cases:
        ours_fn, theirs_fn = getattr(losses, function), getattr(theirs, function)
        yield (
            name,
            *compare(
                lambda v, f=ours_fn, y=y, kw=kw: f(y, v, **kw),
                lambda v, f=theirs_fn, y=y, kw=kw: f(y, v, **kw),
                x,
            ),
        )


def trajectory_rows(steps=100):
    x = RNG.standard_normal((256, 8)).astype("float32")
    y = (x @ RNG.standard_normal((8, 1)) > 0).astype("float32")

    def model(dense, activation):
        return keras.Sequential([keras.Input((8,)), dense(16, activation=activation), dense(1)])

    sgd, adam, rmsprop = keras.optimizers.SGD, keras.optimizers.Adam, keras.optimizers.RMSprop
    ours = custom_layers
    keras_eps = {"epsilon_placement": "keras"}
    momentum = {"momentum": 0.9}
    runs = [  # name, custom optimizer, built-in optimizer (same learning rate)
        ("GradientDescent vs SGD", ours.GradientDescent(0.1), sgd(0.1)),
        (
            "GradientDescent(momentum) vs SGD",
            ours.GradientDescent(0.05, **momentum),
            sgd(0.05, **momentum),
        ),
        (
            "GradientDescent(nesterov) vs SGD",
            ours.GradientDescent(0.05, nesterov=True, **momentum),
            sgd(0.05, nesterov=True, **momentum),
        ),
        ("RMSprop vs RMSprop", ours.RMSprop(0.01), rmsprop(0.01)),
        (
            "RMSprop(centered, momentum) vs RMSprop",
            ours.RMSprop(0.01, centered=True, momentum=0.5),
            rmsprop(0.01, centered=True, momentum=0.5),
        ),
        ("Adam(keras eps) vs Adam", ours.Adam(0.01, **keras_eps), adam(0.01)),
        (
            "Adam(keras eps, amsgrad) vs Adam",
            ours.Adam(0.01, amsgrad=True, **keras_eps),
            adam(0.01, amsgrad=True),
        ),
        ("Adam(notes eps) vs Adam", ours.Adam(0.01), adam(0.01)),
    ]
    for name, custom_optimizer, builtin_optimizer in runs:
        custom = model(custom_layers.Dense, activations.relu)
        builtin = model(keras.layers.Dense, "relu")
        builtin.set_weights(custom.get_weights())
        loss = custom_layers.BinaryCrossentropy(from_logits=True)
        backends.compile_for_fit(custom, optimizer=custom_optimizer, loss=loss)
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
        backends.compile_for_fit(builtin, optimizer=builtin_optimizer, loss=loss)
        for m in (custom, builtin):
            m.fit(x, y, batch_size=64, epochs=steps // 4, shuffle=False, verbose=0)
        worst = max(
            diff(a, b) for a, b in zip(custom.get_weights(), builtin.get_weights(), strict=True)
        )
        yield name, worst


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="training steps per trajectory")
    report.add_table_flag(parser, "fidelity")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)  # the same initial weights, so the same table, on every run
    print(f"custom_layers vs the Keras built-ins, backend: {keras.backend.backend()}\n")
    print(f"{'object':<40} {'forward':>10} {'gradient':>10}")
    elementwise = []
    for name, forward, grad in elementwise_rows():
        print(f"{name:<40} {forward:10.1e} {grad:10.1e}")
        elementwise.append((f"`{name}`", f"{forward:.1e}", f"{grad:.1e}"))
    caption = f"Sequential, {args.steps} steps from the same init"
    print(f"\n{caption:<40} {'max |Δw|':>10}")
    trajectories = []
    for name, worst in trajectory_rows(args.steps):
        print(f"{name:<40} {worst:10.1e}")
        trajectories.append((f"`{name}`", f"{worst:.1e}"))
    path = report.write(
        args.table,
        report.command("benchmarks.fidelity", argv),
        [
            ("Forward values and gradients", ["object", "forward", "gradient"], elementwise),
            (caption, ["optimizer", "max abs Δw"], trajectories),
        ],
    )
    print(f"\nwrote {path}")
    return {"elementwise": elementwise, "trajectories": trajectories, "path": path}


if __name__ == "__main__":
    main()
