# %% [markdown]
"""
# Binary classification: logistic regression and a small network

**What it shows.** On 569 real tumours (30 measurements each, malignant or
benign): the notes' logistic regression z = w·x + b, f = σ(z), first from
scratch by gradient descent, then as a Keras model (`Dense(1)` +
`BinaryCrossentropy(from_logits=True)` + gradient descent), then the notes'
`Sequential([Dense(relu), Dense(1)])` trained with Adam; each Keras model
once from `custom_layers` and once from the built-ins, from the same initial
weights, and scikit-learn's `LogisticRegression` as the reference.

**Sections of the notes:** "Define the Output", "Loss and Cost",
"Training", "Numerical Stability", "Adam Optimizer".

**Run it** as a script, `python -m recipes.binary_classification [--epochs 60]
[--steps 1000] [--plot out/cancer.png]` (`--help` lists every flag); as a
notebook, `jupytext --to ipynb recipes/binary_classification.py`; or from
Python, `main(["--epochs", "5"])`, which returns the results.
"""

# %%
import time

import keras
import numpy as np
from keras import ops
from sklearn.linear_model import LogisticRegression

import custom_layers
from recipes import backends, cli, compare, pictures, training
from recipes import data as data_lib

DATASET = "breast_cancer"  # the default --dataset

# %% [markdown]
"""
## The formula, by hand, on real tumours

z = w·x + b and f = σ(z) = 1 / (1 + e^{−z}) for a few training examples,
with w and b taken from an untrained `custom_layers.Dense(1)`; then the
notes' logistic loss, −y·log f − (1 − y)·log(1 − f), averaged. Both must
equal what `custom_layers` computes: the layer followed by
`custom_layers.sigmoid`, and `custom_layers.BinaryCrossentropy`.
"""


# %%
def check_the_formula(x, y):
    """z = w·x + b, σ(z) and the logistic cost by hand against custom_layers."""
    dense = custom_layers.Dense(1)
    z_custom = ops.convert_to_numpy(dense(x))[:, 0]
    w, b = (ops.convert_to_numpy(v) for v in (dense.kernel, dense.bias))
    z = x @ w[:, 0] + b[0]  # z = w·x + b
    f = 1 / (1 + np.exp(-z))  # f = σ(z)
    cost = np.mean(-y * np.log(f) - (1 - y) * np.log(1 - f))
    f_custom = ops.convert_to_numpy(custom_layers.sigmoid(z_custom))
    cost_custom = float(custom_layers.BinaryCrossentropy(from_logits=True)(y[:, None], z[:, None]))
    np.testing.assert_allclose(z_custom, z, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(f_custom, f, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(cost_custom, cost, rtol=1e-5)
    print(
        f"{len(x)} tumours: max |σ(w·x + b) by hand − custom Dense + sigmoid| = "
        f"{np.max(np.abs(f - f_custom)):.1e}; J by hand {cost:.6f}, custom loss {cost_custom:.6f}"
    )
    return {"sigmoid_gap": float(np.max(np.abs(f - f_custom))), "cost": float(cost)}


# %% [markdown]
"""
## Logistic regression from scratch

The notes' update, repeated: w = w − α·∂J/∂w and b = b − α·∂J/∂b, with
∂J/∂w = 1/m·Σ(f − y)·x and ∂J/∂b = 1/m·Σ(f − y), over the whole training
set. The loop is one program compiled by XLA (`backends.compiled`): the
body's few small operations fuse, with no Python per step.
"""


# %%
def gradient_descent_logistic_regression(x, y, learning_rate=0.3, steps=1000):
    """Fit w, b by the notes' update rule; returns (w, b, trace s, run s)."""
    x = ops.convert_to_tensor(x, "float32")
    y = ops.convert_to_tensor(y, "float32")
    m = x.shape[0]

    def step(_, wb):
        w, b = wb
        z = ops.matmul(x, w) + b  # z = w·x + b
        f = custom_layers.sigmoid(z)  # f(x) = 1 / (1 + e^-z)
        error = f - y
        dj_dw = ops.matmul(error, x) / m  # ∂J/∂w = 1/m·Σ(f − y)·x
        dj_db = ops.sum(error) / m  # ∂J/∂b = 1/m·Σ(f − y)
        return w - learning_rate * dj_dw, b - learning_rate * dj_db

    @backends.compiled
    def train(steps, w, b):
        return ops.fori_loop(0, steps, step, (w, b))

    zeros = (ops.zeros(x.shape[1]), ops.zeros(()))
    # One-time cost, apart from the training time: tracing and compiling
    # the program (a call with 0 steps).
    start = time.perf_counter()
    ops.convert_to_numpy(train(ops.convert_to_tensor(0), *zeros)[1])
    trace_seconds = time.perf_counter() - start
    run_seconds = []
    for _ in range(3):  # best of 3 fits from w = 0, b = 0
        start = time.perf_counter()
        w, b = train(ops.convert_to_tensor(steps), *zeros)
        w, b = ops.convert_to_numpy(w), float(ops.convert_to_numpy(b))
        run_seconds.append(time.perf_counter() - start)
    return w, b, trace_seconds, min(run_seconds)


def accuracy(y, probabilities):
    return float(np.mean((np.ravel(probabilities) >= 0.5) == (np.ravel(y) == 1)))


# %% [markdown]
"""
## The Keras models

The same logistic regression as one `Dense(1)` unit, and the notes'
network with a hidden ReLU layer. Both end in a linear unit: its output is
the logit z, and the loss applies σ itself (`from_logits=True`, the notes'
stable form). `layers` is `custom_layers` or `keras.layers`.
"""


# %%
def build_logistic(layers, features):
    return keras.Sequential([keras.Input((features,)), layers.Dense(1)])


def build_network(layers, features):
    return keras.Sequential(
        [keras.Input((features,)), layers.Dense(16, activation="relu"), layers.Dense(1)]
    )


# %% [markdown]
"""
## Fit the twins

Each twin is fitted on the same batches (`training.Run`: every epoch a new
order drawn from `--seed`; one Keras epoch runs `--validate-every` passes
over the data), then evaluated on the test set.
"""


# %%
def fit_twins(run, custom, builtin):
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
    return run.evaluate(custom=custom, builtin=builtin)


# %% [markdown]
"""
## Compile with the notes' arguments, and compare

The accuracy metric thresholds the logit at 0, which is f = σ(z) at 0.5.
"""


# %%
def main(argv=None):
    p = cli.parser(__doc__, epochs=60, dataset=DATASET)
    p.add_argument("--steps", type=int, default=1000, help="from-scratch gradient descent steps")
    args = cli.parse(p, argv)
    data = data_lib.load(args.dataset, args.data_dir, standardize="features", verbose=args.verbose)
    data.y_train = data.y_train.astype("float32")
    features = data.x_train.shape[1]
    print(f"{args.dataset}: {len(data.x_train)} training and {len(data.x_test)} test examples")
    formula = check_the_formula(data.x_train[:8], data.y_train[:8])

    w, b, trace_s, run_s = gradient_descent_logistic_regression(
        data.x_train, data.y_train, steps=args.steps
    )
    f_test = ops.convert_to_numpy(custom_layers.sigmoid(data.x_test @ w + b))
    scratch = compare.Row(
        f"from scratch, {args.steps} GD steps",
        {"accuracy": accuracy(data.y_test, f_test), "trace_s": trace_s},
        run_s,
    )

    accuracy_metric = keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)
    logistic_run = training.Run(args, data, label="logreg Dense(1), GD")
    with logistic_run.scope():
        custom = build_logistic(custom_layers, features)
        builtin = build_logistic(keras.layers, features)
        builtin.set_weights(custom.get_weights())
        custom.compile(
            optimizer=custom_layers.GradientDescent(0.5),
            loss=custom_layers.BinaryCrossentropy(from_logits=True),
            metrics=[accuracy_metric],
            steps_per_execution=logistic_run.steps_per_execution,
        )
        builtin.compile(
            optimizer=keras.optimizers.SGD(0.5),
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
            metrics=[keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)],
            steps_per_execution=logistic_run.steps_per_execution,
        )
    logistic = fit_twins(logistic_run, custom, builtin)

    network_run = training.Run(args, data, label="NN 16-1, Adam")
    with network_run.scope():
        custom = build_network(custom_layers, features)
        builtin = build_network(keras.layers, features)
        builtin.set_weights(custom.get_weights())
        custom.compile(
            optimizer=custom_layers.Adam(0.003, epsilon_placement=args.adam_epsilon),
            loss=custom_layers.BinaryCrossentropy(from_logits=True),
            metrics=[keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)],
            steps_per_execution=network_run.steps_per_execution,
        )
        builtin.compile(
            optimizer=keras.optimizers.Adam(0.003),
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
            metrics=[keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)],
            steps_per_execution=network_run.steps_per_execution,
        )
    network = fit_twins(network_run, custom, builtin)

    sklearn_seconds = []
    for _ in range(3):  # best of 3, as for the from-scratch fit
        start = time.perf_counter()
        reference = LogisticRegression(max_iter=1000).fit(data.x_train, data.y_train)
        sklearn_seconds.append(time.perf_counter() - start)
    sklearn_row = compare.Row(
        "scikit-learn LogisticRegression",
        {"accuracy": float(reference.score(data.x_test, data.y_test))},
        min(sklearn_seconds),
    )

    rows = [scratch, *logistic.values(), *network.values(), sklearn_row]
    title = f"{args.dataset}: binary classification, test set"
    compare.print_table(title, rows, ["accuracy", "loss", "trace_s"])
    if compare.drawing(args):
        draw(args, data, [*logistic.values(), *network.values()])
    return {
        "scratch": scratch,
        "logistic": logistic,
        "network": network,
        "sklearn": sklearn_row,
        "formula": formula,
    }


# %% [markdown]
"""
## Pictures

The learning curves of the four Keras models, and the decision boundary of
the from-scratch logistic regression fitted on two of the measurements
only, so that it can be drawn: the line w·x + b = 0, where f = σ(z) = 0.5.
"""

# %%
TWO_FEATURES = ("worst radius", "worst concave points")


def draw(args, data, rows):
    curves = pictures.learning_curves(compare.histories(rows), "loss", args.dataset)
    pictures.show(curves, compare.picture_path(args))
    names = list(data.info.metadata.get("feature_names", []))
    if not all(name in names for name in TWO_FEATURES):
        return  # another data set: no two named features to draw
    columns = [names.index(name) for name in TWO_FEATURES]
    x2 = data.x_train[:, columns]
    w, b, _, _ = gradient_descent_logistic_regression(x2, data.y_train, steps=args.steps)
    figure = pictures.decision_boundary(
        data.x_test[:, columns], data.y_test, w, b, TWO_FEATURES, title="test set"
    )
    pictures.show(figure, compare.picture_path(args, "boundary"))


# %%
if __name__ == "__main__":
    results = cli.run(main)
