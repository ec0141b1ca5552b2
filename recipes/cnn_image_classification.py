"""CNN image classification: the notes' Conv2D formula on handwritten digits.

What it shows: ``custom_layers.Conv2D`` (Output[i, j] = Σ_{m,n} Input[i+m, j+n]·Kernel[m, n],
with channels, stride and "same" padding, no built-in convolution) in a
small CNN, trained side by side with ``keras.layers.Conv2D`` from the same
initial weights. Notes: "Convolutional Layer", "Softmax Cross-Entropy Loss",
"Adam Optimizer". Online users can pick a catalog data set: ``--dataset mnist``.

    python -m recipes.cnn_image_classification [--epochs 40] [--dataset digits]
"""

import keras

import custom_layers
import recipes
from recipes import data as data_lib
from recipes import harness, multiclass_classification

DATASET = "digits"  # the default --dataset


def build(impl, input_shape=(8, 8, 1), classes=10):
    """Conv(16, 3, same, relu) -> Conv(32, 3, stride 2, same, relu) -> Dense(classes)."""
    if impl == "custom":
        conv, dense = custom_layers.Conv2D, custom_layers.Dense
    else:
        conv, dense = keras.layers.Conv2D, keras.layers.Dense
    return keras.Sequential(
        [
            keras.Input(input_shape),
            conv(16, 3, padding="same", activation="relu"),
            conv(32, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Flatten(),
            dense(classes),
        ]
    )


def main(argv=None):
    args = harness.parse(harness.parser(__doc__.splitlines()[0], epochs=40, dataset=DATASET), argv)
    data = data_lib.load(args.dataset, args.data_dir, standardize="images", verbose=args.verbose)
    rows, _ = harness.run_and_report(
        args,
        data,
        lambda impl: build(impl, data.x_train.shape[1:], int(data.y_train.max()) + 1),
        # the multi-class recipe's loss and optimizer: sparse CE from logits, Adam
        lambda impl: multiclass_classification.compile_args(impl, args.adam_epsilon, 0.002),
        label="cnn",
        title=f"{args.dataset}: small CNN, test set",
        columns=["accuracy", "loss"],
    )
    return {"rows": rows}


if __name__ == "__main__":
    recipes.spare_the_collector()
    main()
