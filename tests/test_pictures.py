"""recipes.pictures: each picture is drawn from small arrays, written as PNG,
read back and found not blank, and its content checked on the returned
figure (the counts in the image, the boundary on w·x + b = 0, one line per
curve, one image per filter)."""

import os
import subprocess
import sys
import types

import matplotlib.image
import numpy as np
import pytest

from recipes import pictures, process

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _written(fig, tmp_path, name="x.png"):
    """The figure through ``show``, read back: checked to be a PNG that is
    not blank (its pixels vary, in many colours). Returns its RGB pixels."""
    path = pictures.show(fig, tmp_path / name)
    assert path == tmp_path / name
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    rgb = matplotlib.image.imread(path)[..., :3]
    assert rgb.std() > 0.05
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50
    return rgb


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


# --- learning_curves --------------------------------------------------------


def test_learning_curves_draws_train_and_test_per_model(tmp_path):
    epochs = [1, 2, 3, 4]
    histories = {
        "custom Dense": {
            "epochs": epochs,
            "loss": [1.0, 0.6, 0.4, 0.3],
            "val_loss": [1.1, 0.7, 0.5, 0.45],
        },
        "keras Dense": {
            "epochs": epochs,
            "loss": [1.0, 0.6, 0.4, 0.3],
            "val_loss": [1.1, 0.7, 0.5, 0.45],
        },
        "no test set": {"loss": [0.9, 0.5, 0.35, 0.2]},
    }
    fig = pictures.learning_curves(histories, title="twins")
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == [
        "custom Dense train", "custom Dense test", "keras Dense train", "keras Dense test",
        "no test set train",
    ]  # fmt: skip
    custom_train, custom_test, keras_train, _, alone = lines
    np.testing.assert_array_equal(custom_test.get_ydata(), histories["custom Dense"]["val_loss"])
    np.testing.assert_array_equal(alone.get_xdata(), [1, 2, 3, 4])  # epochs counted from 1
    assert (custom_train.get_linewidth(), custom_train.get_alpha()) == (4, 0.5)
    assert keras_train.get_linewidth() == 1.2
    assert custom_test.get_linestyle() == "--" and custom_train.get_linestyle() == "-"
    assert custom_test.get_color() == custom_train.get_color() != keras_train.get_color()
    assert fig.axes[0].get_xlabel() == "epoch"
    _written(fig, tmp_path)


def test_learning_curves_names_a_missing_metric():
    with pytest.raises(ValueError, match="has no 'accuracy'"):
        pictures.learning_curves({"m": {"loss": [1.0]}}, metric="accuracy")


# --- decision_boundary --------------------------------------------------------


def _two_blobs(w, b, m=80, seed=0):
    x = np.random.default_rng(seed).normal(size=(m, 2))
    return x, (x @ w + b > 0).astype(int)


def _boundary_vertices(fig):
    (boundary,) = [c for c in fig.axes[0].collections if c.get_gid() == "boundary"]
    return np.concatenate([path.vertices for path in boundary.get_paths()])


@pytest.mark.parametrize(
    "w, b",
    [((1.5, -2.0), 0.3), ((2.0, 0.0), -0.5), ((0.0, 1.0), 0.2)],
    ids=["slanted", "vertical (w[1] = 0)", "horizontal"],
)
def test_decision_boundary_lies_on_w_x_plus_b_equal_0(tmp_path, w, b):
    w = np.array(w)
    x, y = _two_blobs(w, b)
    fig = pictures.decision_boundary(x, y, w, b, ["mean radius", "mean texture"], title="logistic")
    vertices = _boundary_vertices(fig)
    np.testing.assert_allclose(vertices @ w + b, 0.0, atol=1e-9)
    # The line crosses the plot (the data span about ±2.5), not a stub of it.
    assert np.ptp(vertices, axis=0).max() > 4.0
    assert fig.axes[0].get_xlabel() == "mean radius (standardized)"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "malignant (y = 0)", "benign (y = 1)", "w·x + b = 0 (f = 0.5)",
    ]  # fmt: skip
    _written(fig, tmp_path)


def test_decision_boundary_outside_the_plot_is_said_not_drawn(tmp_path):
    x, _ = _two_blobs(np.ones(2), 0.0)
    fig = pictures.decision_boundary(x, np.ones(len(x)), np.zeros(2), 3.0, ["a", "b"])
    assert not [c for c in fig.axes[0].collections if c.get_gid() == "boundary"]
    assert "outside the plot" in fig.axes[0].get_title()
    _written(fig, tmp_path)


# --- predicted_vs_true ----------------------------------------------------------


def test_predicted_vs_true_gives_each_model_its_r2(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.normal(150, 50, size=60)
    noisy = y + rng.normal(0, 25, size=60)
    r2 = 1 - np.sum((y - noisy) ** 2) / np.sum((y - y.mean()) ** 2)
    fig = pictures.predicted_vs_true(
        y, {"custom Dense": noisy[:, None], "keras Dense": noisy, "exact": y}, units="disease"
    )
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        f"custom Dense (R² = {r2:.3f})", f"keras Dense (R² = {r2:.3f})", "exact (R² = 1.000)",
        "ŷ = y",
    ]  # fmt: skip
    assert len(ax.collections) == 3
    np.testing.assert_allclose(ax.collections[2].get_offsets(), np.c_[y, y])
    (diagonal,) = ax.get_lines()
    np.testing.assert_array_equal(diagonal.get_xdata(), diagonal.get_ydata())
    assert ax.get_xlabel() == "true y (disease)"
    _written(fig, tmp_path)


# --- confusion_matrix -------------------------------------------------------------


def test_confusion_matrix_counts_true_rows_predicted_columns(tmp_path):
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2, 2, 2, 0])
    expected = np.array([[2, 1, 0], [0, 1, 1], [1, 0, 3]])
    fig = pictures.confusion_matrix(y_true, y_pred, ["cat", "dog", "bird"], title="pets")
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    assert [t.get_text() for t in ax.texts] == [str(c) for c in expected.ravel()]
    assert ax.get_title() == "pets\naccuracy = 0.667 (6/9)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "bird"]
    _written(fig, tmp_path)


def test_confusion_matrix_takes_scores_and_refuses_probabilities():
    scores = np.eye(3)[[0, 2, 1, 1]] + 0.1
    fig = pictures.confusion_matrix([0, 2, 2, 1], scores)
    np.testing.assert_array_equal(
        fig.axes[0].images[0].get_array(), [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    )
    with pytest.raises(ValueError, match="threshold or argmax"):
        pictures.confusion_matrix([0, 1], [0.2, 0.9])
    with pytest.raises(ValueError, match=r"must lie in \[0, 2\)"):
        pictures.confusion_matrix([0, 2], [0, 1], class_names=["a", "b"])


# --- label_accuracy ----------------------------------------------------------------


def test_label_accuracy_draws_one_bar_per_model_and_label(tmp_path):
    scores = {
        "custom sigmoid + BCE": {"per_label": [0.9, 0.8, 0.95], "exact_match": 0.7},
        "keras sigmoid + BCE": {"per_label": [0.9, 0.8, 0.95], "exact_match": 0.7},
        "softmax (wrong)": [0.6, 0.5, 0.4],
    }
    fig = pictures.label_accuracy(scores, ["red", "round", "big"], title="multi-label")
    ax = fig.axes[0]
    heights = [[bar.get_height() for bar in bars] for bars in ax.containers]
    np.testing.assert_allclose(heights[0], [0.9, 0.8, 0.95, 0.7])
    np.testing.assert_allclose(heights[2][:3], [0.6, 0.5, 0.4])
    assert np.isnan(heights[2][3])  # no exact match given: no bar
    assert [t.get_text() for t in ax.get_xticklabels()] == ["red", "round", "big", "exact match"]
    assert ax.get_ylim()[0] == 0 and ax.get_yticks().max() == 1
    _written(fig, tmp_path)


def test_label_accuracy_needs_one_accuracy_per_label():
    with pytest.raises(ValueError, match="2 accuracies for 3 labels"):
        pictures.label_accuracy({"m": [0.5, 0.5]}, ["a", "b", "c"])


# --- kernels and feature_maps ----------------------------------------------------------


@pytest.mark.parametrize("channels, which", [(3, "mean over the 3"), (1, "the one input")])
def test_kernels_draws_each_filter_on_a_range_centred_on_0(tmp_path, channels, which):
    kernel = np.random.default_rng(2).normal(size=(3, 3, channels, 10))
    fig = pictures.kernels(kernel, title="Conv2D(10, (3, 3))", columns=4)
    axes = _image_axes(fig)
    assert len(axes) == 10
    drawn = kernel.mean(axis=2) if channels == 3 else kernel[:, :, 0]
    limit = np.abs(drawn).max()
    for i, ax in enumerate(axes):
        np.testing.assert_allclose(ax.images[0].get_array(), drawn[:, :, i])
        assert ax.images[0].get_clim() == (-limit, limit)
    assert which in fig.get_suptitle()
    _written(fig, tmp_path)


def test_feature_maps_draws_the_input_then_every_map(tmp_path):
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    maps = np.maximum(rng.normal(size=(1, 24, 32, 12)), 0)  # a batch of one, after ReLU
    fig = pictures.feature_maps(photo, maps, title="Conv2D(12, (3, 3), padding='same')")
    axes = _image_axes(fig)
    assert len(axes) == 13
    np.testing.assert_allclose(axes[0].images[0].get_array(), photo / 255.0)
    for i, ax in enumerate(axes[1:]):
        np.testing.assert_array_equal(ax.images[0].get_array(), maps[0, :, :, i])
    _written(fig, tmp_path)


# --- show ----------------------------------------------------------------------------


def test_show_without_path_or_ipython_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    fig = pictures.confusion_matrix([0, 1], [0, 1])
    assert pictures.show(fig) is None
    assert list(tmp_path.iterdir()) == []


def test_show_creates_folders_and_closes_a_pyplot_figure(tmp_path):
    """``show(fig, path, dpi)`` writes and closes pyplot figures too."""
    plt = pytest.importorskip("matplotlib.pyplot")
    fig = plt.figure(figsize=(3, 2))
    fig.add_subplot().plot([0, 1, 2], [0, 1, 0])
    path = pictures.show(fig, tmp_path / "deep" / "er" / "p.png", dpi=50)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert matplotlib.image.imread(path).shape[:2] == (100, 150)  # 3×2 inches at 50 dpi
    assert not plt.fignum_exists(fig.number)


def test_show_in_a_jupyter_kernel_displays_the_png(tmp_path, monkeypatch):
    shown = []
    display = types.ModuleType("IPython.display")
    display.Image = lambda data, format: (format, data)
    display.display = shown.append
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: types.SimpleNamespace(kernel=object())
    ipython.display = display
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    fig = pictures.confusion_matrix([0, 1], [0, 1])
    assert pictures.show(fig) is None
    [(kind, data)] = shown
    assert kind == "png" and data[:8] == PNG_SIGNATURE

    # A terminal IPython (no kernel) shows nothing.
    ipython.get_ipython = lambda: types.SimpleNamespace()
    pictures.show(fig)
    assert len(shown) == 1


@pytest.mark.slow  # a fresh Python process
def test_importing_pictures_does_not_import_matplotlib():
    script = (
        "import sys\n"
        "import recipes.pictures\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib')\n"
        "assert not loaded, loaded\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    # as a user's process, not one started by a recipes command
    env = {k: v for k, v in os.environ.items() if k != process.STARTED}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr


def test_a_blank_picture_is_caught(tmp_path):
    """The not-blank check of every test above can fail."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    fig.add_subplot().set_axis_off()
    with pytest.raises(AssertionError):
        _written(fig, tmp_path)
