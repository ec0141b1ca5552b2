"""Training under tf.distribute: one machine's devices (``--distribute
mirrored``), several workers (``--distribute multi-worker``), and backups
that a rerun resumes from (``--checkpoint-dir``).

Every worker runs the same program on the same flags; ``TF_CONFIG`` tells
each one the cluster and its own place in it. All workers take part in every
step, evaluation, save and backup (a collective op waits for all of them);
only the chief's writes are kept: the others write into a scratch folder
that is removed when the process ends. Tables, plots and progress lines are
the chief's alone.
"""

import atexit
import json
import pathlib
import re
import shutil
import tempfile

import keras
import tensorflow as tf

from recipes import backends


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
    refusal = backends.distribute_refusal("multi-worker")
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


def chief_prepares_data(args):
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


class Backup(keras.callbacks.BackupAndRestore):
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


class _SharedBackup(Backup):
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


def backup_callback(backup_dir):
    if is_chief():
        return Backup(str(backup_dir))
    return _SharedBackup(backup_dir)


def lost_worker_message(label, impl, backup, error, per_chunk, epochs):
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


_FITTING = {}  # this worker's fit in progress: what lost_worker_error reports


def fitting(label, impl, backup, per_chunk, epochs):
    """Note the fit that starts (see ``lost_worker_error``)."""
    _FITTING.update(label=label, impl=impl, backup=backup, per_chunk=per_chunk, epochs=epochs)


def lost_worker_error(error):
    """For an error that ended a multi-worker fit because the cluster lost
    a worker: a ``RuntimeError`` that says so and how to resume (from the
    fit noted by ``fitting``). ``None`` for any other error."""
    lost = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError)
    if not _MULTI_WORKER or not _FITTING or not isinstance(error, lost):
        return None
    return RuntimeError(lost_worker_message(error=error, **_FITTING))
