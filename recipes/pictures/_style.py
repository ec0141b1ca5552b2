"""What the pictures share: how a figure is made, and the twins' styles."""

import math

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


def _grid(figure, count, columns):
    rows = math.ceil(count / columns)
    return figure.subplots(rows, columns, squeeze=False).ravel()
