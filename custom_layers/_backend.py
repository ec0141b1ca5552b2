"""The few places where a Keras backend needs its own path.

Everything else in ``custom_layers`` is ``keras.ops`` and runs unchanged on
TensorFlow and JAX. Four things cannot be said in ``keras.ops`` alone:

- refusing bad labels inside a compiled step, where no value is known while
  the step is traced (``check_labels``);
- asking TensorFlow to compile a pure data-movement helper with XLA, which
  JAX's enclosing ``jit`` already does (``xla_compiled``);
- one place where Keras' own built-ins differ between backends, so that a
  twin can only equal the built-in of the backend in use
  (``sparse_ce_clips_first``);
- autodiff outside ``fit`` (``gradients``), which the recipes, the
  benchmarks and the tests use to show and check the backward passes.

Each function dispatches on ``keras.backend.backend()`` here and nowhere else.
"""

import functools

import keras
import numpy as np
from keras import ops

__all__ = ["check_labels", "gradients", "sparse_ce_clips_first", "xla_compiled"]


def _refuse(message, ok, values):
    """Raise ``ValueError`` naming how many labels are bad and the first one."""
    ok = np.asarray(ok)
    if not ok.all():
        bad = np.asarray(values)[~ok]
        raise ValueError(f"{message} Received: {bad.size} such labels, e.g. {bad.flat[0].item()!r}")


def _refused_or_zero(message, dtype, ok, values):
    """``_refuse``, then a zero of ``dtype`` for a callback that must return a value."""
    _refuse(message, ok, values)
    return np.zeros((), dtype)


def _is_jax_tracer(x):
    import jax

    return isinstance(x, jax.core.Tracer)


def check_labels(ok, message, values):
    """Refuse labels a formula cannot take, instead of a silent wrong loss.

    ``ok`` is a boolean tensor, true where the label in ``values`` is valid.

    - Eagerly (concrete values, any backend): ``ValueError`` with ``message``,
      the number of bad labels and the first one.
    - Inside a ``tf.function`` (TensorFlow's compiled ``fit``): an ``Assert``
      op with ``message`` and the first 8 labels (those it prints); training
      stops with ``InvalidArgumentError``. A step with good labels pays for
      one reduction of ``ok`` and the op's test of it. The op itself, not
      ``tf.debugging.Assert``: that one puts float data behind a ``tf.cond``
      (two branch functions to trace, lower and optimise with the step) so
      as not to copy the data to the host, which reads the condition every
      step either way; the 8 labels are all the data there is to copy.
      XLA (``jit_compile=True``) drops ``Assert`` ops: there only the
      losses' NaN for a bad label remains (``_loss_inputs.poisoned``).
    - Inside ``jax.jit`` (JAX's compiled ``fit``) or any JAX trace of the
      labels (``jax.grad`` with respect to soft labels, where ``ok`` is
      concrete but the labels are not): ``all(ok)`` is computed in the step, and only
      when it is false does the step call back to the host, where the eager
      check runs on the step's actual labels; its ``ValueError`` fails the
      step, and comes back with the eager message as ``JaxRuntimeError``
      where the step's results are read, or as XLA's ``ValueError`` where
      ``fit`` dispatches the next step first. A step with good labels never
      leaves the device. Under ``vmap`` the batched condition calls back on
      every step (JAX runs both branches of a batched ``cond``); the eager
      check then finds the bad labels itself.

    Returns ``values``; inside a ``tf.function`` as a tensor available only
    once the assertion has passed, so that what is computed from the
    returned labels cannot fail first on a bad one (a gather of an id out of
    range, with TensorFlow's message instead of ours). Compute from the
    returned labels.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():
            shown = tf.reshape(values, [-1])[:8]
            check = tf.raw_ops.Assert(
                condition=ops.all(ok), data=[message, "Received labels:", shown], summarize=8
            )
            with tf.control_dependencies([check]):
                return tf.identity(values)
    elif backend == "jax" and (_is_jax_tracer(ok) or _is_jax_tracer(values)):
        import jax

        # A callback with an effect (jax.debug.callback, io_callback) makes
        # every step wait on the host, taken or not; a pure one inside a cond
        # reaches the host only on the branch with a bad label. A pure
        # callback is dead code unless its result is used: the labels
        # returned are values + its result, a zero, once it has passed.
        scalar = jax.ShapeDtypeStruct((), values.dtype)
        checked = functools.partial(_refused_or_zero, message, scalar.dtype)
        ok, labels = jax.lax.stop_gradient((ok, values))  # the check carries no tangents
        passed = jax.lax.cond(
            ops.all(ok),
            lambda ok, labels: ops.zeros((), scalar.dtype),
            lambda ok, labels: jax.pure_callback(
                checked, scalar, ok, labels, vmap_method="sequential"
            ),
            ok,
            labels,
        )
        return values + passed
    _refuse(message, ops.convert_to_numpy(ok), ops.convert_to_numpy(values))
    return values


def xla_compiled(function):
    """``function`` compiled with XLA inside TensorFlow graphs; unchanged
    elsewhere.

    For pure data movement (pads, slices, gathers): TensorFlow runs it op by
    op unless asked to compile it, while on JAX the enclosing ``jit`` of
    ``fit``/``predict`` already fuses it. Measured for the notes' Conv2D
    layer (64x64x3, batch 32): the input gradient's col2im takes 5.8 ms as
    TensorFlow ops and 0.8 ms compiled.

    Only where TensorFlow traces a graph (``fit``, ``predict``, ``evaluate``,
    a user's ``tf.function``, SavedModel export): there the compiled helper
    is traced once with the step. An eager call runs the function op by op,
    like every other eager TensorFlow op: compiling it there would trace and
    compile it on each new input shape (about 0.23 s, against 40 ms op by
    op, for a small layer's forward and backward on 2 cores).
    """
    if keras.backend.backend() != "tensorflow":
        return function
    import tensorflow as tf

    compiled = tf.function(function, jit_compile=True, autograph=False, reduce_retracing=True)

    @functools.wraps(function)
    def call(*args, **kwargs):
        if tf.executing_eagerly():
            return function(*args, **kwargs)
        return compiled(*args, **kwargs)

    call.compiled = compiled
    return call


def sparse_ce_clips_first():
    """Whether Keras' sparse categorical CE on probabilities clips a before
    renormalising it (TensorFlow: log of the clipped a, then its softmax
    kernel) rather than after (JAX, PyTorch, NumPy: a/Σa, then the clip)."""
    return keras.backend.backend() == "tensorflow"


def gradients(fn, *args, upstream=None, compiled=False):
    """``fn(*args)`` and the gradient of Σ fn(*args)·upstream in each argument
    (``upstream`` defaults to ones), as NumPy arrays: ``(value, [gradient, ...])``.

    By ``tf.GradientTape`` on TensorFlow, by ``jax.vjp`` on JAX (``upstream``
    is the cotangent it pulls back). With ``compiled``, JAX runs both passes
    under ``jax.jit``: one XLA compilation per input shape instead of one per
    op (Conv2D on a new shape: 0.3 s instead of 1.5 s); the tape runs eagerly
    either way.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        def value_and_grads(*args):
            value, pullback = jax.vjp(fn, *args)
            cotangent = jnp.ones_like(value) if upstream is None else upstream
            return value, pullback(jnp.asarray(cotangent, value.dtype))

        if compiled:
            value_and_grads = jax.jit(value_and_grads)
        value, grads = value_and_grads(*(jnp.asarray(a) for a in args))
    elif backend == "tensorflow":
        import tensorflow as tf

        args = [tf.convert_to_tensor(a) for a in args]
        with tf.GradientTape() as tape:
            for a in args:
                tape.watch(a)
            value = fn(*args)
            weighted = value if upstream is None else value * tf.cast(upstream, value.dtype)
            total = tf.reduce_sum(weighted)
        # IndexedSlices (a sparse input's kernel gradient) as dense arrays
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(total, args)]
    else:
        raise NotImplementedError(f"No autodiff helper for the {backend} backend.")
    return np.asarray(value), [np.asarray(g) for g in grads]
