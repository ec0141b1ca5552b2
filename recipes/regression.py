"""Regression: a linear output and mean squared error on the diabetes data.

What it shows: the notes' "Linear ... used for regression problems" and
"without activation functions, a neural network behaves like simple linear
regression": one ``Dense(1)`` with no activation, ``MeanSquaredError`` and
the notes' full-batch gradient descent (w = w − α·∂J/∂w, J over all m
training examples) reaches the closed-form least-squares fit, which is
printed as the reference row. Custom parts vs built-ins from
the same initial weights. Notes: "Define the Output", "Loss and Cost",
"Training", "Different Activation Functions".

    python -m recipes.regression [--epochs 500] [--impl both]
"""

import time

import keras
import numpy as np

import custom_layers
import recipes
from recipes import data as data_lib
from recipes import harness

DATASET = "diabetes"  # the default --dataset


def build(impl, features=10):
    """f(x) = w·x + b: one Dense unit, linear."""
    dense = custom_layers.Dense if impl == "custom" else keras.layers.Dense
    return keras.Sequential([keras.Input((features,)), dense(1)])


# Larger than the 353 training rows: one batch, so each epoch is one step of
# the notes' gradient descent on the whole J. (Mini-batches of 64 at α = 0.1
# end anywhere between R² 0.29 and 0.34 depending on the shuffling.)
FULL_BATCH = 1024


def compile_args(impl, learning_rate=0.2):
    if impl == "custom":
        optimizer = custom_layers.GradientDescent(learning_rate)
        loss = custom_layers.MeanSquaredError()
    else:
        optimizer = keras.optimizers.SGD(learning_rate)
        loss = keras.losses.MeanSquaredError()
    return {"optimizer": optimizer, "loss": loss}


def r2_score(y, prediction):
    """Coefficient of determination 1 − Σ(y − f)² / Σ(y − ȳ)²."""
    y, prediction = np.ravel(y), np.ravel(prediction)
    return 1.0 - np.sum((y - prediction) ** 2) / np.sum((y - y.mean()) ** 2)


def least_squares(x_train, y_train, x_test):
    """Closed form: [w; b] = argmin ‖[X 1]·[w; b] − y‖², by lstsq."""
    design = np.hstack([x_train, np.ones((len(x_train), 1))]).astype("float64")
    coef, *_ = np.linalg.lstsq(design, y_train.astype("float64"), rcond=None)
    return np.hstack([x_test, np.ones((len(x_test), 1))]) @ coef


def main(argv=None):
    args = harness.parse(
        harness.parser(__doc__.splitlines()[0], epochs=500, dataset=DATASET, batch_size=FULL_BATCH),
        argv,
    )
    data = data_lib.load(args.dataset, args.data_dir, standardize="features", verbose=args.verbose)
    # Train on a standardised target (statistics from the training split);
    # report R² and the error on the original scale.
    y_mean, y_std = float(data.y_train.mean()), float(data.y_train.std())
    scaled = data_lib.Data(
        data.name,
        data.x_train,
        (data.y_train - y_mean) / y_std,
        data.x_test,
        (data.y_test - y_mean) / y_std,
        data.info,
    )
    rows, models = harness.train_side_by_side(
        args, scaled, lambda impl: build(impl, data.x_train.shape[1]), compile_args, "linear"
    )
    for impl, model in models.items():
        prediction = model.predict(data.x_test, verbose=0)[:, 0] * y_std + y_mean
        rows[impl].metrics["r2"] = r2_score(data.y_test, prediction)
        rows[impl].metrics["rmse"] = float(np.sqrt(np.mean((prediction - data.y_test) ** 2)))

    start = time.perf_counter()
    closed_form = least_squares(data.x_train, data.y_train, data.x_test)
    reference = harness.Row(
        "least squares (closed form)",
        {
            "r2": r2_score(data.y_test, closed_form),
            "rmse": float(np.sqrt(np.mean((closed_form - data.y_test) ** 2))),
        },
        time.perf_counter() - start,
    )
    all_rows = [*rows.values(), reference]
    harness.print_table(f"{args.dataset}: linear regression, test set", all_rows, ["r2", "rmse"])
    if args.plot:
        harness.plot_histories(args.plot, rows.values(), "loss", f"{args.dataset} MSE")
    return {"rows": rows, "reference": reference}


if __name__ == "__main__":
    recipes.spare_the_collector()
    main()
