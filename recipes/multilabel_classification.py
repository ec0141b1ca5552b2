# %% [markdown]
"""
# Multi-label classification: a sigmoid per label

**What it shows.** The notes' multi-label case ("photo with cat & tree →
[1, 0, 1, 0]") on real images: each handwritten digit carries 4 true
attributes at once, [even, ≥ 5, prime, closed loop]. One logit per label,
ŷ_i = σ(z_i), and the loss −1/N Σ_i [y_i·log ŷ_i + (1 − y_i)·log(1 − ŷ_i)]
(`BinaryCrossentropy(from_logits=True)` on 4 outputs), `custom_layers`
against the Keras built-ins from the same initial weights; and why softmax
is the wrong choice here: its outputs sum to 1, so it cannot say "yes" to
several labels at once.

**Sections of the notes:** "Multi-Label Classification", "Numerical
Stability".

**Run it** as a script, `python -m recipes.multilabel_classification
[--epochs 40] [--plot out/labels.png]` (`--help` lists every flag); as a
notebook, `jupytext --to ipynb recipes/multilabel_classification.py`; or
from Python, `main(["--epochs", "5"])`, which returns the results.
"""

# %%
import keras
import numpy as np
from keras import ops

import custom_layers
from recipes import cli, compare, pictures, training
from recipes import data as data_lib

# The multi-class recipe's network: 64 pixels -> Dense(64, relu) -> Dense(N)
# logits; here N = 4 labels.
from recipes.multiclass_classification import build_model

DATASET = "digits_multilabel"  # the default --dataset

# %% [markdown]
"""
## The formula, by hand, on real digits

For a few training digits: the 4 logits of an untrained
`custom_layers.Dense(4)`, ŷ = σ(z) label by label, and the loss averaged
over the labels and the examples. Both must equal `custom_layers.sigmoid`
and `custom_layers.BinaryCrossentropy(from_logits=True)`.
"""


# %%
def check_the_formula(x, y):
    """σ per label and the multi-label loss by hand against custom_layers."""
    z = ops.convert_to_numpy(custom_layers.Dense(y.shape[1])(x.reshape(len(x), -1)))
    y_hat = 1 / (1 + np.exp(-z))  # ŷ_i = σ(z_i), one per label
    cost = np.mean(-y * np.log(y_hat) - (1 - y) * np.log(1 - y_hat))
    y_hat_custom = ops.convert_to_numpy(custom_layers.sigmoid(z))
    cost_custom = float(custom_layers.BinaryCrossentropy(from_logits=True)(y, z))
    np.testing.assert_allclose(y_hat_custom, y_hat, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(cost_custom, cost, rtol=1e-5)
    print(
        f"{len(x)} digits × {y.shape[1]} labels: max |σ(z) by hand − custom_layers.sigmoid| = "
        f"{np.max(np.abs(y_hat - y_hat_custom)):.1e}; loss by hand {cost:.6f}, "
        f"custom {cost_custom:.6f}"
    )
    return {"sigmoid_gap": float(np.max(np.abs(y_hat - y_hat_custom))), "cost": float(cost)}


def label_scores(y_true, probabilities, names):
    """Per-label accuracy and exact match (all labels right) at ŷ >= 0.5."""
    correct = (probabilities >= 0.5) == y_true.astype(bool)
    scores = {f"acc_{name}": float(correct[:, i].mean()) for i, name in enumerate(names)}
    scores["label_acc"] = float(correct.mean())
    scores["exact_match"] = float(correct.all(axis=-1).mean())
    return scores


# %% [markdown]
"""
## Compile, fit, evaluate: custom against built-in
"""


# %%
def main(argv=None):
    args = cli.parse(cli.parser(__doc__, epochs=40, dataset=DATASET), argv)
    data = data_lib.load(args.dataset, args.data_dir, standardize="images", verbose=args.verbose)
    data.y_train, data.y_test = data.y_train.astype("float32"), data.y_test.astype("float32")
    names = list(data.info.metadata.get("label_names", [f"label{i}" for i in range(4)]))
    print(f"{args.dataset}: {len(data.x_train)} training images, labels {names}")
    formula = check_the_formula(data.x_train[:8], data.y_train[:8])

    run = training.Run(args, data, label="sigmoid+BCE")
    shape, labels = data.x_train.shape[1:], data.y_train.shape[1]
    with run.scope():
        custom = build_model(custom_layers, shape, labels)
        builtin = build_model(keras.layers, shape, labels)
        builtin.set_weights(custom.get_weights())
        custom.compile(
            optimizer=custom_layers.Adam(0.003, epsilon_placement=args.adam_epsilon),
            loss=custom_layers.BinaryCrossentropy(from_logits=True),
            steps_per_execution=run.steps_per_execution,
        )
        builtin.compile(
            optimizer=keras.optimizers.Adam(0.003),
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
            steps_per_execution=run.steps_per_execution,
        )
    for impl, model in run.selected(custom=custom, builtin=builtin):
        model.fit(
            run.train,
            epochs=run.epochs,
            steps_per_epoch=run.steps,
            validation_data=run.test,
            shuffle=False,  # run.train is shuffled already, by --seed
            callbacks=run.callbacks(impl),
            verbose=0,
        )
    rows = run.evaluate(custom=custom, builtin=builtin)
    for impl, model in (("custom", custom), ("builtin", builtin)):
        if impl in rows:
            logits = model.predict(data.x_test, verbose=0)
            probabilities = ops.convert_to_numpy(custom_layers.sigmoid(logits))
            rows[impl].metrics.update(label_scores(data.y_test, probabilities, names))

    wrong = softmax_counterexample(args, data, names)
    columns = ["label_acc", "exact_match", *[f"acc_{n}" for n in names]]
    title = f"{args.dataset}: {len(names)} labels at once, test set"
    compare.print_table(title, [*rows.values(), wrong], columns)
    if compare.drawing(args):
        draw(args, [*rows.values(), wrong], names)
    return {"rows": rows, "softmax": wrong, "formula": formula}


# %% [markdown]
"""
## The wrong choice: softmax

The same network with a softmax over the 4 outputs and the categorical
cross-entropy, the labels scaled to sum to 1: a distribution over the
labels, not 4 independent yes/no answers. A digit with 3 true labels can
then have at most one probability above 0.5.
"""


# %%
def softmax_counterexample(args, data, names):
    targets = data.y_train / np.maximum(data.y_train.sum(axis=-1, keepdims=True), 1)
    shares = data_lib.Data(data.name, data.x_train, targets, data.x_test, data.y_test, data.info)
    run = training.Run(args, shares, label="softmax+CE")
    with run.scope():
        model = build_model(custom_layers, data.x_train.shape[1:], len(names))
        model.compile(
            optimizer=custom_layers.Adam(0.003),
            loss=custom_layers.CategoricalCrossentropy(from_logits=True),
            steps_per_execution=run.steps_per_execution,
        )
    model.fit(
        run.train,
        epochs=run.epochs,
        steps_per_epoch=run.steps,
        shuffle=False,
        callbacks=run.callbacks("custom"),
        verbose=0,
    )
    logits = model.predict(data.x_test, verbose=0)
    probabilities = ops.convert_to_numpy(custom_layers.softmax(logits))
    seconds = run.fit_seconds("custom")
    return compare.Row(
        "softmax+CE (wrong choice)", label_scores(data.y_test, probabilities, names), seconds
    )


# %% [markdown]
"""
## Pictures

The learning curves of the twins, and each label's test accuracy and the
exact match (all 4 labels right) for the sigmoid models and the softmax one.
"""


# %%
def draw(args, rows, names):
    curves = pictures.learning_curves(compare.histories(rows[:-1]), "loss", f"{args.dataset} BCE")
    pictures.show(curves, compare.picture_path(args))
    scores = {
        row.name: {
            "per_label": [row.metrics[f"acc_{n}"] for n in names],
            "exact_match": row.metrics["exact_match"],
        }
        for row in rows
    }
    bars = pictures.label_accuracy(scores, names, title=f"{args.dataset}, test set")
    pictures.show(bars, compare.picture_path(args, "labels"))


# %%
if __name__ == "__main__":
    results = cli.run(main)
