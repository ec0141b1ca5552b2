"""The pictures the recipes draw, one function each, and ``show`` to keep them.

Each drawing function takes NumPy arrays and plain values and returns a
``matplotlib.figure.Figure``. The figures are built without pyplot, so no
backend is chosen and none is changed: a script, a test and a notebook (with
its inline backend) get the same figure, and nothing opens a window.
``show(fig, path)`` writes it as PNG and, inside a Jupyter kernel, displays
it inline.

    fig = pictures.confusion_matrix(y_test, y_pred, class_names=digits)
    pictures.show(fig, "confusion.png")

matplotlib is imported inside the functions: importing this module stays
cheap for the recipes that draw nothing.

Two conventions run through the pictures. A label that contains "custom"
(the custom_layers model) is drawn wide and pale, every other one thin on
top of it, so that twins which coincide both stay visible. Train is solid,
test dashed.
"""

import io
import math
import pathlib
import sys

import numpy as np

# Line and marker styles: the custom twin wide and pale underneath, the
# built-in thin on top.
_CUSTOM_LINE = {"linewidth": 4, "alpha": 0.5}
_OTHER_LINE = {"linewidth": 1.2}
_CUSTOM_POINTS = {"s": 60, "alpha": 0.35}
_OTHER_POINTS = {"s": 12, "alpha": 0.9}


def _figure(width, height):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _is_custom(label):
    return "custom" in str(label)


def _with_units(name, units):
    return f"{name} ({units})" if units else name


# --- training -------------------------------------------------------------


def learning_curves(histories, metric="loss", title="", ylabel=None):
    """Train (solid) and test (dashed) curves of a metric, one colour per model.

    Args:
        histories: dict ``{label: {"epochs": [...], metric: [...],
            "val_" + metric: [...]}}``; ``"epochs"`` and the ``val_`` entry
            are optional (epochs count from 1).
        metric: the history key to draw, e.g. ``"loss"``, ``"accuracy"``.
        title: the figure's title.
        ylabel: the y axis label; the metric's name by default.

    Returns:
        A ``matplotlib.figure.Figure``.
    """
    if not histories:
        raise ValueError(f"`histories` needs at least one model. Received: {histories!r}")
    fig = _figure(7, 4.2)
    ax = fig.add_subplot()
    for label, history in histories.items():
        if metric not in history:
            raise ValueError(
                f"History {label!r} has no {metric!r}. Received keys: {sorted(history)}"
            )
        values = np.asarray(history[metric], dtype=float)
        epochs = history.get("epochs")
        epochs = np.arange(1, len(values) + 1) if epochs is None else np.asarray(epochs)
        style = _CUSTOM_LINE if _is_custom(label) else _OTHER_LINE
        (line,) = ax.plot(epochs, values, label=f"{label} train", **style)
        if f"val_{metric}" in history:
            ax.plot(
                epochs,
                np.asarray(history[f"val_{metric}"], dtype=float),
                linestyle="--",
                color=line.get_color(),
                label=f"{label} test",
                **style,
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel or metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# --- classification ---------------------------------------------------------


def decision_boundary(
    x,
    y,
    w,
    b,
    feature_names,
    class_names=("malignant", "benign"),
    title="",
    units="standardized",
    resolution=200,
):
    """Logistic regression's f = σ(w·x + b) over two features and its boundary.

    The background is f on a grid (from 0, class 0's colour, to 1, class 1's);
    the black line is w·x + b = 0, where f = 0.5: on its side where
    w·x + b > 0 the model says class 1. The points are the examples,
    coloured by their true class.

    Args:
        x: ``(m, 2)`` features.
        y: ``(m,)`` labels in {0, 1}.
        w: ``(2,)`` weights; b: the bias (a scalar).
        feature_names: the two features' names, for the axes.
        class_names: the names of class 0 and class 1.
        title: the figure's title.
        units: added to the axis labels in brackets; ``""`` for none.
        resolution: grid points per axis for the background.

    Returns:
        A ``matplotlib.figure.Figure``.
    """
    from matplotlib.lines import Line2D

    x = np.asarray(x, dtype=float)
    y = np.ravel(y)
    w = np.ravel(np.asarray(w, dtype=float))
    b = float(np.asarray(b, dtype=float).reshape(()))  # a scalar, or Keras' (1,) bias
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"`x` must have shape (m, 2). Received: x.shape={x.shape}")
    if w.shape != (2,):
        raise ValueError(f"`w` must have 2 weights. Received: w.shape={w.shape}")
    if len(y) != len(x):
        raise ValueError(f"`y` needs one label per row of x. Received: {len(y)} for {len(x)}")

    low, high = x.min(axis=0), x.max(axis=0)
    pad = 0.1 * np.maximum(high - low, 1.0)
    g0, g1 = np.meshgrid(
        np.linspace(low[0] - pad[0], high[0] + pad[0], resolution),
        np.linspace(low[1] - pad[1], high[1] + pad[1], resolution),
    )
    z = w[0] * g0 + w[1] * g1 + b
    f = 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))

    fig = _figure(6.4, 5)
    ax = fig.add_subplot()
    shade = ax.contourf(g0, g1, f, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.55)
    fig.colorbar(shade, ax=ax, label="f = σ(w·x + b)")
    colours = ("#b2182b", "#2166ac")  # the two ends of RdBu: f → 0, f → 1
    handles = []
    for k in (0, 1):
        chosen = y == k
        handles.append(
            ax.scatter(
                x[chosen, 0],
                x[chosen, 1],
                s=18,
                color=colours[k],
                edgecolor="white",
                linewidth=0.4,
                label=f"{class_names[k]} (y = {k})",
            )
        )
    # The boundary as the contour of the linear z at 0: exact on a grid (z
    # is linear between grid points) and the same for a vertical line
    # (w[1] = 0) as for any other.
    if z.min() < 0 < z.max():
        boundary = ax.contour(g0, g1, z, levels=[0.0], colors="black", linewidths=2)
        boundary.set_gid("boundary")
        handles.append(Line2D([], [], color="black", linewidth=2, label="w·x + b = 0 (f = 0.5)"))
    else:
        title = f"{title}\n(the boundary w·x + b = 0 lies outside the plot)".strip()
    ax.set_xlabel(_with_units(feature_names[0], units))
    ax.set_ylabel(_with_units(feature_names[1], units))
    ax.set_title(title)
    ax.legend(handles=handles, fontsize=8, loc="best", framealpha=0.9)
    return fig


def _class_indices(values, name):
    """Integer class indices from labels, or from one row of scores per example."""
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] > 1:
        values = values.argmax(axis=1)
    values = np.ravel(values)
    if not np.issubdtype(values.dtype, np.integer):
        if not np.all(np.equal(np.mod(values, 1), 0)):
            raise ValueError(
                f"`{name}` must hold class indices (threshold or argmax the "
                f"probabilities first). Received values such as {values[:3]}"
            )
        values = values.astype(int)
    return values


def confusion_matrix(y_true, y_pred, class_names=None, title=""):
    """Counts of (true class, predicted class) pairs, the accuracy in the title.

    Row i, column j: how many examples of class i the model called class j;
    the diagonal holds the correct ones.

    Args:
        y_true: ``(m,)`` class indices (or one-hot rows, argmaxed).
        y_pred: ``(m,)`` class indices, or ``(m, k)`` scores, argmaxed.
        class_names: one name per class; by default 0 .. the largest index.
        title: the figure's title; the accuracy is added under it.

    Returns:
        A ``matplotlib.figure.Figure``; its image holds the counts.
    """
    y_true = _class_indices(y_true, "y_true")
    y_pred = _class_indices(y_pred, "y_pred")
    if len(y_true) != len(y_pred) or not len(y_true):
        raise ValueError(
            f"`y_true` and `y_pred` need the same, non-zero length. "
            f"Received: {len(y_true)} and {len(y_pred)}"
        )
    k = len(class_names) if class_names is not None else int(max(y_true.max(), y_pred.max())) + 1
    if min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= k:
        raise ValueError(
            f"Class indices must lie in [0, {k}). Received: "
            f"{min(y_true.min(), y_pred.min())} .. {max(y_true.max(), y_pred.max())}"
        )
    names = [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(k)]
    counts = np.zeros((k, k), dtype=int)
    np.add.at(counts, (y_true, y_pred), 1)
    correct = int(np.trace(counts))
    accuracy = correct / len(y_true)

    size = min(3 + 0.45 * k, 10)
    fig = _figure(size + 1, size)
    ax = fig.add_subplot()
    image = ax.imshow(counts, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, label="examples", shrink=0.8)
    fontsize = max(6, 12 - k // 3)
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                str(counts[i, j]),
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if counts[i, j] > counts.max() / 2 else "black",
            )
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 3 else 0)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"{title}\naccuracy = {accuracy:.3f} ({correct}/{len(y_true)})".strip())
    return fig


def label_accuracy(scores, label_names, title=""):
    """Multi-label models side by side: each label's accuracy, and exact match.

    Args:
        scores: dict ``{model label: per-label accuracies}``, or ``{model
            label: {"per_label": [...], "exact_match": float}}``; the
            "exact match" group appears when any model gives one.
        label_names: one name per label.
        title: the figure's title.

    Returns:
        A ``matplotlib.figure.Figure``.
    """
    if not scores:
        raise ValueError(f"`scores` needs at least one model. Received: {scores!r}")
    label_names = [str(n) for n in label_names]
    per_label, exact = {}, {}
    for model, value in scores.items():
        if isinstance(value, dict):
            per_label[model] = np.ravel(np.asarray(value["per_label"], dtype=float))
            if value.get("exact_match") is not None:
                exact[model] = float(value["exact_match"])
        else:
            per_label[model] = np.ravel(np.asarray(value, dtype=float))
        if len(per_label[model]) != len(label_names):
            raise ValueError(
                f"{model!r} has {len(per_label[model])} accuracies for "
                f"{len(label_names)} labels. Received: {per_label[model]}"
            )
    groups = [*label_names, "exact match"] if exact else label_names
    width = 0.8 / len(scores)
    fig = _figure(max(6, 1.1 * len(groups) * max(1, len(scores) / 2) + 1.5), 4.4)
    ax = fig.add_subplot()
    annotate = len(groups) * len(scores) <= 30
    for i, model in enumerate(scores):
        heights = list(per_label[model]) + ([exact.get(model, np.nan)] if exact else [])
        bars = ax.bar(
            np.arange(len(groups)) + (i - (len(scores) - 1) / 2) * width,
            heights,
            width,
            label=str(model),
            alpha=0.6 if _is_custom(model) else 0.95,
            edgecolor="black",
            linewidth=0.4,
        )
        if annotate:
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    if exact:
        ax.axvline(len(label_names) - 0.5, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xticks(range(len(groups)), groups, rotation=30 if len(groups) > 6 else 0)
    ax.set_ylim(0, 1.08)  # room for the numbers above bars at 1
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=min(len(scores), 4), fontsize=8)
    return fig


# --- regression ---------------------------------------------------------------


def _r2(y, prediction):
    """Coefficient of determination 1 − Σ(y − f)² / Σ(y − ȳ)² (nan for constant y)."""
    total = np.sum((y - y.mean()) ** 2)
    return 1.0 - np.sum((y - prediction) ** 2) / total if total > 0 else math.nan


def predicted_vs_true(y_true, predictions, title="", units=""):
    """Each model's predictions against the true values, with the line ŷ = y.

    A perfect model puts every point on the diagonal; R² = 1 − Σ(y − f)² /
    Σ(y − ȳ)² is in each legend entry.

    Args:
        y_true: ``(m,)`` targets.
        predictions: dict ``{label: (m,) or (m, 1) predictions}``.
        title: the figure's title.
        units: the targets' units, for the axes.

    Returns:
        A ``matplotlib.figure.Figure``.
    """
    y_true = np.ravel(np.asarray(y_true, dtype=float))
    if not predictions:
        raise ValueError(f"`predictions` needs at least one model. Received: {predictions!r}")
    fig = _figure(5.6, 5.2)
    ax = fig.add_subplot()
    low, high = y_true.min(), y_true.max()
    for label, prediction in predictions.items():
        prediction = np.ravel(np.asarray(prediction, dtype=float))
        if prediction.shape != y_true.shape:
            raise ValueError(
                f"{label!r} has {prediction.size} predictions for {y_true.size} targets."
            )
        low, high = min(low, prediction.min()), max(high, prediction.max())
        style = _CUSTOM_POINTS if _is_custom(label) else _OTHER_POINTS
        ax.scatter(
            y_true, prediction, label=f"{label} (R² = {_r2(y_true, prediction):.3f})", **style
        )
    ax.plot([low, high], [low, high], color="black", linewidth=1, label="ŷ = y")
    ax.set_xlabel(_with_units("true y", units))
    ax.set_ylabel(_with_units("predicted ŷ", units))
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# --- convolution ----------------------------------------------------------------


def _grid(figure, count, columns):
    rows = math.ceil(count / columns)
    return figure.subplots(rows, columns, squeeze=False).ravel()


def kernels(kernel, title="", columns=8):
    """A Conv2D's filters, each as a small image on one colour range centred on 0.

    Args:
        kernel: ``(kh, kw, in_channels, filters)``, e.g. ``layer.kernel``.
            With 3 input channels (RGB) each filter is drawn as the mean over
            them, otherwise its first input channel; the title says which.
        title: the figure's title.
        columns: filters per row.

    Returns:
        A ``matplotlib.figure.Figure`` with one image per filter.
    """
    kernel = np.asarray(kernel, dtype=float)
    if kernel.ndim != 4:
        raise ValueError(
            "`kernel` must have shape (kh, kw, in_channels, filters). "
            f"Received: kernel.shape={kernel.shape}"
        )
    kh, kw, channels, filters = kernel.shape
    if channels == 3:
        drawn, which = kernel.mean(axis=2), "mean over the 3 input channels"
    else:
        drawn = kernel[:, :, 0, :]
        which = "the one input channel" if channels == 1 else f"input channel 0 of {channels}"
    limit = float(np.abs(drawn).max()) or 1.0
    columns = min(columns, filters)
    fig = _figure(1.1 * columns + 1, 1.1 * math.ceil(filters / columns) + 0.8)
    axes = _grid(fig, filters, columns)
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < filters:
            image = ax.imshow(drawn[:, :, i], cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(f"filter {i}", fontsize=7)
    fig.colorbar(image, ax=axes.tolist(), label="weight", shrink=0.8)
    fig.suptitle(f"{title}\n{kh}×{kw} kernels, {which}".strip())
    return fig


def _as_image(image):
    """(H, W, C) or (H, W) in [0, 1] floats for imshow, from 0-255 or [0, 1]."""
    image = np.asarray(image)
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
        raise ValueError(f"`image` must be (H, W), (H, W, 1) or (H, W, 3). Received: {image.shape}")
    if np.issubdtype(image.dtype, np.integer) or image.max() > 1.0:
        image = image / 255.0
    return np.clip(image.astype(float), 0.0, 1.0)


def feature_maps(image, maps, title="", columns=8):
    """An input image and the feature maps a convolution makes of it.

    Args:
        image: ``(H, W, C)`` with C = 1 or 3, in [0, 1] or 0-255.
        maps: ``(H', W', n)`` (or ``(1, H', W', n)``), the layer's output for
            that image; each map is drawn on its own colour range.
        title: the figure's title.
        columns: maps per row.

    Returns:
        A ``matplotlib.figure.Figure``: the input, then n map images.
    """
    image = _as_image(image)
    maps = np.asarray(maps, dtype=float)
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(f"`maps` must have shape (H', W', n). Received: maps.shape={maps.shape}")
    count = maps.shape[-1]
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    cell_height = 1.3 * maps.shape[0] / maps.shape[1] + 0.3  # a map 1.3 in wide, its title
    fig = _figure(1.3 * columns + 3.2, max(cell_height * rows + 0.8, 3.4))
    left, right = fig.subfigures(1, 2, width_ratios=[3, 1.3 * columns])
    ax = left.add_subplot()
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_title(f"input {image.shape[0]}×{image.shape[1]}", fontsize=9)
    ax.set_axis_off()
    for i, ax in enumerate(_grid(right, count, columns)):
        ax.set_axis_off()
        if i < count:
            ax.imshow(maps[:, :, i], cmap="viridis")
            ax.set_title(f"map {i}", fontsize=7)
    right.suptitle(
        f"{count} feature maps, {maps.shape[0]}×{maps.shape[1]} each, "
        "each on its own colour range (bright: strong response)",
        fontsize=9,
    )
    fig.suptitle(title)
    return fig


# --- keeping them ---------------------------------------------------------------


def _in_kernel():
    """Whether this runs in a Jupyter kernel (IPython is not imported to ask)."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if get_ipython else None
    return shell is not None and hasattr(shell, "kernel")


def show(fig, path=None, dpi=100):
    """Write a figure as PNG and, in a Jupyter kernel, display it inline.

    Args:
        fig: a ``matplotlib.figure.Figure`` (from this module or pyplot).
        path: where to write it (folders are created); nothing is written
            when ``None``. The suffix picks the format, PNG by default.
        dpi: dots per inch, for the file and the inline picture.

    Returns:
        The ``pathlib.Path`` written, or ``None``.

    A figure without a layout engine (pyplot's default) gets a tight layout
    first. A figure pyplot manages is closed at the end, so that a script
    does not keep it and a notebook does not show it twice. This never calls
    ``plt.show()``, which blocks a script or warns under Agg.
    """
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    if path is not None:
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    if _in_kernel():
        from IPython.display import Image, display

        # PNG bytes, not the figure: a figure made without pyplot has no
        # inline formatter until pyplot has loaded the inline backend.
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        display(Image(data=buffer.getvalue(), format="png"))
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)
    return path
