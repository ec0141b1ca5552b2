"""What every recipe shares: flags, training custom vs built-in side by side
from the same initial weights, the comparison table, plots and saving.

A recipe supplies the data, a ``build(impl)`` that returns the model for
``impl`` in {"custom", "builtin"}, and a ``compile_args(impl)``; the harness
does the rest, identically for both implementations.
"""

import argparse
import dataclasses
import logging
import math
import pathlib
import re
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
        help="TensorFlow op determinism (default on; --no-deterministic allows "
        "jit_compile and nondeterministic kernels)",
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


def strategy(args):
    """The tf.distribute strategy the flags ask for (the default one for none)."""
    if args.distribute == "mirrored":
        return tf.distribute.MirroredStrategy()
    if args.distribute == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


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


def training_pipeline(x, y, batch_size, seed, epochs_per_chunk=1):
    """A ``tf.data`` pipeline for ``fit``: every epoch a new order of the
    examples, batched and prefetched; one Keras epoch of it runs
    ``epochs_per_chunk`` epochs.

    The order of epoch e is a function of (seed, e) alone (a stateless random
    permutation), not of how many epochs this process has run: a run resumed
    by ``BackupAndRestore`` sees the batches an uninterrupted run sees, and
    two models trained with the same seed see the same batches. The chunk
    number reaches the pipeline through a variable that the returned
    callback sets when a Keras epoch begins.

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

    steps = per_epoch * epochs_per_chunk
    dataset = (
        tf.data.Dataset.range(epochs_per_chunk)
        .flat_map(one_epoch)
        .map(lambda index: (tf.gather(features, index), tf.gather(labels, index)))
        .apply(tf.data.experimental.assert_cardinality(steps))
        .prefetch(tf.data.AUTOTUNE)
    )
    return dataset, [_ChunkNumber(chunk)], steps


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
    from a full evaluation.

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
    rows, trained = {}, {}
    for impl in selected(args):
        model = models[impl]
        with distribution.scope():
            model.compile(**compile_args(impl), **compile_options)
        callbacks = [keras.callbacks.TerminateOnNaN()]
        if args.checkpoint_dir:
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{label or 'model'}-{impl}")
            backup = pathlib.Path(args.checkpoint_dir) / name
            callbacks.insert(0, keras.callbacks.BackupAndRestore(str(backup)))
        if args.tensorboard:
            log_dir = pathlib.Path(args.tensorboard) / f"{label or 'model'}-{impl}"
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(log_dir)))
        keras.utils.set_random_seed(args.seed)
        # The same seed for both twins: the same batches.
        train, pipeline_callbacks, steps = training_pipeline(
            data.x_train, data.y_train, args.batch_size, args.seed, per_chunk
        )
        callbacks[:0] = pipeline_callbacks
        if not args.quiet:
            name = f"{label} {impl}".strip()
            callbacks.append(_Progress(name, args.epochs, per_chunk))
        start = time.perf_counter()
        history = model.fit(
            train,
            epochs=args.epochs // per_chunk,
            steps_per_epoch=steps,
            validation_data=test,
            shuffle=False,  # the pipeline shuffles, with the seed
            verbose=0,
            callbacks=callbacks,
        )
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
            model.save(save_path(args.save, impl, label, len(trained) > 1))
    return rows, trained


def save_path(path, impl, label, suffix):
    path = pathlib.Path(path)
    if suffix or label:
        stem = "-".join(part for part in (path.stem, label, impl if suffix else "") if part)
        path = path.with_name(stem + path.suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
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
    """Print rows (Row objects) with the given metric columns."""
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
    """Learning curves (train and test) of every row on one PNG."""
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
