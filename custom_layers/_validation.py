"""Argument checks shared by every custom object.

Each check raises ``ValueError`` in the Keras style: the message names the
argument and ends with ``Received: name=value``.
"""

import math
import numbers


def _fail(name, value, expected):
    raise ValueError(f"Argument `{name}` must be {expected}. Received: {name}={value!r}")


def positive_int(name, value):
    """Return ``value`` as an ``int`` if it is an integer > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        _fail(name, value, "a positive integer")
    if value <= 0:
        _fail(name, value, "a positive integer")
    return int(value)


def boolean(name, value):
    """Return ``value`` if it is a Python or NumPy bool."""
    if not isinstance(value, bool) and type(value).__name__ != "bool_":
        _fail(name, value, "a boolean (True or False)")
    return bool(value)


def real_in_range(name, value, low, high, *, low_open=False, high_open=False):
    """Return ``value`` as a ``float`` if it lies in the interval given.

    ``low``/``high`` may be ``None`` for an unbounded side; ``low_open`` and
    ``high_open`` exclude the end points.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        _fail(name, value, "a real number")
    value = float(value)
    if not math.isfinite(value):
        _fail(name, value, "a finite real number")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        left = "(" if low_open or low is None else "["  # an infinite end is never in
        right = ")" if high_open or high is None else "]"
        low_text = "-inf" if low is None else low
        high_text = "inf" if high is None else high
        _fail(name, value, f"in {left}{low_text}, {high_text}{right}")
    return value


def keras_object(name, getter, value):
    """Resolve a Keras identifier (initializer, regularizer, ...) with
    ``getter``, raising ``ValueError`` that names the argument."""
    try:
        return getter(value)
    except (ValueError, TypeError) as error:
        raise ValueError(f"Could not interpret `{name}`. Received: {name}={value!r}") from error
