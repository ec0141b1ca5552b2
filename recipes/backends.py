"""What differs between the backends, in one place: everything else in the
recipes is Keras, NumPy or ``tf.data`` (the input, which TensorFlow runs on
the host for either backend)."""

import keras
import tensorflow as tf


def distribute_refusal(distribute):
    """Why ``--distribute distribute`` cannot run on this backend, or ``None``.

    tf.distribute strategies (``MirroredStrategy``,
    ``MultiWorkerMirroredStrategy``) train Keras models on the TensorFlow
    backend only.
    """
    backend = keras.backend.backend()
    if distribute == "none" or backend == "tensorflow":
        return None
    return (
        f"--distribute {distribute} trains under tf.distribute, which Keras supports on the "
        f"TensorFlow backend only; this process runs KERAS_BACKEND={backend}. Run it with "
        "KERAS_BACKEND=tensorflow, or without --distribute."
    )


def compile_for_fit(model, example_batch=None, **compile_kwargs):
    """``model.compile(**compile_kwargs)``, then ``build_for_fit``."""
    model.compile(**compile_kwargs)
    build_for_fit(model, example_batch)


def build_for_fit(model, example_batch=None):
    """On TensorFlow, a compiled model's optimizer and compiled metrics
    built before ``fit`` traces its step.

    Without a tf.distribute strategy Keras on TensorFlow creates those
    variables inside the first trace of the train step, and a ``tf.function``
    whose first trace creates variables is traced a second time: each new
    model paid twice for its step (about 0.6 s per model on 2 cores,
    measured). Built here (the metrics by one eager forward pass on
    ``example_batch`` = (x, y), their state then reset), the step is traced
    once, with the same variables and the same training. Under a strategy,
    and on JAX, Keras builds them itself before tracing.
    """
    if keras.backend.backend() != "tensorflow" or tf.distribute.has_strategy():
        return
    model.optimizer.build(model.trainable_variables)
    if example_batch is not None:
        x, y = example_batch
        model.compute_metrics(x, y, model(x), sample_weight=None)
        model.reset_metrics()


def share_the_cores(threads):
    """Run this process' TensorFlow ops on at most ``threads`` threads (for
    its graph and its ops alike), so that processes sharing a machine each
    keep to their part of the cores. Only possible before TensorFlow's first
    op in the process; returns whether it took effect. On JAX the recipes'
    models run in XLA, whose threads are set when JAX starts: nothing here.
    """
    if keras.backend.backend() != "tensorflow":
        return False
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow has started already
        return False
    return True


def keep_tensorflow_off_the_gpus():
    """On another backend TensorFlow only runs the tf.data input, on the host:
    keep it off the GPUs, whose memory it would otherwise reserve, and which
    the backend uses. Only possible before TensorFlow's first op in the
    process; after that it changes nothing."""
    if keras.backend.backend() == "tensorflow":
        return
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:  # TensorFlow has set up its devices already
        pass


def compiled(function):
    """``function`` compiled as one XLA program: ``tf.function(jit_compile=True)``
    on TensorFlow, ``jax.jit`` on JAX. Pass its tensor arguments as tensors
    (not Python numbers), so that new values do not trace it again."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(function)
    return tf.function(function, jit_compile=True, reduce_retracing=True)
