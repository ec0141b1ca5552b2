"""A classifier's decisions: the boundary, the confusion matrix, labels."""

import numpy as np

from recipes.pictures._style import _figure, _is_custom, _with_units


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
