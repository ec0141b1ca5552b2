"""What every recipe shares: flags, training custom vs built-in side by side
from the same initial weights, the comparison table, plots and saving.

A recipe supplies the data, a ``build(impl)`` that returns the model for
``impl`` in {"custom", "builtin"}, and a ``compile_args(impl)``; the harness
does the rest, identically for both implementations.

The recipes run on TensorFlow and on JAX (``KERAS_BACKEND=jax``). Their
input is ``tf.data`` on both: TensorFlow runs the pipelines on the host and
Keras on JAX reads them. What differs between the backends is in one
section below ("what differs between backends").
"""

import argparse
import atexit
import dataclasses
import json
import logging
import math
import pathlib
import re
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

IMPLS = ("custom", "builtin")


def parser(description, epochs, dataset, batch_size=32):
    """The flags every recipe takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--impl", choices=(*IMPLS, "both"), default="both")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds initial weights, shuffling and kernels: two runs are identical",
    )
    p.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="TensorFlow op determinism: the model's on TensorFlow, the tf.data input's on "
        "any backend (default on; --no-deterministic allows jit_compile and "
        "nondeterministic kernels on TensorFlow)",
    )
    p.add_argument(
        "--validate-every",
        type=int,
        default=None,
        metavar="N",
        help="report the training loss and the test-set loss every N epochs; N divides "
        "--epochs (default: the largest divisor of --epochs up to --epochs/10)",
    )
    p.add_argument("--dataset", default=dataset, help="local builder or TFDS catalog name")
    p.add_argument("--data-dir", default=None, help="TFDS data directory")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's, absl's and TFDS' own log lines (hidden by default)",
    )
    p.add_argument("--plot", metavar="PATH", help="write learning curves as a PNG")
    p.add_argument("--save", metavar="PATH", help="save the trained model(s) as .keras")
    p.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard logs")
    p.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help="back up each epoch there; a rerun after a crash or kill resumes "
        "from the last finished epoch (keras.callbacks.BackupAndRestore)",
    )
    p.add_argument(
        "--distribute",
        choices=("none", "mirrored", "multi-worker"),
        default="none",
        help="train under tf.distribute: 'mirrored' (all local devices) or "
        "'multi-worker' (MultiWorkerMirroredStrategy, cluster from TF_CONFIG)",
    )
    p.add_argument(
        "--adam-epsilon",
        choices=("keras", "notes"),
        default="keras",
        help="custom Adam's epsilon placement: 'keras' (the default here, so that "
        "custom and built-in differ only in implementation) or the notes' θ −= η·m̂/(√v̂ + ε)",
    )
    return p


def parse(p, argv):
    args = p.parse_args(argv)
    refusal = distribute_refusal(args.distribute)
    if refusal:
        p.error(refusal)
    keep_tensorflow_off_the_gpus()
    if args.distribute == "multi-worker":
        multi_worker_strategy()  # before any TensorFlow op of this process
    for flag in ("epochs", "batch_size", "validate_every"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            p.error(f"--{flag.replace('_', '-')} must be positive, got {value}")
    if args.save and not args.save.endswith(".keras"):
        p.error(f"--save must end in .keras, got {args.save!r}")
    if args.validate_every is None:
        limit = math.ceil(args.epochs / 10)
        args.validate_every = max(d for d in range(1, limit + 1) if args.epochs % d == 0)
    elif args.epochs % args.validate_every:
        p.error(f"--validate-every {args.validate_every} must divide --epochs {args.epochs}")
    quiet_logs(not args.verbose)
    if args.quiet:
        import tensorflow_datasets as tfds

        tfds.disable_progress_bar()
    # --seed N: the same initial weights, shuffling and kernels on every run.
    keras.utils.set_random_seed(args.seed)
    if args.deterministic:
        tf.config.experimental.enable_op_determinism()
    if args.distribute == "multi-worker":
        _chief_prepares_data(args)
    return args


def quiet_logs(quiet=True):
    """Keep framework log lines (TensorFlow's Python logger, absl, TFDS) off
    the console, or bring them back. TensorFlow's C++ lines are silenced by
    the ``recipes`` package before TensorFlow is imported."""
    import absl.logging

    level = logging.ERROR if quiet else logging.INFO
    tf.get_logger().setLevel(level)
    logging.getLogger("tensorflow_datasets").setLevel(level)
    absl.logging.set_verbosity(absl.logging.ERROR if quiet else absl.logging.INFO)


# ------------------------------------------------ what differs between backends
#
# Everything else in the recipes is Keras, NumPy or tf.data (input, which
# TensorFlow runs on the host for either backend).


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
    """``model.compile(**compile_kwargs)``, then, on TensorFlow, the
    optimizer's and the compiled metrics' variables built before ``fit``.

    Without a tf.distribute strategy Keras on TensorFlow creates those
    variables inside the first trace of the train step, and a ``tf.function``
    whose first trace creates variables is traced a second time: each new
    model paid twice for its step (about 0.6 s per model on 2 cores,
    measured). Built here (the metrics by one eager forward pass on
    ``example_batch`` = (x, y), their state then reset), the step is traced
    once, with the same variables and the same training. Under a strategy,
    and on JAX, Keras builds them itself before tracing.
    """
    model.compile(**compile_kwargs)
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


def strategy(args):
    """The tf.distribute strategy the flags ask for (the default one for none)."""
    if args.distribute == "mirrored":
        return mirrored_strategy()
    if args.distribute == "multi-worker":
        return multi_worker_strategy()
    return tf.distribute.get_strategy()


_MIRRORED = []  # this process' MirroredStrategy, once made


def mirrored_strategy():
    """This process' ``MirroredStrategy`` over every local device, made once.

    Two ``MirroredStrategy`` objects in one process hand out the same
    collective-op keys, so on several devices the second one's first
    all-reduce meets the first one's and fails ("Shape mismatch in the
    collective instance 100"). ``python -m recipes --jobs 1`` runs every
    recipe in one process: they all train under this one. Code of your own
    that trains under its own ``MirroredStrategy`` before calling a recipe's
    ``main`` in the same process should use this one instead.
    """
    if not _MIRRORED:
        _MIRRORED.append(_MirroredStrategy())
    return _MIRRORED[0]


# ------------------------------------------------------- multi-worker training
#
# Every worker runs the same program on the same flags; ``TF_CONFIG`` tells
# each one the cluster and its own place in it. All workers take part in every
# step, evaluation, save and backup (a collective op waits for all of them);
# only the chief's writes are kept: the others write into a scratch folder
# that is removed when the process ends. Tables, plots and progress lines are
# the chief's alone.

_MULTI_WORKER = []  # this process' MultiWorkerMirroredStrategy, once made
_SCRATCH = []


class _KerasReduce:
    """A strategy's ``reduce`` that accepts what Keras asks of it.

    Keras 3.15's ``fit`` and ``evaluate`` call ``strategy.reduce`` twice in
    ways the mirrored strategies refuse (Keras issue 20585):

    - on the first (x, y) batch, as one nested structure, only to learn the
      input shapes. A nested structure is answered here with the first local
      replica's values, not reduced: the shapes are the same, and a reduce
      fails wherever the replicas' slices differ in size (the diabetes test
      set is one batch of 89: 45 + 44 on two devices; 353 examples over two
      workers: 177 + 176).
    - (multi-worker) on every step's scalar metrics with ``axis=0``: a scalar
      is reduced across the replicas only (``axis=None``), which is what
      Keras does with it under MirroredStrategy.

    Every other value is reduced as by the strategy itself.
    """

    def reduce(self, reduce_op, value, axis):
        if isinstance(value, (tuple, list, dict)):
            return tf.nest.map_structure(
                lambda item: None if item is None else self.experimental_local_results(item)[0],
                value,
            )
        if axis is not None:
            local = self.experimental_local_results(value)[0]
            if local.shape.rank == 0:
                axis = None
        return super().reduce(reduce_op, value, axis)


class _MirroredStrategy(_KerasReduce, tf.distribute.MirroredStrategy):
    """``MirroredStrategy`` (every local device) with ``_KerasReduce``."""


class _MultiWorkerStrategy(_KerasReduce, tf.distribute.MultiWorkerMirroredStrategy):
    """``MultiWorkerMirroredStrategy`` with ``_KerasReduce``."""


def multi_worker_strategy():
    """This process' ``MultiWorkerMirroredStrategy`` (cluster from ``TF_CONFIG``).

    Made once per process and reused (``python -m recipes`` runs every recipe
    in one process): TensorFlow configures its collective ops when the
    strategy is created, which it accepts only before the process has run any
    TensorFlow op. ``parse`` therefore makes it before anything else.
    """
    refusal = distribute_refusal("multi-worker")
    if refusal:
        raise ValueError(refusal)
    if not _MULTI_WORKER:
        try:
            _MULTI_WORKER.append(_MultiWorkerStrategy())
        except RuntimeError as error:
            raise RuntimeError(
                "--distribute multi-worker: the strategy must be created before this process "
                f"runs any TensorFlow op, and something ran one first ({error})"
            ) from error
    return _MULTI_WORKER[0]


def in_cluster():
    """Whether this process is one worker of a ``--distribute multi-worker`` run."""
    return bool(_MULTI_WORKER)


def _chief_prepares_data(args):
    """The chief builds (or downloads) the data set first; the other workers
    wait for it, then read it. Workers that share TFDS' data directory (one
    machine, or a shared ``--data-dir``) would otherwise build the same data
    set at once and collide; with a folder per host, each other worker then
    builds its own copy, alone."""
    from recipes import data as data_lib

    if is_chief():
        data_lib.prepared_builder(args.dataset, args.data_dir, args.verbose)
    _barrier()


def _barrier():
    """Return once every worker has called it (an all-reduce of one number)."""
    distribution = multi_worker_strategy()
    distribution.reduce("SUM", distribution.run(lambda: tf.constant(1.0)), axis=None)


def worker_name():
    """This process' place in the cluster ("worker 1 of 2"), or ""."""
    if not _MULTI_WORKER:
        return ""
    resolver = _MULTI_WORKER[0].cluster_resolver
    count = sum(len(tasks) for tasks in resolver.cluster_spec().as_dict().values())
    return f"{resolver.task_type} {resolver.task_id} of {count}"


def is_chief():
    """Whether this process writes the results: always, except on the
    non-chief workers of a multi-worker run."""
    return not _MULTI_WORKER or _MULTI_WORKER[0].extended.should_checkpoint


def worker_path(path):
    """``path`` on the chief; on another worker the same name inside this
    process' scratch folder (removed at exit), so that every worker makes the
    same save calls and only the chief's files remain."""
    if is_chief():
        return pathlib.Path(path)
    if not _SCRATCH:
        _SCRATCH.append(pathlib.Path(tempfile.mkdtemp(prefix="recipes-worker-")))
        atexit.register(shutil.rmtree, _SCRATCH[0], ignore_errors=True)
    return _SCRATCH[0] / pathlib.Path(path).name


class _Backup(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` whose backup survives a kill at any moment.

    Keras writes a backup in place: the weights file, then the metadata file
    (the epoch), truncated first. A process killed while it writes one of
    them left a backup the rerun could not read: a truncated weights file,
    or an empty metadata file on which the rerun stopped with a
    ``JSONDecodeError``. Here the previous backup is kept beside the current
    one (Keras' ``double_checkpoint``), and an unreadable metadata file
    counts as a damaged backup, as a damaged weights file already does in
    Keras: the rerun resumes from the previous backup, whose weights and
    epoch belong together.
    """

    def __init__(self, backup_dir):
        super().__init__(backup_dir, double_checkpoint=True)

    def _load_model(self):
        try:
            super()._load_model()
        except ValueError as error:  # JSONDecodeError: written in part, or not at all
            raise OSError(
                f"the backup's metadata {self._training_metadata_path} is unreadable "
                f"({error}) and no previous backup is there: delete {self.backup_dir} "
                "to start over"
            ) from error


class _SharedBackup(_Backup):
    """``BackupAndRestore`` for a non-chief worker: it resumes from the
    chief's backup in ``shared_dir`` and backs up into its own scratch copy.

    Keras' callback reads and writes one folder and deletes it at the end, so
    two workers on one folder would write the same files at once, and one
    would delete the other's. Here the chief keeps the plain callback on
    ``--checkpoint-dir``; each other worker copies the chief's backup when
    training begins (all workers then hold the same weights and epoch) and
    writes its own backups where no one reads them. ``--checkpoint-dir`` must
    therefore be a folder every worker can read: on one machine any folder,
    on a cluster a shared file system.
    """

    def __init__(self, shared_dir):
        super().__init__(str(worker_path(shared_dir)))
        self.shared_dir = pathlib.Path(shared_dir)

    def on_train_begin(self, logs=None):
        shutil.rmtree(self.backup_dir, ignore_errors=True)
        if self.shared_dir.is_dir():
            shutil.copytree(self.shared_dir, self.backup_dir)
        super().on_train_begin(logs)


def _backup_callback(backup_dir):
    if is_chief():
        return _Backup(str(backup_dir))
    return _SharedBackup(backup_dir)


def adam(impl, learning_rate, epsilon_placement="keras"):
    """The custom or the built-in Adam (the custom one with the chosen ε placement)."""
    if impl == "custom":
        import custom_layers

        return custom_layers.Adam(learning_rate, epsilon_placement=epsilon_placement)
    return keras.optimizers.Adam(learning_rate)


def selected(args):
    return IMPLS if args.impl == "both" else (args.impl,)


@dataclasses.dataclass
class Row:
    """One line of a recipe's comparison table."""

    name: str
    metrics: dict
    fit_seconds: float
    max_weight_diff: float | None = None
    history: dict | None = None
    epochs: list | None = None  # the epochs (from 1) at which the history's entries end


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


class _Progress(keras.callbacks.Callback):
    """One line per chunk of epochs: "epochs 7-12/60  loss ...  val_loss ..."."""

    def __init__(self, label, epochs, per_chunk):
        super().__init__()
        self.label, self.epochs, self.per_chunk = label, epochs, per_chunk

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        first, last = epoch * self.per_chunk + 1, (epoch + 1) * self.per_chunk
        span = f"{first}-{last}" if last > first else f"{last}"
        values = "  ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items())
        seconds = time.perf_counter() - self.start
        print(f"{self.label}: epochs {span}/{self.epochs}  {values}  ({seconds:.2f} s)", flush=True)


def fit_options(args, n_train):
    """How every recipe's ``fit`` runs, for both twins alike.

    On these small data sets Keras' overhead per step and per epoch, not the
    arithmetic, was most of the time. So one Keras epoch runs
    ``--validate-every`` epochs of the data (a chunk), and one graph
    execution runs a whole chunk (``steps_per_execution``); the training and
    test-set losses are reported once per chunk, and the final metrics come
    from a full evaluation. (On JAX, Keras runs such an execution as a
    Python loop of compiled steps: there it saves the per-step callbacks.)

    Returns (compile options, epochs per chunk).
    """
    per_chunk = args.validate_every
    steps = math.ceil(n_train / args.batch_size) * per_chunk
    if args.distribute != "none":
        # Keras 3.15's multi-step loop fails under MirroredStrategy on TF 2.21
        # ("You must feed a value for placeholder tensor 'while/cond/Placeholder'"):
        # one step per execution there.
        steps = 1
    return {"steps_per_execution": steps}, per_chunk


def train_side_by_side(args, data, build, compile_args, label=""):
    """Build both models (the built-in gets the custom one's initial
    weights), train the selected ones on the same batches, evaluate.

    Returns ({impl: Row}, {impl: model}).
    """
    compile_options, per_chunk = fit_options(args, len(data.x_train))
    test = pipeline(data.x_test, data.y_test, args.batch_size)
    keras.utils.set_random_seed(args.seed)
    distribution = strategy(args)
    with distribution.scope():  # models and optimizers are created in the strategy's scope
        models = {impl: build(impl) for impl in IMPLS}
        models["builtin"].set_weights(models["custom"].get_weights())
    example = (data.x_train[: args.batch_size], data.y_train[: args.batch_size])
    rows, trained = {}, {}
    for impl in selected(args):
        model = models[impl]
        with distribution.scope():
            compile_for_fit(model, example, **compile_args(impl), **compile_options)
        callbacks = [keras.callbacks.TerminateOnNaN()]
        backup = None
        if args.checkpoint_dir:
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{label or 'model'}-{impl}")
            backup = pathlib.Path(args.checkpoint_dir) / name
            callbacks.insert(0, _backup_callback(backup))
        if args.tensorboard:
            log_dir = worker_path(pathlib.Path(args.tensorboard) / f"{label or 'model'}-{impl}")
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(log_dir)))
        keras.utils.set_random_seed(args.seed)
        # The same seed for both twins: the same batches.
        train, pipeline_callbacks, steps = training_pipeline(
            data.x_train,
            data.y_train,
            args.batch_size,
            args.seed,
            per_chunk,
            distribution.num_replicas_in_sync,
        )
        callbacks[:0] = pipeline_callbacks
        if not args.quiet and is_chief():
            name = f"{label} {impl}".strip()
            callbacks.append(_Progress(name, args.epochs, per_chunk))
        start = time.perf_counter()
        try:
            history = model.fit(
                train,
                epochs=args.epochs // per_chunk,
                steps_per_epoch=steps,
                validation_data=test,
                shuffle=False,  # the pipeline shuffles, with the seed
                verbose=0,
                callbacks=callbacks,
            )
        except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError) as error:
            if not _MULTI_WORKER:
                raise
            message = _lost_worker_message(label, impl, backup, error, per_chunk, args.epochs)
            raise RuntimeError(message) from error
        seconds = time.perf_counter() - start
        losses = history.history["loss"]
        if model.stop_training or not np.isfinite(losses[-1]):  # TerminateOnNaN stopped it
            epoch = (history.epoch[-1] + 1) * per_chunk if history.epoch else 0
            raise RuntimeError(
                f"{label or 'model'} ({impl}): training stopped at epoch {epoch} "
                f"with loss {losses[-1]}"
            )
        metrics = model.evaluate(test, verbose=0, return_dict=True)
        ends = [(chunk + 1) * per_chunk for chunk in history.epoch]
        rows[impl] = Row(f"{label} {impl}".strip(), metrics, seconds, None, history.history, ends)
        trained[impl] = model
    if len(trained) == 2:
        diff = max_weight_diff(trained["custom"], trained["builtin"])
        for row in rows.values():
            row.max_weight_diff = diff
    if args.save:
        for impl, model in trained.items():
            path = worker_path(save_path(args.save, impl, label, len(trained) > 1))
            path.parent.mkdir(parents=True, exist_ok=True)
            model.save(path)
    return rows, trained


def _lost_worker_message(label, impl, backup, error, per_chunk, epochs):
    """What a worker says when the cluster broke down under it."""
    detail = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", getattr(error, "message", str(error)))
    detail = " ".join(detail.split())
    if len(detail) > 400:
        detail = detail[:400] + " ..."
    message = (
        f"{label or 'model'} ({impl}), {worker_name()}: training stopped because the "
        f"cluster lost a worker ({type(error).__name__}: {detail}). "
    )
    if backup is None:
        return message + "Nothing was backed up (no --checkpoint-dir): the run starts over."
    state = pathlib.Path(backup) / "training_metadata.json"
    done = json.loads(state.read_text())["epoch"] * per_chunk if state.is_file() else 0
    return message + (
        f"The backup in {backup} holds the state after epoch {done} of {epochs}: start every "
        "worker again with the same command (same --checkpoint-dir) to resume from there."
    )


def save_path(path, impl, label, suffix):
    path = pathlib.Path(path)
    if suffix or label:
        stem = "-".join(part for part in (path.stem, label, impl if suffix else "") if part)
        path = path.with_name(stem + path.suffix)
    return path


def max_weight_diff(model_a, model_b):
    return max(
        float(np.max(np.abs(a - b)))
        for a, b in zip(model_a.get_weights(), model_b.get_weights(), strict=True)
    )


def run_and_report(args, data, build, compile_args, label, title, columns):
    """``train_side_by_side``, then the table and, with --plot, the curves."""
    rows, trained = train_side_by_side(args, data, build, compile_args, label)
    print_table(title, rows.values(), columns)
    if args.plot:
        plot_histories(args.plot, rows.values(), "loss", title)
    return rows, trained


def print_table(title, rows, columns):
    """Print rows (Row objects) with the given metric columns (on the chief only)."""
    if not is_chief():
        return
    widths = [max(12, len(c) + 2) for c in columns]
    header = (
        f"{'model':<30}"
        + "".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
        + f"{'fit s':>9}{'max|Δw|':>10}"
    )
    print(f"\n{title}\n{header}\n{'-' * len(header)}")
    for row in rows:
        cells = "".join(
            f"{row.metrics[c]:>{w}.4f}" if c in row.metrics else " " * w
            for c, w in zip(columns, widths, strict=True)
        )
        diff = "" if row.max_weight_diff is None else f"{row.max_weight_diff:.1e}"
        print(f"{row.name:<30}{cells}{row.fit_seconds:>9.3f}{diff:>10}")


def plot_histories(path, rows, metric="loss", title=""):
    """Learning curves (train and test) of every row on one PNG (on the chief only)."""
    if not is_chief():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for row in rows:
        if not row.history:
            continue
        # custom wide and pale, built-in thin on top: where they coincide,
        # both stay visible
        style = {"linewidth": 4, "alpha": 0.5} if "custom" in row.name else {"linewidth": 1.2}
        epochs = row.epochs or range(1, len(row.history[metric]) + 1)
        line = ax.plot(epochs, row.history[metric], label=f"{row.name} train", **style)[0]
        ax.plot(
            epochs,
            row.history[f"val_{metric}"],
            linestyle="--",
            color=line.get_color(),
            label=f"{row.name} test",
            **style,
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, path)


def save_figure(fig, path, dpi=100):
    """Write a matplotlib figure as PNG, creating the folder; close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
