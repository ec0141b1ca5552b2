"""Bad batches give a clear error, eagerly and inside model.fit; NaN stops
training with the reason; never a silent broadcast or a silent wrong loss."""

import keras
import numpy as np
import pytest

import custom_layers
from custom_layers import losses
from recipes import cli, training
from recipes import data as data_lib
from tests.helpers import compiled_check_error

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("bad", [-0.5, 1.5, np.nan, 7.0])
def test_bce_labels_outside_zero_one_raise_eagerly(bad):
    y = np.array([[0.0], [bad], [1.0]], "float32")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\].*e\.g\."):
        losses.binary_crossentropy(y, np.zeros((3, 1), "float32"), from_logits=True)


@pytest.mark.parametrize(
    ("labels", "classes"), [([0, 3], 3), ([-1, 0], 3), ([0.5, 1.0], 3), ([np.nan, 1.0], 3)]
)
def test_sparse_labels_that_are_not_class_ids_raise_eagerly(labels, classes):
    with pytest.raises(ValueError, match=rf"Class ids must be whole numbers in \[0, {classes}\)"):
        custom_layers.SparseCategoricalCrossentropy(from_logits=True)(
            np.array(labels, "float32"), np.zeros((2, classes), "float32")
        )


def _model(units):
    model = keras.Sequential([keras.Input((4,)), custom_layers.Dense(units)])
    return model


@pytest.mark.parametrize(
    ("loss", "units", "y", "message"),
    [
        (custom_layers.BinaryCrossentropy(from_logits=True), 1, [[0.0], [2.0]], "must lie in"),
        (
            custom_layers.SparseCategoricalCrossentropy(from_logits=True),
            3,
            [0, 9],
            "Class ids must be whole numbers",
        ),
    ],
)
@pytest.mark.usefixtures("aborted_fit")
def test_bad_labels_stop_fit_with_the_reason(loss, units, y, message):
    # Inside the compiled step no label is known while tracing: the check runs
    # on the step's labels (tf.debugging.Assert, or a JAX host callback).
    model = _model(units)
    model.compile(optimizer=custom_layers.GradientDescent(0.1), loss=loss)
    x = np.ones((2, 4), "float32")
    with pytest.raises(compiled_check_error(), match=message):
        model.fit(x, np.array(y, "float32"), epochs=1, verbose=0)


def _waits_for(op):
    """The ops ``op`` runs after in its graph: through its inputs and its
    control dependencies, all the way up."""
    seen, todo = set(), [op]
    while todo:
        current = todo.pop()
        for parent in [t.op for t in current.inputs] + list(current.control_inputs):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


@pytest.mark.tensorflow_only  # TensorFlow's graph; JAX: a host callback, no gather error
@pytest.mark.parametrize("ignore_class", [None, 0])
def test_in_a_compiled_step_class_ids_are_read_only_after_their_check(ignore_class):
    # Without the ordering, a class id out of range could stop the step at
    # an op that reads it (a gather: TensorFlow's "indices[1,0] = 9 is not in
    # [0, 3)" instead of our message; it happened under load), or feed the
    # loss before the check has failed the step.
    import tensorflow as tf

    def loss(y, z):
        return losses.sparse_categorical_crossentropy(y, z, True, ignore_class=ignore_class)

    step = tf.function(loss).get_concrete_function(
        tf.TensorSpec([None], tf.float32), tf.TensorSpec([None, 3], tf.float32)
    )
    graph_ops = step.graph.get_operations()
    (check,) = [op for op in graph_ops if op.type == "Assert"]
    # the ops that pick the true class by its id: gathers, or the indicator
    # 1{y = j} as a comparison of the ids with 0..N-1
    readers = [
        op
        for op in graph_ops
        if op.type.startswith("Gather")
        or (op.type == "Equal" and any(t.op.type == "Range" for t in op.inputs))
    ]
    assert readers
    for op in readers:
        assert check in _waits_for(op), op.name


def xla_bad_labels(tmp_path):
    """The script checking that under TensorFlow's XLA (``jit_compile=True``,
    Keras' "auto" on a GPU), which ignores the label check's ``Assert``, a
    bad label still gives no finite loss: NaN, and the bad example does not
    move the weights (the same step on the good examples alone, its rate
    scaled by 3/4 for the mean over 4, gives the same weights). Run in a
    fresh process (tests/test_fresh_process.py): Keras refuses jit_compile
    once op determinism is on. On JAX the check itself still raises
    (``test_bad_labels_stop_fit_with_the_reason``)."""
    del tmp_path  # nothing saved
    return """
        import keras, numpy as np
        import custom_layers

        if keras.backend.backend() == "tensorflow":
            rng = np.random.default_rng(5)
            x = rng.standard_normal((4, 4)).astype("float32")
            binary, sparse = [[0.0], [1.5], [1.0], [0.0]], [0, 7, 2, 1]
            cases = [
                (custom_layers.BinaryCrossentropy, True, 1, binary),
                (custom_layers.BinaryCrossentropy, False, 1, binary),
                (custom_layers.SparseCategoricalCrossentropy, True, 3, sparse),
                (custom_layers.SparseCategoricalCrossentropy, False, 3, sparse),
            ]
            good = [0, 2, 3]
            for loss, from_logits, units, y in cases:
                y = np.array(y, "float32")
                output = None if from_logits else ("softmax" if units > 1 else "sigmoid")
                trained = []
                for rows, rate in ((slice(None), 0.1), (good, 0.1 * 3 / 4)):
                    model = keras.Sequential(
                        [keras.Input((4,)), keras.layers.Dense(units, activation=output)]
                    )
                    if trained:
                        model.set_weights(start)
                    start = model.get_weights()
                    model.compile(
                        optimizer=keras.optimizers.SGD(rate),
                        loss=loss(from_logits=from_logits),
                        jit_compile=True,
                    )
                    assert model.jit_compile
                    history = model.fit(x[rows], y[rows], batch_size=4, epochs=1, verbose=0)
                    trained.append((history.history["loss"][0], model.get_weights()))
                (bad_loss, weights), (good_loss, good_weights) = trained
                case = f"{loss.__name__}(from_logits={from_logits})"
                assert np.isnan(bad_loss) and np.isfinite(good_loss), (case, bad_loss)
                for ours, theirs in zip(weights, good_weights, strict=True):
                    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=case)
        """


@pytest.mark.parametrize("run_eagerly", [False, True])
@pytest.mark.usefixtures("aborted_fit")
def test_bad_labels_in_a_later_batch_stop_fit_and_name_the_label(run_eagerly):
    # The first batch is fine; the second holds one label outside [0, 1].
    model = _model(1)
    model.compile(
        optimizer=custom_layers.GradientDescent(0.1),
        loss=custom_layers.BinaryCrossentropy(from_logits=True),
        run_eagerly=run_eagerly,
    )
    x = np.ones((8, 4), "float32")
    y = np.array([[0.0], [1.0], [1.0], [0.0], [1.0], [0.0], [-3.0], [1.0]], "float32")
    error = ValueError if run_eagerly else compiled_check_error()
    # The message names the offending label on every backend and path.
    message = r"(?s)must lie in \[0, 1\].*-3"
    with pytest.raises(error, match=message):
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)


@pytest.mark.usefixtures("aborted_fit")
def test_shape_mismatch_raises_in_fit_too():
    model = _model(2)
    model.compile(optimizer="sgd", loss=custom_layers.MeanSquaredError())
    # TensorFlow traces with an unknown batch size, JAX with the batch's own.
    with pytest.raises(
        ValueError, match=r"y_true.shape=\((None|4), 3\), y_pred.shape=\((None|4), 2\)"
    ):
        model.fit(np.ones((4, 4), "float32"), np.ones((4, 3), "float32"), epochs=1, verbose=0)


@pytest.mark.usefixtures("aborted_fit")
def test_nan_loss_stops_training_with_the_reason():
    # NaN features that slipped past the data checks: training must stop.
    x = RNG.standard_normal((32, 4)).astype("float32")
    x[5, 2] = np.nan
    data = data_lib.Data(
        "toy", x, RNG.standard_normal((32, 1)).astype("float32"), x, x[:, :1], None
    )
    args = cli.parse(cli.parser("toy", epochs=3, dataset="toy"), ["--quiet"])
    run = training.Run(args, data, "toy")
    model = keras.Sequential([keras.Input((4,)), custom_layers.Dense(1)])
    model.compile(
        optimizer=custom_layers.GradientDescent(0.1), loss=custom_layers.MeanSquaredError()
    )
    with pytest.raises(
        RuntimeError, match=r"toy \(custom\): training stopped at epoch 1 with loss nan"
    ):
        model.fit(
            run.train,
            epochs=run.epochs,
            steps_per_epoch=run.steps,
            shuffle=False,
            callbacks=run.callbacks("custom"),
            verbose=0,
        )


def test_recipes_refuse_data_with_nan():
    bad = np.ones((3, 2), "float32")
    bad[2, 0] = np.inf
    with pytest.raises(ValueError, match=r"holds 1 NaN or infinite values"):
        data_lib.check_finite("toy", bad)


def test_run_all_exits_non_zero_when_a_recipe_fails(capsys):
    from recipes import run_all

    argv = ["--jobs", "1", "--dataset", "no_such_dataset_here", "--epochs", "1"]
    status = run_all.main(argv)
    assert status == 1
    assert "FAILED" in capsys.readouterr().err
