"""The activations of the notes, each with the derivative from the notes' table.

Every function takes the pre-activation ``z = w·x + b`` and returns
``a = g(z)``. Its backward pass is not autodiff of the forward: it is the
derivative the notes tabulate, written with ``keras.ops.custom_gradient``:

| activation   | g(z)                          | g'(z)                      |
|--------------|-------------------------------|----------------------------|
| `relu`       | max(0, z)                     | 1 if z > 0 else 0          |
| `linear`     | z                             | 1                          |
| `sigmoid`    | 1 / (1 + e^-z)                | σ(z)·(1 − σ(z))            |
| `tanh`       | (e^z − e^-z) / (e^z + e^-z)   | 1 − tanh(z)²               |
| `leaky_relu` | z if z > 0 else α·z           | 1 if z > 0 else α          |
| `softmax`    | e^z_j / Σ_k e^z_k             | a_j·(δ_jk − a_k)           |

Keras' extra arguments extend the table the same way. ``relu`` with a
slope s (``negative_slope``), a ceiling M (``max_value``) and a threshold θ
(``threshold``), as ``keras.activations.relu`` computes it: above θ, z
clipped to [0, M] when M is given, z itself when not:

| z                        | g(z)        | g'(z) |
|--------------------------|-------------|-------|
| z <= θ                   | s·(z − θ)   | s     |
| z > θ, 0 < z < M         | z           | 1     |
| z > θ, z <= 0, M given   | 0           | 0     |
| z > θ, z <= 0, no M      | z           | 1     |
| z > θ, z >= M            | M           | 0     |

The rows with z <= 0 above θ exist only for θ < 0. (s = 0, no M, θ = 0 is
the notes' ReLU; s = α, no M, θ = 0 is LeakyReLU.)
``softmax`` over a tuple of axes normalises over all their entries at once:
j and k then run over every position of those axes, the table is unchanged.

``sigmoid``, ``tanh`` and ``softmax`` are evaluated in forms that never
overflow: they only exponentiate non-positive numbers, so z = ±1000 or ±1e30
gives 0, 1 or ±1, never ``inf`` or ``nan``.

Note: the notes' LeakyReLU uses α = 0.01; Keras' ``leaky_relu`` defaults to
``negative_slope=0.2`` and ``keras.layers.LeakyReLU`` to 0.3.
"""

import math
import numbers
import warnings

import keras
from keras import ops

from custom_layers import _validation

__all__ = [
    "get",
    "leaky_relu",
    "leaky_relu_derivative",
    "linear",
    "relu",
    "relu_derivative",
    "sigmoid",
    "sigmoid_derivative",
    "softmax",
    "softplus",
    "tanh",
    "tanh_derivative",
]

_register = keras.saving.register_keras_serializable(package="custom_layers")


# The notes' derivative table, as functions of z.  The custom gradients below
# use the same expressions (in terms of the saved output where the notes do).


def relu_derivative(z, negative_slope=0.0, max_value=None, threshold=0.0):
    """Derivative of ``relu``, as the notes tabulate it (0 at z = 0).

        ReLU'(z) = 1 if z > 0 else 0

    With Keras' arguments (slope s, ceiling M, threshold θ; see the module
    table): s if z <= θ; above θ, 1 where z passes unclipped (0 < z < M, or
    any z without M) and 0 where the clip to [0, M] holds it.
    """
    s, m, theta = _relu_arguments(negative_slope, max_value, threshold)
    z = ops.convert_to_tensor(z)
    return _relu_slope(z, s, m, theta, ops.ones_like(z))


def sigmoid_derivative(z):
    """Derivative of ``sigmoid``.

        σ'(z) = σ(z)·(1 − σ(z))

    ``sigmoid``'s backward pass multiplies the upstream gradient by it.
    """
    s = sigmoid(z)
    return s * (1 - s)


def tanh_derivative(z):
    """Derivative of ``tanh``.

        tanh'(z) = 1 − tanh(z)²

    ``tanh``'s backward pass multiplies the upstream gradient by it.
    """
    t = tanh(z)
    return 1 - ops.square(t)


def leaky_relu_derivative(z, alpha=None, negative_slope=None):
    """Derivative of ``leaky_relu`` (α = 0.01 unless given, as there).

        LeakyReLU'(z) = 1 if z > 0 else α

    ``leaky_relu``'s backward pass multiplies the upstream gradient by it.
    """
    alpha = _leaky_slope(alpha, negative_slope)
    z = ops.convert_to_tensor(z)
    return ops.where(ops.greater(z, 0), ops.ones_like(z), alpha * ops.ones_like(z))


def _relu_arguments(negative_slope, max_value, threshold):
    """Check Keras' ReLU arguments: those ``keras.activations.relu`` computes
    the module table for. That is more than ``keras.layers.ReLU`` takes
    (s >= 0, θ >= 0): the function's s·(z − θ) holds for any finite s and θ,
    and M = ∞ clips to [0, ∞). Refused: non-finite s or θ and NaN M (the
    function returns NaN, ±inf or zeros for them) and M < 0 (every z > θ
    then gives 0 on TensorFlow, M on JAX)."""
    s = _validation.real_in_range("negative_slope", negative_slope, None, None)
    if max_value is not None and not (
        isinstance(max_value, numbers.Real) and max_value == math.inf
    ):
        max_value = _validation.real_in_range("max_value", max_value, 0.0, None)
    theta = _validation.real_in_range("threshold", threshold, None, None)
    return s, None if max_value is None else float(max_value), theta


def _relu_slope(z, s, m, theta, upstream):
    """upstream · g'(z) for the extended ReLU (module table): s if z <= θ,
    else 1 if 0 < z < M, 0 if z >= M or (with M, for θ < 0) z <= 0."""
    zeros = ops.zeros_like(upstream)
    if m is None:
        above = upstream
    elif theta < 0:
        above = ops.where(ops.logical_and(ops.greater(z, 0), ops.less(z, m)), upstream, zeros)
    else:
        above = ops.where(ops.less(z, m), upstream, zeros)
    below = zeros if s == 0 else s * upstream
    return ops.where(ops.greater(z, theta), above, below)


@_register
def relu(z, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit, the notes' default hidden-layer activation.

        g(z) = max(0, z),  g'(z) = 1 if z > 0 else 0

    Keras' arguments generalise it (module table; the semantics of
    ``keras.activations.relu``): g(z) = s·(z − θ) if z <= θ, else z clipped
    to [0, M] (z itself with no M); g'(z) = s if z <= θ, else 1 where z
    passes unclipped and 0 where the clip holds it.

    Args:
        z: pre-activation tensor.
        negative_slope: s, the slope for z <= θ, a finite real number
            (negative too, as Keras' function takes it; ``keras.layers.ReLU``
            takes s >= 0).
        max_value: M, the largest output, a real number >= 0 (``inf``
            too), or ``None`` for no ceiling. With M given the outputs above
            θ are also >= 0: for θ < 0, z in (θ, 0] gives 0, not z.
        threshold: θ, a finite real number (negative too, as Keras' function
            takes it; ``keras.layers.ReLU`` takes θ >= 0); outputs for
            z <= θ are s·(z − θ) (0 for s = 0). Note that for θ > 0 the
            output jumps from 0 to θ at z = θ, as in Keras.

    Example:

    >>> custom_layers.activations.relu([-2.0, 0.0, 3.0])
    [0., 0., 3.]
    >>> custom_layers.activations.relu([-10.0, 0.0, 5.0, 10.0], negative_slope=0.5, max_value=6.0)
    [-5., 0., 5., 6.]
    """
    s, m, theta = _relu_arguments(negative_slope, max_value, threshold)
    z = ops.convert_to_tensor(z)
    if s == 0 and m is None and theta == 0:
        return _relu(z)
    return _relu_extended(z, s, m, theta)


@ops.custom_gradient
def _relu(z):
    a = ops.maximum(z, 0)  # max(0, z); keeps NaN visible

    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream
        # sign(a) with a = max(0, z) is the table's 1 if z > 0 else 0, in one
        # op (measured: as fast as TF's fused ReluGrad, 4 % faster than a select).
        return upstream * ops.sign(a)

    return a, grad


def _relu_extended(z, s, m, theta):
    @ops.custom_gradient
    def _extended(z):
        if m is None:
            above = z
        elif theta < 0:
            above = ops.clip(z, 0, m)  # Keras' clip to [0, M]: 0 on θ < z <= 0
        else:
            above = ops.minimum(z, m)  # z > θ >= 0: the clip's floor never applies
        # s·(z − θ) as −s·(θ − z): the same number Keras computes; s = 0 gives
        # exact zeros (0·(z − θ) would be nan at z = −inf).
        below = ops.zeros_like(z) if s == 0 else -(s * (theta - z))
        a = ops.where(ops.greater(z, theta), above, below)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            return _relu_slope(z, s, m, theta, upstream)

        return a, grad

    return _extended(z)


@_register
def linear(z):
    """Linear (identity) activation, the notes' output for regression.

        g(z) = z,  g'(z) = 1

    A network whose layers all use it is linear regression: the stack
    collapses to one affine map (the notes' "without activation functions").
    """
    return ops.convert_to_tensor(z)


@_register
def sigmoid(z):
    """Logistic sigmoid, the notes' output for a probability.

        σ(z) = 1 / (1 + e^-z),  σ'(z) = σ(z)·(1 − σ(z))

    Evaluated as 1 / (1 + e^-|z|) for z >= 0 and e^-|z| / (1 + e^-|z|) for
    z < 0, so the exponential never overflows.
    """
    return _sigmoid(ops.convert_to_tensor(z))


def _sigmoid_value(z):
    """σ(z) in the form that never overflows, without a gradient of its own."""
    e = ops.exp(-ops.abs(z))  # in (0, 1]: never overflows
    return ops.where(ops.greater_equal(z, 0), 1 / (1 + e), e / (1 + e))


@ops.custom_gradient
def _sigmoid(z):
    s = _sigmoid_value(z)

    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream
        return upstream * s * (1 - s)

    return s, grad


@_register
def tanh(z):
    """Hyperbolic tangent, a zero-centred sigmoid with range (−1, 1).

        tanh(z) = (e^z − e^-z) / (e^z + e^-z),  tanh'(z) = 1 − tanh(z)²

    Evaluated as sign(z)·(1 − e^-2|z|) / (1 + e^-2|z|), with ``expm1`` for
    the numerator so that small |z| keeps full relative precision.
    """
    return _tanh(ops.convert_to_tensor(z))


@ops.custom_gradient
def _tanh(z):
    em1 = ops.expm1(-2 * ops.abs(z))  # e^-2|z| − 1, in (−1, 0]
    t = ops.sign(z) * (-em1) / (2 + em1)

    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream
        return upstream * (1 - ops.square(t))

    return t, grad


def _leaky_slope(alpha, negative_slope):
    """α from either name (the notes' ``alpha`` or Keras' ``negative_slope``), 0.01 if neither."""
    if alpha is not None and negative_slope is not None:
        raise ValueError(
            "Give the slope as `alpha` or as `negative_slope`, not both. "
            f"Received: alpha={alpha!r}, negative_slope={negative_slope!r}"
        )
    if negative_slope is not None:
        return _validation.real_in_range("negative_slope", negative_slope, 0.0, None)
    return _validation.real_in_range("alpha", 0.01 if alpha is None else alpha, 0.0, None)


@_register
def leaky_relu(z, alpha=None, negative_slope=None):
    """Leaky ReLU, a ReLU with a small slope α below zero.

        g(z) = z if z > 0 else α·z,  g'(z) = 1 if z > 0 else α

    Args:
        z: pre-activation tensor.
        alpha: slope for z <= 0, a real number >= 0. Defaults to the notes'
            0.01 (Keras' ``leaky_relu`` defaults to 0.2, its layer to 0.3).
        negative_slope: Keras' name for the same slope; give one of the two.
    """
    alpha = _leaky_slope(alpha, negative_slope)
    z = ops.convert_to_tensor(z)

    @ops.custom_gradient
    def _leaky(z):
        positive = ops.greater(z, 0)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            return ops.where(positive, upstream, alpha * upstream)

        return ops.where(positive, z, alpha * z), grad

    return _leaky(z)


def _softmax_axes(axis, rank):
    """``axis`` as Keras takes it (an int, or a tuple of ints for a joint
    softmax), checked against the rank; a tuple comes back non-negative and sorted."""

    def is_int(value):
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)

    def bad(expected):
        return ValueError(f"Argument `axis` must be {expected}. Received: axis={axis!r}")

    if is_int(axis):
        if not -rank <= axis < rank:
            raise bad(f"in [-{rank}, {rank}) for an input of rank {rank}")
        return int(axis)
    if not isinstance(axis, tuple) or not axis or not all(is_int(a) for a in axis):
        raise bad("an integer or a non-empty tuple of integers")
    if not all(-rank <= a < rank for a in axis):
        raise bad(f"a tuple of axes in [-{rank}, {rank}) for an input of rank {rank}")
    axes = sorted(int(a) % rank for a in axis)
    if len(set(axes)) != len(axes):
        raise bad("a tuple of distinct axes")
    return tuple(axes)


@_register
def softmax(z, axis=-1):
    """Softmax along ``axis``: N logits to N probabilities that sum to 1.

        a_j = e^z_j / Σ_k e^z_k

    Evaluated on z − max(z) (the notes' shift invariance), so every exponent
    is <= 0: outputs are > 0 unless they underflow, and sum to 1.
    Backward pass: the Jacobian ∂a_j/∂z_k = a_j·(δ_jk − a_k) applied to the
    upstream gradient u: a ⊙ (u − Σ_j u_j a_j).

    Args:
        z: logits.
        axis: the axis j runs over, an integer, or a tuple of axes: then j
            and k run over all their positions together (Keras' meaning), e.g.
            ``axis=(1, 2)`` on an (N, H, W) input gives each of the N images
            one distribution over its H·W pixels. Negative axes count from
            the end, in a tuple too.
    """
    z = ops.convert_to_tensor(z)
    axis = _softmax_axes(axis, len(z.shape))
    axes = axis if isinstance(axis, tuple) else (axis,)
    if all(z.shape[a] == 1 for a in axes):
        what, which = ("axes", "those axes have") if len(axes) > 1 else ("axis", "that axis has")
        warnings.warn(
            f"softmax over {what} {axis} of a tensor of shape {tuple(z.shape)}: {which} "
            "size 1, so every output is 1. For one output, sigmoid is the notes' choice.",
            UserWarning,
            stacklevel=2,
        )

    @ops.custom_gradient
    def _softmax(z):
        shifted = z - ops.stop_gradient(ops.max(z, axis=axis, keepdims=True))
        e = ops.exp(shifted)
        a = e / ops.sum(e, axis=axis, keepdims=True)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            return a * (upstream - ops.sum(upstream * a, axis=axis, keepdims=True))

        return a, grad

    return _softmax(z)


def softplus(x):
    """Softplus, the notes' building block of stable BCE.

        Softplus(x) = log(1 + e^x)

    Evaluated as max(x, 0) + log1p(e^-|x|) (no overflow); its derivative is
    σ(x), used as the backward pass.
    """
    return _softplus(ops.convert_to_tensor(x))


@ops.custom_gradient
def _softplus(x):
    y = ops.maximum(x, 0) + ops.log1p(ops.exp(-ops.abs(x)))

    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream
        # σ(x) as a value: the backward pass needs no gradient of its own.
        return upstream * _sigmoid_value(x)

    return y, grad


_BY_NAME = {
    "relu": relu,
    "linear": linear,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "leaky_relu": leaky_relu,
    "softmax": softmax,
}


# Keras activations equal to this module's function of the same name at the
# defaults. leaky_relu is not among them: Keras' slope is 0.2, the notes' 0.01.
KERAS_TWINS = {
    keras.activations.relu: relu,
    keras.activations.linear: linear,
    keras.activations.sigmoid: sigmoid,
    keras.activations.tanh: tanh,
    keras.activations.softmax: softmax,
}


def from_keras_name(name):
    """The function a plain name in a saved Keras config stands for: this
    module's twin where it equals Keras' function (``KERAS_TWINS``), else
    Keras' own (so ``"leaky_relu"`` keeps Keras' slope 0.2)."""
    keras_function = keras.activations.get(name)
    return KERAS_TWINS.get(keras_function, keras_function)


def get(identifier):
    """Resolve an activation identifier.

    ``None`` means ``linear``; the names of the notes' activations
    ("relu", "sigmoid", ...) resolve to this module's functions; any other
    identifier (a callable, another Keras name, a serialized config) goes
    through ``keras.activations.get``.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    try:
        return keras.activations.get(identifier)
    except (ValueError, TypeError) as error:
        raise ValueError(
            "Could not interpret the activation. Expected a callable, an "
            f"activation name or a serialized activation. "
            f"Received: activation={identifier!r}"
        ) from error
