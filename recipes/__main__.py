"""`python -m recipes`: every recipe, custom vs built-in, and one summary table.

Extra arguments (e.g. ``--epochs 5``, ``--data-dir DIR``, ``--impl custom``,
``--distribute multi-worker``) are passed to every recipe. Exits non-zero if a
recipe fails or if a custom model and its built-in twin differ by more than
0.5 point on their metric. In a multi-worker run only the chief prints the
headings and the summary; every worker reports its failures.
"""

import sys
import time

from recipes import (
    binary_classification,
    cnn_image_classification,
    harness,
    multiclass_classification,
    multilabel_classification,
    regression,
)

# recipe name -> (module, result keys holding {impl: Row} pairs, metric, scale,
# largest custom/built-in gap accepted: 0.5 point, or 0.005 of R²)
RECIPES = {
    "binary_classification": (
        binary_classification,
        ("logistic", "network"),
        "accuracy",
        100,
        0.5,
    ),
    "regression": (regression, ("rows",), "r2", 1, 0.005),
    "multiclass_classification": (multiclass_classification, ("rows",), "accuracy", 100, 0.5),
    "multilabel_classification": (
        multilabel_classification,
        ("rows",),
        "exact_match",
        100,
        0.5,
    ),
    "cnn_image_classification": (cnn_image_classification, ("rows",), "accuracy", 100, 0.5),
}


def _reference_rows(result):
    """Rows that are not custom/built-in pairs: from scratch, scikit-learn, ..."""
    return [
        row
        for key in ("scratch", "sklearn", "reference", "softmax")
        if (row := result.get(key)) is not None
    ]


def print_summary(lines):
    print("\nSummary (test set; accuracy in %)")
    print(f"{'recipe':<28}{'model':<34}{'metric':<13}{'value':>8}{'time s':>9}")
    for recipe, model, metric, value, seconds in lines:
        shown = "" if value != value else f"{value:8.2f}" if metric != "r2" else f"{value:8.4f}"
        print(f"{recipe:<28}{model:<34}{metric:<13}{shown:>8}{seconds:9.3f}")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--quiet" not in argv:
        argv.append("--quiet")
    if "multi-worker" in argv or "--distribute=multi-worker" in argv:
        try:
            harness.multi_worker_strategy()  # first, and so that is_chief() knows
        except ValueError as error:  # not on this backend
            print(f"error: {error}", file=sys.stderr)
            return 2
    lines, failures = [], []
    for name, (module, keys, metric, scale, tolerance) in RECIPES.items():
        if harness.is_chief():
            print(f"\n=== {name} ===", flush=True)
        start = time.perf_counter()
        try:
            result = module.main(argv)
        except Exception as error:  # report every recipe, then fail
            failures.append(f"{name}: {type(error).__name__}: {error}")
            if harness.in_cluster():
                break  # the workers are out of step now: no later collective would match
            continue
        seconds = time.perf_counter() - start
        for key in keys:
            pair = result[key]
            values = {impl: row.metrics[metric] * scale for impl, row in pair.items()}
            gap = abs(values["custom"] - values["builtin"]) if len(values) == 2 else 0.0
            if gap > tolerance:
                failures.append(f"{name}: custom and built-in differ by {gap:.3f} on {metric}")
            for row in pair.values():
                lines.append((name, row.name, metric, row.metrics[metric] * scale, row.fit_seconds))
        for row in _reference_rows(result):
            if metric in row.metrics:
                lines.append((name, row.name, metric, row.metrics[metric] * scale, row.fit_seconds))
        lines.append((name, "whole recipe", "", float("nan"), seconds))

    if harness.is_chief():
        print_summary(lines)
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
