"""NumPy references and measuring helpers used across the tests."""

import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf

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
    """d/dx of sum(fn(x) * upstream) by tf.GradientTape."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
        if upstream is not None:
            y = y * tf.cast(upstream, y.dtype)
        total = tf.reduce_sum(y)
    return tape.gradient(total, x).numpy()


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


def run_in_fresh_python(script, marker):
    """Run ``script`` in a new Python process; it must exit 0 and print ``marker``."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert marker in result.stdout
