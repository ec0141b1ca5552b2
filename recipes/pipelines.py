"""The recipes' input: ``tf.data`` pipelines over in-memory arrays, every
epoch in a new order drawn from the seed, on either backend."""

import math

import keras
import tensorflow as tf


def pipeline(x, y, batch_size):
    """A ``tf.data`` pipeline over in-memory arrays, in order: cached,
    batched, prefetched (for evaluation)."""
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


class _ChunkNumber(keras.callbacks.Callback):
    """Tells a ``training_pipeline`` which Keras epoch (chunk of epochs) starts."""

    def __init__(self, variable):
        super().__init__()
        self.variable = variable

    def on_epoch_begin(self, epoch, logs=None):
        self.variable.assign(epoch)


def training_pipeline(x, y, batch_size, seed, epochs_per_chunk=1, replicas=1):
    """A ``tf.data`` pipeline for ``fit``: every epoch a new order of the
    examples, batched and prefetched; one Keras epoch of it runs
    ``epochs_per_chunk`` epochs.

    The order of epoch e is a function of (seed, e) alone (a stateless random
    permutation), not of how many epochs this process has run: a run resumed
    by ``BackupAndRestore`` sees the batches an uninterrupted run sees, and
    two models trained with the same seed see the same batches. The chunk
    number reaches the pipeline through a variable that the returned
    callback sets when a Keras epoch begins: a ``tf.Variable``, not a Keras
    one, so that on JAX too it is TensorFlow state that the pipeline reads.

    Under a tf.distribute strategy the pipeline stays as it is: the strategy
    splits each global batch into ``replicas`` consecutive slices, one per
    replica (across workers too: the variable-driven order survives its
    auto-sharding, each worker keeps its own slices), and every worker builds
    the same global batches from (seed, epoch). Keras then averages each
    replica's mean loss, which is the mean over the global batch only when
    the slices are equal; an epoch's last batch often is not (1437 digits in
    batches of 32 end with 29 = 15 + 14). So with ``replicas`` > 1 each
    example gets the sample weight R·n_r/B (B its global batch, n_r its
    slice's size, by tf.distribute's split of a batch of unknown static size
    into slices of ⌈B/R⌉): each replica's loss becomes Σ_slice ℓ / B · R, and
    the gradient, the same as one process on the same global batches. The
    training metrics are weighted alike (weights are 1 on equal slices).

    Returns ``(dataset, callbacks, steps)``: pass the callbacks to ``fit``;
    ``steps`` is the number of batches in one chunk.
    """
    chunk = tf.Variable(0, dtype=tf.int64, trainable=False, name="pipeline_chunk")
    features, labels = tf.constant(x), tf.constant(y)
    n, per_epoch = len(x), math.ceil(len(x) / batch_size)

    def one_epoch(offset):
        epoch = chunk.read_value() * epochs_per_chunk + offset
        order = tf.argsort(tf.random.stateless_uniform([n], seed=tf.stack([seed, epoch])))
        # batched per epoch: an epoch's last, smaller batch stays its own
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    def gather(index):
        batch = (tf.gather(features, index), tf.gather(labels, index))
        if replicas == 1:
            return batch
        return (*batch, _replica_weights(tf.size(index), replicas))

    steps = per_epoch * epochs_per_chunk
    dataset = (
        tf.data.Dataset.range(epochs_per_chunk)
        .flat_map(one_epoch)
        .map(gather)
        .apply(tf.data.experimental.assert_cardinality(steps))
        .prefetch(tf.data.AUTOTUNE)
    )
    return dataset, [_ChunkNumber(chunk)], steps


def _replica_weights(size, replicas):
    """R·n_r/B for each example of a global batch of B = ``size`` examples that
    tf.distribute splits into R = ``replicas`` slices of ⌈B/R⌉ (the last ones
    smaller or empty); n_r is the size of the example's slice."""
    part = (size + replicas - 1) // replicas
    count = tf.minimum(part, size - (tf.range(size) // part) * part)
    return tf.cast(replicas * count, tf.float32) / tf.cast(size, tf.float32)
