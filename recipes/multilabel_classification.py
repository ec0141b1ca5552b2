"""Multi-label classification: a sigmoid per class and binary cross-entropy.

What it shows: the notes' multi-label case ("photo with cat & tree ->
[1, 0, 1, 0]") on real images: each handwritten digit carries 4 true
attributes at once, [even, >= 5, prime, closed loop]. One logit per label,
ŷ_i = σ(z_i), and the loss −1/N Σ_i [y_i·log ŷ_i + (1 − y_i)·log(1 − ŷ_i)]
(``BinaryCrossentropy(from_logits=True)`` on 4 outputs). Reports per-label
accuracy and exact match, custom vs built-in, and why softmax is the wrong
choice: its outputs sum to 1, so it cannot say "yes" to several labels.
Notes: "Multi-Label Classification", "Numerical Stability".

    python -m recipes.multilabel_classification [--epochs 40]
"""

import time

import keras
import numpy as np
from keras import ops

import custom_layers
import recipes
from custom_layers import activations
from recipes import data as data_lib
from recipes import harness
from recipes.multiclass_classification import build  # the same network, N logits

DATASET = "digits_multilabel"  # the default --dataset


def compile_args(impl, adam_epsilon="keras"):
    """The notes' multi-label loss: BCE on one logit per label, mean over labels."""
    losses = custom_layers if impl == "custom" else keras.losses
    return {
        "optimizer": harness.adam(impl, 0.003, adam_epsilon),
        "loss": losses.BinaryCrossentropy(from_logits=True),
    }


def label_scores(y_true, probabilities, names):
    """Per-label accuracy and exact match (all labels right) at ŷ >= 0.5."""
    predicted = probabilities >= 0.5
    correct = predicted == y_true.astype(bool)
    scores = {f"acc_{name}": float(correct[:, i].mean()) for i, name in enumerate(names)}
    scores["label_acc"] = float(correct.mean())
    scores["exact_match"] = float(correct.all(axis=-1).mean())
    return scores


def softmax_counterexample(args, data, names):
    """The same network with softmax + categorical CE on the labels scaled to
    sum to 1: a distribution over labels, not independent yes/no answers."""
    keras.utils.set_random_seed(args.seed)
    model = build("custom", data.x_train.shape[1:], len(names))
    compile_options, per_chunk = harness.fit_options(args, len(data.x_train))
    targets = data.y_train / np.maximum(data.y_train.sum(axis=-1, keepdims=True), 1)
    harness.compile_for_fit(
        model,
        (data.x_train[: args.batch_size], targets[: args.batch_size]),
        optimizer=custom_layers.Adam(0.003),
        loss=custom_layers.CategoricalCrossentropy(from_logits=True),
        **compile_options,
    )
    train, callbacks, steps = harness.training_pipeline(
        data.x_train, targets, args.batch_size, args.seed, per_chunk
    )
    start = time.perf_counter()
    model.fit(
        train,
        epochs=args.epochs // per_chunk,
        steps_per_epoch=steps,
        shuffle=False,
        verbose=0,
        callbacks=callbacks,
    )
    seconds = time.perf_counter() - start
    logits = model.predict(data.x_test, verbose=0)
    probabilities = ops.convert_to_numpy(activations.softmax(logits))
    return label_scores(data.y_test, probabilities, names), seconds


def main(argv=None):
    args = harness.parse(harness.parser(__doc__.splitlines()[0], epochs=40, dataset=DATASET), argv)
    data = data_lib.load(args.dataset, args.data_dir, standardize="images", verbose=args.verbose)
    data.y_train, data.y_test = data.y_train.astype("float32"), data.y_test.astype("float32")
    names = list(data.info.metadata.get("label_names", [f"label{i}" for i in range(4)]))
    rows, models = harness.train_side_by_side(
        args,
        data,
        lambda impl: build(impl, data.x_train.shape[1:], data.y_train.shape[1]),
        lambda impl: compile_args(impl, args.adam_epsilon),
        label="sigmoid+BCE",
    )
    for impl, model in models.items():
        logits = model.predict(data.x_test, verbose=0)
        probabilities = ops.convert_to_numpy(activations.sigmoid(logits))
        rows[impl].metrics.update(label_scores(data.y_test, probabilities, names))
    wrong = harness.Row("softmax+CE (wrong choice)", *softmax_counterexample(args, data, names))
    columns = ["label_acc", "exact_match", *[f"acc_{n}" for n in names]]
    harness.print_table(
        f"{args.dataset}: {len(names)} labels at once, test set", [*rows.values(), wrong], columns
    )
    if args.plot:
        harness.plot_histories(args.plot, rows.values(), "loss", f"{args.dataset} BCE")
    return {"rows": rows, "softmax": wrong}


if __name__ == "__main__":
    recipes.spare_the_collector()
    main()
