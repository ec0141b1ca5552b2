# %% [markdown]
"""
# Multi-class classification: softmax and its cross-entropy

**What it shows.** The notes' softmax turns the N logits of an example into
probabilities, a_j = e^{z_j} / Σ_k e^{z_k}, and its cost is the
cross-entropy J = −1/m Σ_i log a_{y⁽ⁱ⁾}. Here a small network learns the ten
classes of 1,797 real handwritten digits (8×8 pixels) with a linear last
layer and `SparseCategoricalCrossentropy(from_logits=True)`, the numerically
stable form, trained with Adam: once from `custom_layers`, once from the
Keras built-ins, from the same initial weights, on the same batches.

**Sections of the notes:** "Softmax — Generalization of Logistic
Regression", "Softmax Cross-Entropy Loss", "Numerical Stability", "Adam
Optimizer".

**Run it** as a script, `python -m recipes.multiclass_classification
[--epochs 30] [--plot out/digits.png]` (`--help` lists every flag); as a
notebook, `jupytext --to ipynb recipes/multiclass_classification.py`; or from
Python, `main(["--epochs", "5"])`, which returns the results.
"""

# %%
import keras
import numpy as np
from keras import ops

import custom_layers
from recipes import cli, compare, pictures, training
from recipes import data as data_lib

DATASET = "digits"  # the default --dataset

# %% [markdown]
"""
## The formula, by hand, on real digits

The logits z of a few training digits come from an untrained
`custom_layers.Dense(10)`. NumPy then computes the notes' softmax and the
cost from them, and both must equal what `custom_layers` computes.
"""


# %%
def check_the_formula(x, y, classes=10):
    """Softmax and the softmax cross-entropy by hand against custom_layers."""
    z = ops.convert_to_numpy(custom_layers.Dense(classes)(x.reshape(len(x), -1)))
    a = np.exp(z) / np.sum(np.exp(z), axis=1, keepdims=True)  # a_j = e^z_j / Σ_k e^z_k
    cost = np.mean(-np.log(a[np.arange(len(y)), y]))  # J = −1/m Σ log a_y
    a_custom = ops.convert_to_numpy(custom_layers.softmax(z))
    loss = custom_layers.SparseCategoricalCrossentropy(from_logits=True)
    cost_custom = float(loss(y, z))
    np.testing.assert_allclose(a_custom, a, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(cost_custom, cost, rtol=1e-5)
    print(
        f"softmax of {len(x)} digits: max |a by hand − custom_layers.softmax| = "
        f"{np.max(np.abs(a - a_custom)):.1e}; J by hand {cost:.6f}, custom loss {cost_custom:.6f}"
    )
    return {"softmax_gap": float(np.max(np.abs(a - a_custom))), "cost": float(cost)}


# %% [markdown]
"""
## Build the model

Flatten the 64 pixels, a hidden `Dense(64, activation="relu")`, and a last
`Dense(10)` with no activation: its outputs are the logits z_j = w_j·x + b_j,
and the loss applies the softmax itself (`from_logits=True`). `layers` is
`custom_layers` or `keras.layers`: the same model from either.
"""


# %%
def build_model(layers, input_shape=(8, 8, 1), classes=10):
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(classes),
        ]
    )


# %% [markdown]
"""
## Compile, fit, evaluate: custom against built-in

`training.Run` turns the flags into the input and the callbacks: every epoch
the training digits in a new order drawn from `--seed`, the same batches for
both models; one Keras epoch runs `--validate-every` passes over the data,
and the losses are logged once per such chunk. The built-in model starts
from the custom model's initial weights.
"""


# %%
def main(argv=None):
    args = cli.parse(cli.parser(__doc__, epochs=30, dataset=DATASET), argv)
    data = data_lib.load(args.dataset, args.data_dir, standardize="images", verbose=args.verbose)
    classes = int(data.y_train.max()) + 1
    print(f"{args.dataset}: {len(data.x_train)} training and {len(data.x_test)} test images")
    formula = check_the_formula(data.x_train[:8], data.y_train[:8], classes)

    run = training.Run(args, data, label="mlp")
    with run.scope():
        custom = build_model(custom_layers, data.x_train.shape[1:], classes)
        builtin = build_model(keras.layers, data.x_train.shape[1:], classes)
        builtin.set_weights(custom.get_weights())
        custom.compile(
            optimizer=custom_layers.Adam(0.003, epsilon_placement=args.adam_epsilon),
            loss=custom_layers.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            steps_per_execution=run.steps_per_execution,
        )
        builtin.compile(
            optimizer=keras.optimizers.Adam(0.003),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
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

    title = f"{args.dataset}: softmax regression MLP, test set"
    compare.print_table(title, rows.values(), ["accuracy", "loss"])
    if compare.drawing(args):
        draw(args, rows, custom if "custom" in rows else builtin, data)
    return {"rows": rows, "formula": formula}


# %% [markdown]
"""
## Pictures

The learning curves of both models (custom wide and pale, built-in thin on
top: where they coincide, both stay visible), and the confusion matrix of the
custom model on the test digits: row = the true digit, column = the
predicted one.
"""


# %%
def draw(args, rows, model, data):
    curves = pictures.learning_curves(compare.histories(rows.values()), "loss", args.dataset)
    pictures.show(curves, compare.picture_path(args))
    predicted = np.argmax(model.predict(data.x_test, verbose=0), axis=-1)
    matrix = pictures.confusion_matrix(data.y_test, predicted, title=f"{args.dataset}, test set")
    pictures.show(matrix, compare.picture_path(args, "confusion"))


# %%
if __name__ == "__main__":
    results = cli.run(main)
