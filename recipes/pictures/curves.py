"""Lines over the epochs, and predictions against the truth."""

import math

import numpy as np

from recipes.pictures._style import (
    _CUSTOM_LINE,
    _CUSTOM_POINTS,
    _OTHER_LINE,
    _OTHER_POINTS,
    _figure,
    _is_custom,
    _with_units,
)


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
