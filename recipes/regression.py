# %% [markdown]
"""
# Regression: a linear unit and mean squared error

**What it shows.** The notes' "Linear ... used for regression problems" and
"without activation functions, a neural network behaves like simple linear
regression": one `Dense(1)` with no activation, `MeanSquaredError`, and the
notes' full-batch gradient descent (w = w − α·∂J/∂w, J over all m training
examples) on the diabetes data (442 patients, 10 measurements, disease
progression after a year). It reaches the closed-form least-squares fit,
printed as the reference row; `custom_layers` against the Keras built-ins
from the same initial weights.

**Sections of the notes:** "Define the Output", "Loss and Cost", "Training",
"Different Activation Functions".

**Run it** as a script, `python -m recipes.regression [--epochs 500]
[--plot out/diabetes.png]` (`--help` lists every flag); as a notebook,
`jupytext --to ipynb recipes/regression.py`; or from Python,
`main(["--epochs", "30"])`, which returns the results.
"""

# %%
import time

import keras
import numpy as np
from keras import ops

import custom_layers
from recipes import cli, compare, pictures, training
from recipes import data as data_lib

DATASET = "diabetes"  # the default --dataset

# %% [markdown]
"""
## The formula, by hand, on real patients

f = w·x + b for a few training patients, with w and b from an untrained
`custom_layers.Dense(1)`, and the squared error. The notes' cost is
J = 1/(2m)·Σ(f − y)²; Keras' `MeanSquaredError`, and its custom twin, take
the mean of the squares without the ½, so its gradients are twice the
notes' (the learning rate absorbs the factor). Both are checked here.
"""


# %%
def check_the_formula(x, y):
    """f = w·x + b and the squared-error cost by hand against custom_layers."""
    dense = custom_layers.Dense(1)
    f_custom = ops.convert_to_numpy(dense(x))[:, 0]
    w, b = (ops.convert_to_numpy(v) for v in (dense.kernel, dense.bias))
    f = x @ w[:, 0] + b[0]  # f = w·x + b
    notes_cost = np.sum((f - y) ** 2) / (2 * len(y))  # J = 1/(2m)·Σ(f − y)²
    mse = float(custom_layers.MeanSquaredError()(y[:, None], f[:, None]))
    np.testing.assert_allclose(f_custom, f, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mse, 2 * notes_cost, rtol=1e-5)
    print(
        f"{len(x)} patients: max |w·x + b by hand − custom Dense| = "
        f"{np.max(np.abs(f - f_custom)):.1e}; the notes' J = {notes_cost:.6f}, "
        f"custom MeanSquaredError = {mse:.6f} (= 2·J)"
    )
    return {"dense_gap": float(np.max(np.abs(f - f_custom))), "cost": float(notes_cost)}


# %% [markdown]
"""
## The model, and the reference

f(x) = w·x + b: one `Dense` unit, linear. The closed-form least-squares fit
[w; b] = argmin ‖[X 1]·[w; b] − y‖² is what gradient descent should reach.
"""


# %%
def build_model(layers, features=10):
    return keras.Sequential([keras.Input((features,)), layers.Dense(1)])


def least_squares(x_train, y_train, x_test):
    design = np.hstack([x_train, np.ones((len(x_train), 1))]).astype("float64")
    coef, *_ = np.linalg.lstsq(design, y_train.astype("float64"), rcond=None)
    return np.hstack([x_test, np.ones((len(x_test), 1))]) @ coef


def r2_score(y, prediction):
    """Coefficient of determination 1 − Σ(y − f)² / Σ(y − ȳ)²."""
    y, prediction = np.ravel(y), np.ravel(prediction)
    return 1.0 - np.sum((y - prediction) ** 2) / np.sum((y - y.mean()) ** 2)


# %% [markdown]
"""
## Compile, fit, evaluate: custom against built-in

One batch larger than the 353 training rows: each epoch is one step of the
notes' gradient descent on the whole J. (Mini-batches of 64 at α = 0.1 end
anywhere between R² 0.29 and 0.34, depending on the shuffling.) The target
is standardised with the training split's statistics; R² and the error are
reported on the original scale.
"""

# %%
FULL_BATCH = 1024


def main(argv=None):
    p = cli.parser(__doc__, epochs=500, dataset=DATASET, batch_size=FULL_BATCH)
    args = cli.parse(p, argv)
    data = data_lib.load(args.dataset, args.data_dir, standardize="features", verbose=args.verbose)
    y_mean, y_std = float(data.y_train.mean()), float(data.y_train.std())
    print(f"{args.dataset}: {len(data.x_train)} training and {len(data.x_test)} test examples")
    formula = check_the_formula(data.x_train[:8], (data.y_train[:8] - y_mean) / y_std)
    scaled = data_lib.Data(
        data.name,
        data.x_train,
        (data.y_train - y_mean) / y_std,
        data.x_test,
        (data.y_test - y_mean) / y_std,
        data.info,
    )

    run = training.Run(args, scaled, label="linear")
    with run.scope():
        custom = build_model(custom_layers, data.x_train.shape[1])
        builtin = build_model(keras.layers, data.x_train.shape[1])
        builtin.set_weights(custom.get_weights())
        custom.compile(
            optimizer=custom_layers.GradientDescent(0.2),
            loss=custom_layers.MeanSquaredError(),
            steps_per_execution=run.steps_per_execution,
        )
        builtin.compile(
            optimizer=keras.optimizers.SGD(0.2),
            loss=keras.losses.MeanSquaredError(),
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
    predictions = {}
    for impl, model in (("custom", custom), ("builtin", builtin)):
        if impl in rows:
            prediction = model.predict(data.x_test, verbose=0)[:, 0] * y_std + y_mean
            rows[impl].metrics["r2"] = r2_score(data.y_test, prediction)
            rows[impl].metrics["rmse"] = float(np.sqrt(np.mean((prediction - data.y_test) ** 2)))
            predictions[rows[impl].name] = prediction

    start = time.perf_counter()
    closed_form = least_squares(data.x_train, data.y_train, data.x_test)
    reference = compare.Row(
        "least squares (closed form)",
        {
            "r2": r2_score(data.y_test, closed_form),
            "rmse": float(np.sqrt(np.mean((closed_form - data.y_test) ** 2))),
        },
        time.perf_counter() - start,
    )
    title = f"{args.dataset}: linear regression, test set"
    compare.print_table(title, [*rows.values(), reference], ["r2", "rmse"])
    if compare.drawing(args):
        predictions[reference.name] = closed_form
        draw(args, rows, data.y_test, predictions)
    return {"rows": rows, "reference": reference, "formula": formula}


# %% [markdown]
"""
## Pictures

The learning curves (mean squared error on the standardised target), and
each model's predicted progression against the true one on the test
patients: a perfect model puts every point on the diagonal.
"""


# %%
def draw(args, rows, y_test, predictions):
    curves = pictures.learning_curves(
        compare.histories(rows.values()), "loss", f"{args.dataset} MSE"
    )
    pictures.show(curves, compare.picture_path(args))
    scatter = pictures.predicted_vs_true(y_test, predictions, title=f"{args.dataset}, test set")
    pictures.show(scatter, compare.picture_path(args, "predictions"))


# %%
if __name__ == "__main__":
    results = cli.run(main)
