"""NumPy references and measuring helpers used across the tests.

The tests run on TensorFlow and on JAX (``KERAS_BACKEND=jax``). Their
backend-specific code is here (sparse inputs, the error a failed check
raises inside a compiled step), except autodiff: ``gradients`` comes from
``custom_layers._backend``, which the recipes and the benchmarks use too.
"""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
from keras import ops

from custom_layers._backend import gradients

BACKEND = keras.backend.backend()

# The edge values of the notes' stability discussion, plus ordinary ones.
EDGES = np.array(
    [-1e30, -1000.0, -88.0, -20.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 20.0, 88.0, 1000.0, 1e30]
)

# Fidelity targets (float32) from the foundation issue.
FORWARD_TOL = 1e-6
GRADIENT_TOL = 1e-5
TRAJECTORY_TOL = 1e-4


def values_with_edges(n=64, scale=5.0, seed=0, dtype="float32"):
    """The edge values followed by ``n`` normal samples times ``scale``."""
    rng = np.random.default_rng(seed)
    return np.concatenate([EDGES, scale * rng.standard_normal(n)]).astype(dtype)


def gradient(fn, x, upstream=None):
    """d/dx of sum(fn(x) * upstream)."""
    return gradients(fn, x, upstream=upstream)[1][0]


def layer_gradients(layer, x, upstream, compiled=False):
    """The layer's output on ``x`` and the gradients of sum(output·upstream)
    in x and in each trainable weight (``layer.trainable_variables`` order),
    all from one call (``compiled``: see ``gradients``)."""
    trainable = [ops.convert_to_tensor(v) for v in layer.trainable_variables]
    frozen = [ops.convert_to_tensor(v) for v in layer.non_trainable_variables]

    def output(x, *weights):
        return layer.stateless_call(list(weights), frozen, x)[0]

    return gradients(output, x, *trainable, upstream=upstream, compiled=compiled)


def sparse_from_dense(x):
    """``x`` as the backend's sparse tensor: ``tf.SparseTensor`` or JAX's ``BCOO``."""
    if BACKEND == "jax":
        from jax.experimental import sparse

        return sparse.BCOO.fromdense(np.asarray(x))
    import tensorflow as tf

    return tf.sparse.from_dense(x)


def compiled_check_error():
    """The exceptions a failed runtime check inside a compiled ``fit`` raises:
    TensorFlow's ``InvalidArgumentError`` (``tf.debugging.Assert``); on JAX,
    where the host callback's ``ValueError`` fails the step, that failure
    comes back as ``JaxRuntimeError`` when ``fit`` reads the step's results,
    or as XLA's ``ValueError`` when the next step is dispatched first. Each
    carries our message."""
    if BACKEND == "jax":
        import jax

        return (jax.errors.JaxRuntimeError, ValueError)
    import tensorflow as tf

    return tf.errors.InvalidArgumentError


def central_difference(f, x, h=1e-6):
    """Element-wise (f(x + h) − f(x − h)) / 2h for an element-wise NumPy f."""
    x = np.asarray(x, dtype="float64")
    return (f(x + h) - f(x - h)) / (2 * h)


def max_abs_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, "float64") - np.asarray(b, "float64"))))


def max_weight_diff(model_a, model_b):
    return max(
        max_abs_diff(a, b)
        for a, b in zip(model_a.get_weights(), model_b.get_weights(), strict=True)
    )


def run_in_fresh_python(script, marker, backend=None, env=None):
    """Run ``script`` in a new Python process; it must exit 0 and print
    ``marker``. Returns what it printed.

    The process runs on ``backend`` (``KERAS_BACKEND``) if given, else on the
    backend of the tests; ``env`` adds environment variables.
    """
    environment = {**os.environ, **(env or {})}
    if backend is not None:
        environment["KERAS_BACKEND"] = backend
    # Ends as the recipes' commands do, without the exit's full collection
    # (1.5 s of each such process here; the scripts close what they write).
    # The exit half of recipes.spare_the_collector, written out: importing
    # recipes imports TensorFlow, which the scripts that check JAX runs
    # without it must not do.
    script = "import atexit, gc\natexit.register(gc.freeze)\n" + textwrap.dedent(script)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=environment,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert marker in result.stdout
    return result.stdout


def fit_in_passes(model, x, y, passes, batch_size):
    """What ``model.fit(x, y, epochs=passes, batch_size=batch_size,
    shuffle=False)`` trains, as one epoch of the data repeated ``passes``
    times: the same batches in the same order, without Keras' set-up of
    each epoch (about 50 ms each on 2 cores, measured: 25 epochs of a small
    Dense model 1.9 CPU-s, the same 100 steps as one epoch 0.7 CPU-s).
    Returns what ``history["loss"]`` holds after those epochs, the mean loss
    of each pass, recovered from the running mean of the epoch that Keras
    logs after each batch (the batches must all have the same size)."""
    steps, rest = divmod(len(x), batch_size)
    assert rest == 0, "the batches must all have the same size"
    running = []

    class _RunningLoss(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            running.append(float(logs["loss"]))

    def repeated(a):
        return np.tile(a, (passes,) + (1,) * (np.ndim(a) - 1))

    model.fit(
        repeated(x),
        repeated(y),
        batch_size=batch_size,
        shuffle=False,
        verbose=0,
        callbacks=[_RunningLoss()],
    )
    # the sum of the batch losses after each pass, then each pass' share
    sums = np.array(running[steps - 1 :: steps], "float64") * steps * np.arange(1, passes + 1)
    return np.diff(sums, prepend=0.0) / steps
