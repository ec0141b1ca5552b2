"""Training the twins the same way: the input, the epochs and the callbacks
that the flags ask for, for models the recipe builds, compiles and fits
itself. A recipe reads::

    run = training.Run(args, data, label="mlp")
    with run.scope():
        custom, builtin = build(custom_layers), build(keras.layers)
        builtin.set_weights(custom.get_weights())
        custom.compile(..., steps_per_execution=run.steps_per_execution)
        builtin.compile(..., steps_per_execution=run.steps_per_execution)
    for impl, model in run.selected(custom=custom, builtin=builtin):
        model.fit(run.train, epochs=run.epochs, steps_per_epoch=run.steps,
                  validation_data=run.test, callbacks=run.callbacks(impl), verbose=0)
    rows = run.evaluate(custom=custom, builtin=builtin)

On these small data sets Keras' overhead per step and per epoch, not the
arithmetic, is most of the time. So one Keras epoch runs ``--validate-every``
epochs of the data (a chunk), one graph execution runs a whole chunk
(``steps_per_execution``), the training and test-set losses are logged once
per chunk, and the final metrics come from a full evaluation.
"""

import pathlib
import re
import time

import keras
import numpy as np

from recipes import backends, cli, distributed, pipelines
from recipes.compare import Row, max_weight_diff


class Run:
    """One custom/built-in comparison's training, set up from the flags.

    Args:
        args: the parsed flags (``cli.parse``).
        data: a ``recipes.data.Data`` (``x_train``, ``y_train``, ``x_test``, ``y_test``).
        label: the models' name in the progress lines, tables and files.

    Attributes:
        train: the training input: every epoch a new order of the
            examples, drawn from ``--seed``; the same batches for both twins.
        test: the test set, in order.
        epochs: Keras epochs to fit: ``--epochs`` / ``--validate-every``.
        steps: batches per Keras epoch.
        steps_per_execution: batches per graph execution (one Keras epoch).
    """

    def __init__(self, args, data, label):
        self.args, self.data, self.label = args, data, label
        # The models built after this start from the weights of --seed.
        keras.utils.set_random_seed(args.seed)
        self.per_chunk = args.validate_every
        self.epochs = args.epochs // self.per_chunk
        self.distribution = distributed.strategy(args)
        self.train, self._pipeline_callbacks, self.steps = pipelines.training_pipeline(
            data.x_train,
            data.y_train,
            args.batch_size,
            args.seed,
            self.per_chunk,
            self.distribution.num_replicas_in_sync,
        )
        self.test = pipelines.pipeline(data.x_test, data.y_test, args.batch_size)
        # Keras 3.15's multi-step loop fails under MirroredStrategy on TF 2.21
        # ("You must feed a value for placeholder tensor 'while/cond/Placeholder'"):
        # one step per execution there.
        self.steps_per_execution = self.steps if args.distribute == "none" else 1
        self._timers = {}

    def scope(self):
        """Where models and optimizers are made: the tf.distribute strategy's
        scope with ``--distribute``, otherwise a scope that changes nothing."""
        return self.distribution.scope()

    def selected(self, **models):
        """The (impl, model) pairs that ``--impl`` asks to train."""
        wanted = cli.IMPLS if self.args.impl == "both" else (self.args.impl,)
        return [(impl, model) for impl, model in models.items() if impl in wanted]

    def callbacks(self, impl):
        """The callbacks of ``impl``'s fit: the pipeline's epoch number, a
        stop with the reason on a NaN loss, and what the flags ask for
        (progress lines, ``--checkpoint-dir``, ``--tensorboard``). Reseeds,
        so that both twins fit from the same random state."""
        keras.utils.set_random_seed(self.args.seed)
        name = f"{self.label} {impl}"
        example = (
            self.data.x_train[: self.args.batch_size],
            self.data.y_train[: self.args.batch_size],
        )
        self._timers[impl] = _Timer()
        callbacks = [self._timers[impl], *self._pipeline_callbacks]
        backup = None
        if self.args.checkpoint_dir:
            file_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{self.label}-{impl}")
            backup = pathlib.Path(self.args.checkpoint_dir) / file_name
            callbacks.insert(1, distributed.backup_callback(backup))
        if self.args.distribute == "none":  # (a strategy builds them itself)
            callbacks.insert(0, _BuildBeforeTracing(example))
        callbacks.append(_StopOnNaN(f"{self.label} ({impl})", self.per_chunk))
        if self.args.tensorboard:
            log_dir = pathlib.Path(self.args.tensorboard) / f"{self.label}-{impl}"
            callbacks.append(keras.callbacks.TensorBoard(str(distributed.worker_path(log_dir))))
        if not self.args.quiet and distributed.is_chief():
            callbacks.append(_Progress(name, self.args.epochs, self.per_chunk))
        distributed.fitting(self.label, impl, backup, self.per_chunk, self.args.epochs)
        return callbacks

    def fit_seconds(self, impl):
        """How long ``impl``'s last fit took, from its first step to its end."""
        return self._timers[impl].seconds

    def evaluate(self, **models):
        """Each fitted model on the test set, its fit time and learning
        curves; the twins' largest weight gap; ``--save``. Returns {impl: Row}."""
        rows, fitted = {}, {}
        for impl, model in models.items():
            if impl not in self._timers:
                continue
            history = model.history
            metrics = model.evaluate(self.test, verbose=0, return_dict=True)
            ends = [(chunk + 1) * self.per_chunk for chunk in history.epoch]
            seconds = self.fit_seconds(impl)
            rows[impl] = Row(f"{self.label} {impl}", metrics, seconds, None, history.history, ends)
            fitted[impl] = model
        if len(fitted) == 2:
            diff = max_weight_diff(fitted["custom"], fitted["builtin"])
            for row in rows.values():
                row.max_weight_diff = diff
        if self.args.save:
            for impl, model in fitted.items():
                path = save_path(self.args.save, impl, self.label, len(fitted) > 1)
                path = distributed.worker_path(path)
                path.parent.mkdir(parents=True, exist_ok=True)
                model.save(path)
        return rows


def save_path(path, impl, label, suffix):
    """``--save PATH``'s file for one model: PATH's name + label (+ impl)."""
    path = pathlib.Path(path)
    if suffix or label:
        stem = "-".join(part for part in (path.stem, label, impl if suffix else "") if part)
        path = path.with_name(stem + path.suffix)
    return path


class _BuildBeforeTracing(keras.callbacks.Callback):
    """Builds the optimizer's and the compiled metrics' variables when
    training begins, before the first step is traced (``backends.build_for_fit``)."""

    def __init__(self, example_batch):
        super().__init__()
        self.example_batch = example_batch

    def on_train_begin(self, logs=None):
        backends.build_for_fit(self.model, self.example_batch)


class _Timer(keras.callbacks.Callback):
    """The seconds from the start of training to its end."""

    seconds = float("nan")

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self.start


class _StopOnNaN(keras.callbacks.TerminateOnNaN):
    """``TerminateOnNaN``, and then ``fit`` ends in an error that says where."""

    def __init__(self, name, per_chunk):
        super().__init__()
        self.name, self.per_chunk = name, per_chunk
        self.epochs_done, self.last_loss = 0, None

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_done = (epoch + 1) * self.per_chunk
        self.last_loss = (logs or {}).get("loss")

    def on_batch_end(self, batch, logs=None):
        super().on_batch_end(batch, logs)
        if self.model.stop_training:
            self.last_loss = (logs or {}).get("loss")

    def on_train_end(self, logs=None):
        loss = self.last_loss
        if self.model.stop_training or (loss is not None and not np.isfinite(loss)):
            raise RuntimeError(
                f"{self.name}: training stopped at epoch {self.epochs_done or self.per_chunk} "
                f"with loss {loss}"
            )


class _Progress(keras.callbacks.Callback):
    """One line per chunk of epochs: "mlp custom: epochs 7-12/60  loss ...  val_loss ..."."""

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
