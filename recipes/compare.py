"""The side-by-side comparison every recipe prints and draws: one row per
model, the gap between the twins' weights, and where the pictures go."""

import dataclasses
import pathlib

import numpy as np

from recipes import distributed
from recipes.pictures.display import in_kernel


@dataclasses.dataclass
class Row:
    """One line of a recipe's comparison table."""

    name: str
    metrics: dict
    fit_seconds: float
    max_weight_diff: float | None = None
    history: dict | None = None
    epochs: list | None = None  # the epochs (from 1) at which the history's entries end


def max_weight_diff(model_a, model_b):
    """The largest |Δw| between two models' weights, taken in order."""
    return max(
        float(np.max(np.abs(a - b)))
        for a, b in zip(model_a.get_weights(), model_b.get_weights(), strict=True)
    )


def print_table(title, rows, columns):
    """Print rows (``Row``) with the given metric columns (on the chief only)."""
    if not distributed.is_chief():
        return
    widths = [max(12, len(c) + 2) for c in columns]
    header = (
        f"{'model':<30}"
        + "".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
        + f"{'fit s':>9}{'max|Δw|':>10}"
    )
    print(f"\n{title}\n{header}\n{'-' * len(header)}")
    for row in rows:
        cells = "".join(
            f"{row.metrics[c]:>{w}.4f}" if c in row.metrics else " " * w
            for c, w in zip(columns, widths, strict=True)
        )
        diff = "" if row.max_weight_diff is None else f"{row.max_weight_diff:.1e}"
        print(f"{row.name:<30}{cells}{row.fit_seconds:>9.3f}{diff:>10}")


def histories(rows):
    """The rows' learning curves, as ``pictures.learning_curves`` takes them."""
    return {
        row.name: {"epochs": row.epochs, **row.history} for row in rows if row.history is not None
    }


def drawing(args):
    """Whether to draw the pictures: ``--plot`` given, or in a notebook."""
    return bool(args.plot) or in_kernel()


def picture_path(args, name=None):
    """Where ``--plot PATH`` puts picture ``name``: the learning curves
    (``name`` None) at PATH, every other picture beside it as
    ``<PATH's name>-<name>.png``. ``None`` without ``--plot``, and on the
    workers of a cluster other than the chief."""
    if not args.plot or not distributed.is_chief():
        return None
    path = pathlib.Path(args.plot)
    return path if name is None else path.with_name(f"{path.stem}-{name}{path.suffix or '.png'}")
