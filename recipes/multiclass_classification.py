"""Multi-class classification: softmax and its cross-entropy on handwritten digits.

What it shows: the notes' softmax a_j = e^z_j / Σ_k e^z_k and the cost
J = −1/m Σ_i Σ_j 1{y⁽ⁱ⁾ = j}·log a_j, evaluated stably from the logits
(linear last layer + ``SparseCategoricalCrossentropy(from_logits=True)``),
trained with Adam; custom parts vs Keras built-ins from the same initial
weights. Notes: "Softmax — Generalization of Logistic Regression",
"Softmax Cross-Entropy Loss", "Numerical Stability", "Adam Optimizer".

    python -m recipes.multiclass_classification [--epochs 30] [--impl both]
"""

import keras

import custom_layers
import recipes
from recipes import data as data_lib
from recipes import harness

DATASET = "digits"  # the default --dataset

# ---------------------------------------------------------------- the model


def build(impl, input_shape=(8, 8, 1), classes=10):
    """64 pixels -> Dense(64, relu) -> Dense(10) logits z_j = w_j·x + b_j."""
    dense = custom_layers.Dense if impl == "custom" else keras.layers.Dense
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            dense(64, activation="relu"),
            dense(classes),
        ]
    )


def compile_args(impl, adam_epsilon="keras", learning_rate=0.003):
    """Softmax cross-entropy from the logits, Adam, accuracy."""
    losses = custom_layers if impl == "custom" else keras.losses
    return {
        "optimizer": harness.adam(impl, learning_rate, adam_epsilon),
        "loss": losses.SparseCategoricalCrossentropy(from_logits=True),
        "metrics": ["accuracy"],
    }


# --------------------------------------------------------------------- main


def main(argv=None):
    args = harness.parse(harness.parser(__doc__.splitlines()[0], epochs=30, dataset=DATASET), argv)
    data = data_lib.load(args.dataset, args.data_dir, standardize="images", verbose=args.verbose)
    rows, _ = harness.run_and_report(
        args,
        data,
        lambda impl: build(impl, data.x_train.shape[1:], int(data.y_train.max()) + 1),
        lambda impl: compile_args(impl, args.adam_epsilon),
        label="mlp",
        title=f"{args.dataset}: softmax regression MLP, test set",
        columns=["accuracy", "loss"],
    )
    return {"rows": rows}


if __name__ == "__main__":
    recipes.spare_the_collector()
    main()
