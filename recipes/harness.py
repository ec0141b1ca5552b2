"""What every recipe shares: flags, training custom vs built-in side by side
from the same initial weights, the comparison table, plots and saving.

A recipe supplies the data, a ``build(impl)`` that returns the model for
``impl`` in {"custom", "builtin"}, and a ``compile_args(impl)``; the harness
does the rest, identically for both implementations.
"""

import argparse
import dataclasses
import os
import pathlib
import re
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", default=dataset, help="local builder or TFDS catalog name")
    p.add_argument("--data-dir", default=None, help="TFDS data directory")
    p.add_argument("--quiet", action="store_true", help="no progress output")
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
    for flag in ("epochs", "batch_size"):
        if getattr(args, flag) <= 0:
            p.error(f"--{flag.replace('_', '-')} must be positive, got {getattr(args, flag)}")
    if args.save and not args.save.endswith(".keras"):
        p.error(f"--save must end in .keras, got {args.save!r}")
    if args.quiet:
        import tensorflow_datasets as tfds

        tfds.disable_progress_bar()
    # --seed N: the same initial weights, shuffling and kernels on every run.
    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    return args


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


def train_side_by_side(args, data, build, compile_args, label=""):
    """Build both models (the built-in gets the custom one's initial
    weights), train the selected ones on the same batches, evaluate.

    Returns ({impl: Row}, {impl: model}).
    """
    keras.utils.set_random_seed(args.seed)
    distribution = strategy(args)
    with distribution.scope():  # models and optimizers are created in the strategy's scope
        models = {impl: build(impl) for impl in IMPLS}
        models["builtin"].set_weights(models["custom"].get_weights())
    rows, trained = {}, {}
    for impl in selected(args):
        model = models[impl]
        with distribution.scope():
            model.compile(**compile_args(impl))
        callbacks = [keras.callbacks.TerminateOnNaN()]
        if args.checkpoint_dir:
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{label or 'model'}-{impl}")
            backup = pathlib.Path(args.checkpoint_dir) / name
            callbacks.insert(0, keras.callbacks.BackupAndRestore(str(backup)))
        if args.tensorboard:
            log_dir = pathlib.Path(args.tensorboard) / f"{label or 'model'}-{impl}"
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(log_dir)))
        keras.utils.set_random_seed(args.seed)  # the same shuffling for both
        start = time.perf_counter()
        history = model.fit(
            data.x_train,
            data.y_train,
            epochs=args.epochs,
            batch_size=args.batch_size,
            validation_data=(data.x_test, data.y_test),
            verbose=0 if args.quiet else 2,
            callbacks=callbacks,
        )
        seconds = time.perf_counter() - start
        losses = history.history["loss"]
        if model.stop_training or not np.isfinite(losses[-1]):  # TerminateOnNaN stopped it
            epoch = history.epoch[-1] + 1 if history.epoch else 0
            raise RuntimeError(
                f"{label or 'model'} ({impl}): training stopped at epoch {epoch} "
                f"with loss {losses[-1]}"
            )
        metrics = model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
        rows[impl] = Row(f"{label} {impl}".strip(), metrics, seconds, None, history.history)
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
        line = ax.plot(row.history[metric], label=f"{row.name} train", **style)[0]
        ax.plot(
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
