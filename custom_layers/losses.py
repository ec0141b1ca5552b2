"""The notes' losses: one pure function per formula, one Keras ``Loss`` each.

| function | the notes' formula (per example) |
|---|---|
| `logistic_loss(y, y_hat)` | −y·log(ŷ) − (1−y)·log(1−ŷ) |
| `logistic_loss_from_logits(y, z)` | y·Softplus(−z) + (1−y)·Softplus(z) |
| `binary_crossentropy` | mean over the last axis (the notes' multi-label 1/N Σ_i) |
| `categorical_crossentropy` | −Σ_j y_j·log(a_j), from logits via log-sum-exp |
| `sparse_categorical_crossentropy` | −Σ_j 1{y = j}·log(a_j) = −log(a_c) |
| `mean_squared_error` | mean over the last axis of (y − f)² |

Where Keras departs from the textbook on purpose, the functions here follow
Keras (so the classes are drop-in twins of the built-ins) and the textbook
stays explicit in the ``naive_*`` and ``half_*`` functions:

- probabilities are clipped to [ε, 1 − ε] with ε = ``keras.config.epsilon()``
  (1e-7) before the log; the naive forms are not, and give ``inf``/``nan``
  at ŷ = 0 or 1, the notes' stability table;
- categorical CE on probabilities first divides a by its sum over the class
  axis (Keras renormalises; the notes' formula assumes Σ a = 1);
- Keras' MSE has no ½: the course's cost J = 1/(2m)·Σ(f − y)² is
  ``half_mean_squared_error``, whose gradient is half of Keras'.

The classes reduce per-example losses like every Keras loss (``reduction``,
``sample_weight``, masks), by the base ``keras.losses.Loss``.
"""

import keras
from keras import ops

from custom_layers import _loss_inputs, _stable_losses, _validation

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "half_mean_squared_error",
    "log_softmax",
    "logistic_loss",
    "logistic_loss_from_logits",
    "mean_squared_error",
    "naive_binary_crossentropy",
    "naive_categorical_crossentropy",
    "naive_sigmoid",
    "sparse_categorical_crossentropy",
]

_register = keras.saving.register_keras_serializable(package="custom_layers")


# --------------------------------------------------------------------------
# The formulas
# --------------------------------------------------------------------------


def logistic_loss(y, y_hat):
    """The notes' logistic loss, element-wise.

        L(y, ŷ) = −y·log(ŷ) − (1 − y)·log(1 − ŷ)

    No clipping: ŷ = 0 or 1 gives ``inf`` or ``nan``, as in the notes' table.
    """
    return -y * ops.log(y_hat) - (1 - y) * ops.log(1 - y_hat)


def logistic_loss_from_logits(y, z):
    """The notes' stable logistic loss, element-wise, on the logit z.

        L(y, z) = y·Softplus(−z) + (1 − y)·Softplus(z)

    with Softplus(x) = log(1 + e^x). Its gradient in z is σ(z) − y, and in y
    it is Softplus(−z) − Softplus(z) = −z: the backward pass returns both.

    Evaluated in one pass over z: since Softplus(±z) = max(±z, 0) +
    log1p(e^-|z|), L = c·|z| + log1p(e^-|z|) with c = 1 − y for z >= 0 and
    c = y for z < 0. No e^z overflows, and for labels in [0, 1] both terms
    are >= 0, so no digits cancel (soft labels at large |z| included).
    """
    return _stable_losses.logistic_from_logits(y, z)


def log_softmax(z, axis=-1):
    """The log of the softmax, by the log-sum-exp trick.

        log(a_j) = z_j − log Σ_k e^z_k

    The max is subtracted before exponentiating, so no e^z overflows and
    the log never sees 0.
    """
    shifted, log_sum = _stable_losses.log_sum_exp(z, axis, keepdims=True)
    return shifted - log_sum


def naive_sigmoid(z):
    """The sigmoid exactly as written, with no safeguard.

        σ(z) = 1 / (1 + e^-z)

    e^-z overflows to ``inf`` for z < -88 (float32).
    """
    return 1 / (1 + ops.exp(-ops.convert_to_tensor(z)))


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary cross-entropy per example: the mean over ``axis`` of the notes'
    logistic loss.

        L(y, ŷ) = −1/N Σ_i [y_i·log(ŷ_i) + (1 − y_i)·log(1 − ŷ_i)]

    With one output column (N = 1) this is the notes' logistic loss; with N
    columns it is the notes' multi-label loss.

    Label smoothing (Keras' extension) pulls the labels towards ½ before the
    formula: y ← y·(1 − ε_ls) + ½·ε_ls.

    Args:
        y_true: labels in [0, 1], shape ``(..., N)`` (or ``(...)`` for N=1).
        y_pred: probabilities ŷ, or logits z if ``from_logits``.
        from_logits: use the stable form y·Softplus(−z) + (1−y)·Softplus(z).
            Otherwise ŷ is clipped to [ε, 1 − ε] (Keras' behaviour).
        label_smoothing: ε_ls in [0, 1].
        axis: the axis averaged over (the labels' axis).

    Returns:
        The per-example loss: ``y_pred``'s shape without ``axis``.
    """
    y_true, y_pred = _loss_inputs.aligned(y_true, y_pred)
    y_true, ok = _loss_inputs.probability_labels(y_true)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        elementwise = _stable_losses.logistic_from_logits(y_true, y_pred, ok)
    else:
        eps = keras.config.epsilon()
        elementwise = logistic_loss(y_true, ops.clip(y_pred, eps, 1 - eps))
        elementwise = _loss_inputs.poisoned(elementwise, ok)
    return ops.mean(elementwise, axis=axis)


def naive_binary_crossentropy(y_true, y_pred, from_logits=False):
    """The textbook BCE with no safeguard: the sigmoid, then the log.

        ŷ = 1 / (1 + e^-z),  L(y, ŷ) = −y·log(ŷ) − (1 − y)·log(1 − ŷ)

    Kept to show the notes' stability table: at z = ±1000 it gives ``inf``
    or ``nan`` where ``binary_crossentropy(..., from_logits=True)`` is finite.
    """
    y_true, y_pred = _loss_inputs.aligned(y_true, y_pred)
    y_hat = naive_sigmoid(y_pred) if from_logits else y_pred
    return ops.mean(logistic_loss(y_true, y_hat), axis=-1)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Softmax cross-entropy for one-hot labels, summed over ``axis``.

        L(y, a) = −Σ_j y_j·log(a_j)

    Label smoothing (Keras' extension) spreads ε_ls of the mass evenly over
    the N classes: y_j ← y_j·(1 − ε_ls) + ε_ls/N. N is the size of the class
    axis (Keras uses the last axis's size even when ``axis`` is another one).

    Args:
        y_true: one-hot (or soft) labels, shape ``(..., N)``.
        y_pred: probabilities a, or logits z if ``from_logits``.
        from_logits: log(a_j) computed by log-sum-exp (``log_softmax``).
            Otherwise a is divided by its sum over the class axis and
            clipped to [ε, 1 − ε] before the log (Keras' behaviour).
        label_smoothing: ε_ls in [0, 1].
        axis: the class axis.

    Returns:
        The per-example loss: ``y_pred``'s shape without ``axis``.
    """
    y_true, y_pred = _loss_inputs.aligned(y_true, y_pred)
    if label_smoothing:
        classes = ops.cast(ops.shape(y_true)[axis], y_pred.dtype)
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / classes
    if from_logits:
        log_a = log_softmax(y_pred, axis=axis)
    else:
        eps = keras.config.epsilon()
        a = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
        log_a = ops.log(ops.clip(a, eps, 1 - eps))
    return -ops.sum(y_true * log_a, axis=axis)


def naive_categorical_crossentropy(y_true, y_pred, from_logits=False):
    """The textbook softmax cross-entropy, exactly as written.

        a_j = e^z_j / Σ_k e^z_k,  L(y, a) = −Σ_j y_j·log(a_j)

    Overflows for z >= 89 (float32) and gives ``inf`` when a_c = 0.
    """
    y_true, y_pred = _loss_inputs.aligned(y_true, y_pred)
    if from_logits:
        e = ops.exp(y_pred)
        y_pred = e / ops.sum(e, axis=-1, keepdims=True)
    return -ops.sum(y_true * ops.log(y_pred), axis=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """The notes' indicator-function cost for integer labels, per example.

        J(w, b) = −1/m Σ_i Σ_j 1{y⁽ⁱ⁾ = j}·log(a_j⁽ⁱ⁾)

    The indicator picks the true class c, so the per-example loss is
    −log(a_c). Equals ``categorical_crossentropy`` on one-hot labels.

    ``ignore_class`` (Keras' extension) drops the examples whose label is that
    value: their loss is 0, L_i = −1{y_i ≠ ignore}·log a_{y_i}, and the loss
    class averages over the others only.

    Args:
        y_true: integer class ids in [0, N), shape ``y_pred``'s without the
            class axis (or with it of size 1).
        y_pred: probabilities a or logits z, N along ``axis``.
        from_logits: log(a) by log-sum-exp. Otherwise a is clipped to
            [ε, 1 − ε] and renormalised by its sum, in the order the Keras
            backend in use does it (``_stable_losses.sparse_log_probabilities``).
        ignore_class: an integer label to ignore, or ``None``.
        axis: the class axis of ``y_pred``.

    Returns:
        The per-example loss: ``y_pred``'s shape without ``axis``.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    axis = axis % len(y_pred.shape)
    classes = y_pred.shape[axis]
    y_true = _loss_inputs.class_ids(y_true, y_pred, axis, ignore_class)
    labels = ops.cast(y_true, "int32")
    if ignore_class is not None:
        valid = ops.not_equal(labels, ignore_class)
        labels = ops.where(valid, labels, 0)
    # The notes' sum over j of 1{y = j}·(...) picks the true class c: the
    # indicator compares each class id with 0..N−1, and a select stands in
    # for the product, so that a −inf in another class cannot give
    # 0·(−inf) = NaN. A few ops to trace, where a gather along the class
    # axis and its gradient take a hundred.
    indicator = ops.equal(ops.expand_dims(labels, -1), ops.arange(classes, dtype=labels.dtype))
    if axis != len(y_pred.shape) - 1:
        indicator = ops.moveaxis(indicator, -1, axis)
    if from_logits:
        loss = _stable_losses.sparse_ce_from_logits(y_pred, indicator, axis)
    else:
        # −log a_c = log_sum − shifted_c; an id outside [0, N) matches no class
        shifted, log_sum = _stable_losses.sparse_log_probabilities(y_pred, axis)
        loss = log_sum - ops.sum(ops.where(indicator, shifted, 0.0), axis=axis)
        loss = _loss_inputs.poisoned(loss, ops.any(indicator, axis=axis))
    if ignore_class is not None:
        loss = ops.where(valid, loss, ops.zeros_like(loss))
    return loss


def mean_squared_error(y_true, y_pred):
    """Keras' MSE per example, over the last axis of size N (no ½).

        L(y, f) = 1/N Σ_i (y_i − f_i)²

    The course's cost, with the ½, is ``half_mean_squared_error``.
    """
    y_true, y_pred = _loss_inputs.aligned(y_true, y_pred)
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


def half_mean_squared_error(y_true, y_pred):
    """The course's squared-error cost per example (with the ½).

        L(y, f) = 1/(2N) Σ_i (f_i − y_i)²

    Averaged over m examples this is J = 1/(2m)·Σ(f − y)²; its gradient is
    exactly half of ``mean_squared_error``'s.
    """
    return 0.5 * mean_squared_error(y_true, y_pred)


# --------------------------------------------------------------------------
# The Keras Loss classes
# --------------------------------------------------------------------------


class _FormulaLoss(keras.losses.Loss):
    """A ``keras.losses.Loss`` that applies one formula above per example.

    The formula's options (``from_logits``, ``axis``, ...) are attributes of
    the loss and entries of its config.
    """

    formula = None  # set by subclasses: a function (y_true, y_pred, **options)

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None, **options):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._option_names = tuple(options)
        for key, value in options.items():
            setattr(self, key, value)

    def _options(self):
        return {key: getattr(self, key) for key in self._option_names}

    def call(self, y_true, y_pred):
        return type(self).formula(y_true, y_pred, **self._options())

    def get_config(self):
        return {**super().get_config(), **self._options(), "dtype": self._dtype_policy.name}


def _axis(axis):
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"Argument `axis` must be an integer. Received: axis={axis!r}")
    return axis


def _cross_entropy_options(from_logits, label_smoothing, axis):
    """The checked options that BCE and CCE share."""
    return {
        "from_logits": _validation.boolean("from_logits", from_logits),
        "label_smoothing": _validation.real_in_range("label_smoothing", label_smoothing, 0.0, 1.0),
        "axis": _axis(axis),
    }


@_register
class BinaryCrossentropy(_FormulaLoss):
    """The notes' logistic loss as a Keras loss (binary and multi-label).

    Per example, the mean over ``axis`` of

        L(y, ŷ) = −y·log(ŷ) − (1 − y)·log(1 − ŷ)
        L(y, z) = y·Softplus(−z) + (1 − y)·Softplus(z)          (from_logits=True)

    Probabilities are clipped to [1e-7, 1 − 1e-7] as Keras clips them; with
    ``label_smoothing`` ε_ls the labels become y·(1 − ε_ls) + ½·ε_ls first.

    Args:
        from_logits: whether ``y_pred`` are logits z (recommended: a linear
            last layer, the notes' numerically stable set-up).
        label_smoothing: ε_ls in [0, 1], default 0.
        axis: the axis the mean runs over, default -1.
        reduction: Keras reduction, default ``"sum_over_batch_size"``;
            also ``"sum"``, ``"mean"``, ``"mean_with_sample_weight"``, ``None``.
        name: loss name.
        dtype: dtype of the loss computation (default: ``keras.config.floatx()``).

    Example:

    >>> model.compile(optimizer=custom_layers.Adam(),
    ...               loss=custom_layers.BinaryCrossentropy(from_logits=True))
    """

    formula = staticmethod(binary_crossentropy)

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_crossentropy",
        dtype=None,
    ):
        super().__init__(
            reduction=reduction,
            name=name,
            dtype=dtype,
            **_cross_entropy_options(from_logits, label_smoothing, axis),
        )


@_register
class CategoricalCrossentropy(_FormulaLoss):
    """Softmax cross-entropy for one-hot labels.

        L(y, a) = −Σ_j y_j·log(a_j)

    With ``from_logits=True``, log(a_j) comes from log-sum-exp; otherwise a
    is renormalised by its sum and clipped, as Keras does. With
    ``label_smoothing`` ε_ls the labels become y_j·(1 − ε_ls) + ε_ls/N first.

    Args: as ``BinaryCrossentropy``; ``axis`` is the class axis.
    """

    formula = staticmethod(categorical_crossentropy)

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            reduction=reduction,
            name=name,
            dtype=dtype,
            **_cross_entropy_options(from_logits, label_smoothing, axis),
        )


@_register
class SparseCategoricalCrossentropy(_FormulaLoss):
    """The notes' indicator-function cost J(w, b) for integer labels.

        J(w, b) = −1/m Σ_i Σ_j 1{y⁽ⁱ⁾ = j}·log(a_j⁽ⁱ⁾)

    Per example −log(a_c), c the true class; the default
    ``"sum_over_batch_size"`` reduction makes it the notes' −1/m Σ_i.
    Examples labelled ``ignore_class`` count neither in the sum nor in m.

    Args:
        from_logits: whether ``y_pred`` are logits.
        ignore_class: an integer label to leave out, or ``None``.
        axis: the class axis of ``y_pred``, default -1.
        reduction, name, dtype: as ``BinaryCrossentropy``.
    """

    formula = staticmethod(sparse_categorical_crossentropy)

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        axis=-1,
        reduction="sum_over_batch_size",
        name="sparse_categorical_crossentropy",
        dtype=None,
    ):
        if ignore_class is not None and (
            isinstance(ignore_class, bool) or not isinstance(ignore_class, int)
        ):
            raise ValueError(
                "Argument `ignore_class` must be an integer or None. "
                f"Received: ignore_class={ignore_class!r}"
            )
        super().__init__(
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=_validation.boolean("from_logits", from_logits),
            ignore_class=ignore_class,
            axis=_axis(axis),
        )

    def __call__(self, y_true, y_pred, sample_weight=None):
        if self.ignore_class is None:
            return super().__call__(y_true, y_pred, sample_weight)
        # Leave the ignored examples out of the reduction as Keras does: as
        # weights, 0 for them and, for the averaging reductions,
        # total/valid for the others, so that the mean runs over valid ones.
        labels = ops.convert_to_tensor(y_true)
        rank = len(ops.convert_to_tensor(y_pred).shape)
        if len(labels.shape) == rank and labels.shape[self.axis] == 1:
            labels = ops.squeeze(labels, self.axis)
        valid = ops.cast(ops.not_equal(ops.cast(labels, "int32"), self.ignore_class), self.dtype)
        if self.reduction in ("mean", "sum_over_batch_size"):
            total = ops.cast(ops.size(valid), self.dtype)
            valid = valid * ops.divide_no_nan(total, ops.sum(valid))
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, self.dtype)
            while len(sample_weight.shape) < len(valid.shape):
                sample_weight = ops.expand_dims(sample_weight, -1)
            valid = valid * sample_weight
        return super().__call__(y_true, y_pred, valid)


@_register
class MeanSquaredError(_FormulaLoss):
    """Mean squared error over the last axis of size N (no ½: Keras').

        L(y, f) = 1/N Σ_i (y_i − f_i)²

    Args:
        reduction, name, dtype: as ``BinaryCrossentropy``.
    """

    formula = staticmethod(mean_squared_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
