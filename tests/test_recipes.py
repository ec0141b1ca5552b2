"""Each recipe run for a few epochs through main([...]): a stated floor,
custom ~ built-in, and the command-line flags."""

import concurrent.futures
import gc
import os
import re
import subprocess
import sys
import types
from concurrent.futures.process import BrokenProcessPool

import keras
import matplotlib.image
import numpy as np
import pytest

from recipes import (
    binary_classification,
    cli,
    cnn_image_classification,
    data,
    multiclass_classification,
    multilabel_classification,
    process,
    regression,
    run_all,
)


def _assert_pictures(plot, *names):
    """``--plot plot`` wrote the learning curves at ``plot`` and each named
    picture beside it, each a PNG that is not blank."""
    paths = [plot, *(plot.with_name(f"{plot.stem}-{name}.png") for name in names)]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
        pixels = matplotlib.image.imread(path)[..., :3]
        assert pixels.std() > 0.05, path  # not one colour
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, path
    assert sorted(plot.parent.iterdir()) == sorted(paths)  # nothing else


def _assert_twins_agree(pair, metric, points=0.005, weights=1e-3):
    custom, builtin = pair["custom"], pair["builtin"]
    assert abs(custom.metrics[metric] - builtin.metrics[metric]) <= points
    assert custom.max_weight_diff is not None and custom.max_weight_diff <= weights


@pytest.mark.slow
def test_binary_classification(data_dir, tmp_path):
    plot = tmp_path / "cancer.png"
    result = binary_classification.main(
        ["--quiet", "--epochs", "5", "--steps", "300", "--data-dir", data_dir, "--plot", str(plot)]
    )
    _assert_pictures(plot, "boundary")
    assert result["formula"]["sigmoid_gap"] <= 1e-6
    assert result["scratch"].metrics["accuracy"] >= 0.95
    assert result["sklearn"].metrics["accuracy"] >= 0.95
    for key in ("logistic", "network"):
        assert result[key]["custom"].metrics["accuracy"] >= 0.93
        _assert_twins_agree(result[key], "accuracy")


def test_regression_reaches_least_squares(data_dir, tmp_path):
    plot = tmp_path / "diabetes.png"
    result = regression.main(
        ["--quiet", "--epochs", "30", "--data-dir", data_dir, "--plot", str(plot)]
    )
    _assert_pictures(plot, "predictions")
    rows, reference = result["rows"], result["reference"]
    assert reference.metrics["r2"] > 0.3
    assert rows["custom"].metrics["r2"] >= reference.metrics["r2"] - 0.05
    _assert_twins_agree(rows, "r2", points=1e-4)


def test_multiclass_classification(data_dir, tmp_path):
    plot = tmp_path / "digits.png"
    result = multiclass_classification.main(
        ["--quiet", "--epochs", "5", "--data-dir", data_dir, "--plot", str(plot)]
    )
    _assert_pictures(plot, "confusion")
    assert result["formula"]["softmax_gap"] <= 1e-6
    assert result["rows"]["custom"].metrics["accuracy"] >= 0.90
    _assert_twins_agree(result["rows"], "accuracy")


@pytest.mark.slow
def test_multilabel_classification_and_the_softmax_counterexample(data_dir, tmp_path):
    plot = tmp_path / "labels.png"
    result = multilabel_classification.main(
        ["--quiet", "--epochs", "5", "--data-dir", data_dir, "--plot", str(plot)]
    )
    _assert_pictures(plot, "labels")
    rows = result["rows"]
    assert rows["custom"].metrics["label_acc"] >= 0.85
    assert rows["custom"].metrics["exact_match"] >= 0.6
    # softmax cannot say yes to several labels: far fewer exact matches
    assert result["softmax"].metrics["exact_match"] < rows["custom"].metrics["exact_match"] - 0.2
    _assert_twins_agree(rows, "exact_match")


@pytest.mark.slow
def test_cnn_image_classification_on_28x28_mnist(data_dir, tmp_path):
    plot = tmp_path / "mnist.png"
    result = cnn_image_classification.main(
        ["--quiet", "--epochs", "2", "--data-dir", data_dir, "--plot", str(plot)]
    )
    _assert_pictures(plot, "kernels", "feature-maps")
    assert result["formula"]["window_gap"] <= 1e-5
    assert result["rows"]["custom"].metrics["accuracy"] >= 0.85
    # The twins' float32 sums, taken in another order, drift apart over 126
    # steps of 28x28 convolutions: 5.1e-3 measured on JAX after 2 epochs.
    _assert_twins_agree(result["rows"], "accuracy", weights=2e-2)


def test_flags_plot_save_tensorboard_and_impl(data_dir, tmp_path):
    plot, saved, logs = tmp_path / "curves.png", tmp_path / "mlp.keras", tmp_path / "tb"
    result = multiclass_classification.main(
        [
            "--quiet",
            "--epochs",
            "2",
            "--impl",
            "custom",
            "--data-dir",
            data_dir,
            "--plot",
            str(plot),
            "--save",
            str(saved),
            "--tensorboard",
            str(logs),
        ]
    )
    assert set(result["rows"]) == {"custom"}
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000
    assert plot.with_name("curves-confusion.png").is_file()
    reloaded_path = tmp_path / "mlp-mlp.keras"
    model = keras.models.load_model(reloaded_path)
    assert model.predict(np.zeros((1, 8, 8, 1), "float32"), verbose=0).shape == (1, 10)
    assert any(logs.rglob("events.out.tfevents.*"))


def test_bad_flags_exit_with_a_message(capsys):
    for argv in (["--epochs", "0"], ["--save", "model.h5"], ["--impl", "both-ish"]):
        with pytest.raises(SystemExit) as exit_info:
            multiclass_classification.main(argv)
        assert exit_info.value.code == 2
    assert "--epochs must be positive, got 0" in capsys.readouterr().err


# What importing `recipes` sets in this process' environment (and a user's
# shell does not): the console tests start their processes without them.
_SET_BY_RECIPES = ("TF_CPP_MIN_LOG_LEVEL", process.STARTED)


@pytest.mark.slow
def test_run_all_in_two_processes_prints_every_recipe_in_order_on_a_clean_console(
    tmp_path, monkeypatch, capfd
):
    # The default on a 2-core machine: this process and one started for it.
    # As from a user's shell, TF_CPP_MIN_LOG_LEVEL is not set (nor the mark
    # this package leaves for the processes it starts): the started process
    # keeps TensorFlow's start-up lines off the console by itself. A fresh
    # data dir: the data sets are built here first, quietly.
    for name in _SET_BY_RECIPES:
        monkeypatch.delenv(name, raising=False)
    data_dir = str(tmp_path / "fresh")
    table = tmp_path / "measured" / "recipes.md"
    argv = ["--jobs", "2", "--epochs", "1", "--data-dir", data_dir, "--table", str(table)]
    status = run_all.main(argv)
    out, err = capfd.readouterr()  # the started process' console too
    assert status == 0
    # the summary's figures, as the docs include them: a row per twin pair
    written = table.read_text()
    assert written.startswith("*Measured on 20") and "`python -m recipes --jobs 2" in written
    for label in ("logreg Dense(1), GD", "NN 16-1, Adam", "linear", "mlp", "sigmoid+BCE", "cnn"):
        assert re.search(rf"\| {re.escape(label)} \| \w+ \| -?[\d.]+( %)? / -?[\d.]+", written), (
            label
        )
    assert "least squares (closed form)" in written and "whole recipe" in written
    assert not _FRAMEWORK_LOG.findall(out + err), out + err
    for name in data.LOCAL_BUILDERS:  # our one line instead of TFDS' output
        assert f"Building data set {name!r}" in out + err
    headings = re.findall(r"^=== (\w+) ===$", out, flags=re.MULTILINE)
    assert headings == list(run_all.RECIPES)  # shown in order, whoever ran them
    summary = out[out.index("Summary") :]
    for name in run_all.RECIPES:
        assert re.search(rf"^{name} +whole recipe", summary, flags=re.MULTILINE)
    # each recipe's table sits under its own heading
    assert out.index("small CNN, test set") > out.index("=== cnn_image_classification ===")
    assert out.index("linear regression, test set") < out.index("=== multiclass")


def test_run_all_flags(capsys):
    assert set(run_all.LONGEST_FIRST) == set(run_all.RECIPES)
    argv = ["--epochs", "3", "--jobs", "3", "--data-dir", "d", "--table", "t.md"]
    options, rest = run_all._options(argv)
    assert options.jobs == 3 and options.data_dir == "d" and options.table == "t.md"
    assert rest == ["--epochs", "3", "--data-dir", "d"]  # --jobs, --table: not recipe flags
    assert run_all._options(["--jobs=1"])[1] == []
    assert run_all._options(["--distribute", "mirrored"])[0].jobs == 1
    for argv, message in (
        (["--jobs", "0"], "--jobs must be positive, got 0"),
        (["--jobs", "2", "--distribute", "mirrored"], "leave --jobs out or use --jobs 1"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            run_all._options(argv)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    # one picture per recipe, not one overwritten by each
    argv = run_all._recipe_argv("regression", ["--plot", "out/curves.png", "--epochs", "2"])
    assert argv == ["--plot", os.path.join("out", "curves-regression.png"), "--epochs", "2"]
    assert run_all._recipe_argv("cnn_image_classification", ["--plot=c.png"]) == [
        "--plot=c-cnn_image_classification.png"
    ]
    # a started process that dies is reported as its recipe's failure
    died = concurrent.futures.Future()
    died.set_exception(BrokenProcessPool("A child process terminated abruptly"))
    output, lines, failures = run_all._result("regression", died)
    assert (output, lines) == ("", [])
    assert failures == [
        "regression: its process stopped: BrokenProcessPool: A child process terminated abruptly"
    ]


class _StopMidEpoch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 2:
            raise RuntimeError("stopped on purpose")


def _fails_mid_fit(argv):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((64, 4), "float32"), np.ones((64, 1), "float32")
    model.fit(x, y, batch_size=8, verbose=0, callbacks=[_StopMidEpoch()])


@pytest.mark.tensorflow_only  # tf.data: on JAX, Keras feeds NumPy arrays without it
def test_a_recipe_that_fails_mid_fit_leaves_no_data_iterator_behind(monkeypatch):
    # run_all goes on with the next recipes in the same process: the failed
    # fit's tf.data iterator must be gone before they start (see run_recipe).
    import tensorflow as tf

    def live_iterators():
        return sum(isinstance(o, tf.data.Iterator) for o in gc.get_objects())

    failing = (types.SimpleNamespace(main=_fails_mid_fit), ("rows",), "r2", 1, 0.005)
    monkeypatch.setitem(run_all.RECIPES, "regression", failing)
    before = live_iterators()
    lines, failures = run_all.run_recipe("regression", [])
    assert (lines, failures) == ([], ["regression: RuntimeError: stopped on purpose"])
    assert live_iterators() <= before


def test_activation_picture_is_written(tmp_path):
    from recipes import plot_activations

    path = plot_activations.main(["--output", str(tmp_path / "activations.png")])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000


@pytest.mark.slow
def test_cnn_recipe_takes_a_catalog_dataset(data_dir, mock_catalog):
    # `--dataset mnist` for online users; TFDS' mock data stands in here.
    with mock_catalog(num_examples=64):
        result = cnn_image_classification.main(
            ["--quiet", "--epochs", "1", "--dataset", "mnist", "--data-dir", data_dir]
        )
    pair = result["rows"]
    assert set(pair) == {"custom", "builtin"}
    assert pair["custom"].max_weight_diff <= 1e-4  # 28x28x1 inputs, same weights
    assert pair["custom"].metrics["accuracy"] == pair["builtin"].metrics["accuracy"]


@pytest.mark.slow
def test_seed_makes_runs_identical(data_dir):
    argv = ["--quiet", "--epochs", "2", "--seed", "7", "--data-dir", data_dir]
    first = multiclass_classification.main(argv)["rows"]
    second = multiclass_classification.main(argv)["rows"]
    for impl in ("custom", "builtin"):
        assert first[impl].history == second[impl].history
        assert first[impl].metrics == second[impl].metrics
    other = multiclass_classification.main([*argv[:-4], "--seed", "8", *argv[-2:]])["rows"]
    assert other["custom"].history != first["custom"].history


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow", reason="tf.distribute runs on TensorFlow"
)
def test_distribute_is_refused_off_tensorflow(capsys):
    backend = keras.backend.backend()
    for flag in ("mirrored", "multi-worker"):
        with pytest.raises(SystemExit) as exit_info:
            multiclass_classification.main(["--distribute", flag])
        assert exit_info.value.code == 2
        said = capsys.readouterr().err
        assert f"--distribute {flag} trains under tf.distribute" in said
        assert f"KERAS_BACKEND={backend}" in said
    assert run_all.main(["--distribute", "multi-worker"]) == 2
    assert "TensorFlow backend only" in capsys.readouterr().err


# Lines TensorFlow, absl, CUDA probes, TFDS and Python warnings print on their own.
_FRAMEWORK_LOG = re.compile(
    r"^[IWEF]\d{4} |absl::|cudart|cuInit|cpu_feature_guard|node_def_util|"
    r"Downloading and preparing|retracing|Warning:|WARNING",
    re.MULTILINE,
)


@pytest.mark.slow
def test_verbose_brings_the_framework_logs_back(tmp_path):
    # The clean console by default: test_run_all_in_two_processes_... above.
    env = {k: v for k, v in os.environ.items() if k not in _SET_BY_RECIPES}
    command = [sys.executable, "-m", "recipes.regression", "--epochs", "3", "--verbose"]
    result = subprocess.run(
        [*command, "--data-dir", str(tmp_path / "fresh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    verbose = result.stdout + result.stderr
    assert "linear custom: epochs 3/3" in verbose and "linear builtin " in verbose
    # the pattern the clean-console test uses does find them
    assert len(set(_FRAMEWORK_LOG.findall(verbose))) >= 3, verbose


def test_a_data_set_that_cannot_be_had_ends_the_command_in_one_line(monkeypatch, capsys, tmp_path):
    import requests
    import tensorflow_datasets as tfds

    def offline(self, *args, **kwargs):
        raise requests.ConnectionError("Failed to resolve 'storage.googleapis.com'")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
    cases = [
        (["--dataset", "nosuchset", "--data-dir", str(tmp_path)], "'nosuchset'"),
        (["--dataset", "mnist", "--data-dir", str(tmp_path)], "network"),
        (["--data-dir", "/proc/nope"], "/proc/nope"),
    ]
    for argv, word in cases:
        monkeypatch.setattr(sys, "argv", ["regression.py", *argv, "--quiet", "--epochs", "1"])
        with pytest.raises(SystemExit) as exit_info:
            cli.run(regression.main)
        assert exit_info.value.code == 2
        said = capsys.readouterr().err.strip().splitlines()
        assert len(said) == 1 and ": error: " in said[0] and word in said[0], said


def test_a_python_error_in_a_command_shows_in_full(monkeypatch, data_dir):
    monkeypatch.setattr(sys, "argv", ["regression.py", "--quiet", "--data-dir", data_dir])
    monkeypatch.setattr(regression, "build_model", lambda *args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        cli.run(regression.main)


def test_the_summary_table_goes_into_the_readme_between_its_markers(tmp_path):
    from recipes import report

    lines = [
        ("regression", "linear custom", "r2", 0.331, 0.8),
        ("regression", "linear builtin", "r2", 0.331, 0.4),
        ("regression", "least squares (closed form)", "r2", 0.3322, 0.001),
        ("regression", "whole recipe", "", float("nan"), 2.4),
    ]
    text = run_all.table_text(lines, ["--jobs", "1"])
    assert "| `regression` | linear | r2 | 0.3310 / 0.3310 | 0.80 / 0.40 (2.00x) |" in text
    assert "| `regression` | least squares (closed form) | r2 | 0.3322 | 0.001 s |" in text
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Title\n\n<!-- measured:recipes -->\nold\n<!-- /measured:recipes -->\n\nend\n"
    )
    report.splice(readme, "recipes", text)
    spliced = readme.read_text()
    assert spliced.startswith("# Title\n\n<!-- measured:recipes -->\n*Measured on ")
    assert "old" not in spliced and spliced.endswith("<!-- /measured:recipes -->\n\nend\n")
    assert text.strip() in spliced
    report.splice(readme, "recipes", text)  # again: the same file
    assert readme.read_text() == spliced
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="no <!-- measured:recipes -->"):
        report.splice(readme, "recipes", text)
