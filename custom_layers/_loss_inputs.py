"""What the losses accept: labels and predictions of one shape, labels in
the domain of the formula.

``aligned`` applies Keras' rank rule (labels (m,) with predictions (m, 1)
are one column) and then refuses a shape mismatch with ``ValueError``
instead of broadcasting it silently; ``class_ids`` does the same for sparse
labels. ``probability_labels`` and ``class_ids`` let through the labels a
formula can take; ``_backend.check_labels`` refuses the others, eagerly or
inside the compiled step.
"""

import keras
from keras import ops

from custom_layers import _backend


def aligned(y_true, y_pred):
    """Tensors of y_pred's dtype, ranks aligned as Keras aligns them, shapes
    checked: a mismatch raises instead of broadcasting silently."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    y_true, y_pred = _same_rank(y_true, y_pred)
    _check_same_shape(y_true, y_pred)
    return y_true, y_pred


def probability_labels(y_true):
    """BCE labels are probabilities of the positive class: in [0, 1].
    Returns them, checked (see ``_backend.check_labels``), and where they
    are: a loss built from them passes ``poisoned`` that mask."""
    ok = ops.logical_and(y_true >= 0, y_true <= 1)  # constants of y's dtype: no casts
    message = "Binary cross-entropy labels must lie in [0, 1] (and not be NaN)."
    return _backend.check_labels(ok, message, y_true), ok


def poisoned(loss, ok):
    """``loss`` with NaN where ``ok`` is false, and no gradient from there.

    The label checks stop a step before its loss is used, except where the
    check cannot run: TensorFlow's XLA (``jit_compile=True``, Keras' choice
    on a GPU) drops ``Assert`` ops. There a bad label must still not give a
    finite loss: it gives NaN, which ``fit`` logs and ``TerminateOnNaN``
    stops on, as Keras' own sparse cross-entropy gives under XLA.
    """
    return ops.where(ok, loss, float("nan"))


def _same_rank(y_true, y_pred):
    """Squeeze or expand a trailing axis of size 1 when ranks differ by one
    (Keras' rule: labels (m,) with predictions (m, 1) are one column)."""
    true_rank, pred_rank = len(y_true.shape), len(y_pred.shape)
    if true_rank == pred_rank + 1 and y_true.shape[-1] == 1:
        if pred_rank == 1:
            y_pred = ops.expand_dims(y_pred, -1)
        else:
            y_true = ops.squeeze(y_true, -1)
    elif pred_rank == true_rank + 1 and y_pred.shape[-1] == 1:
        if true_rank == 1:
            y_true = ops.expand_dims(y_true, -1)
        else:
            y_pred = ops.squeeze(y_pred, -1)
    return y_true, y_pred


def _compatible(shape, expected):
    """Whether two static shapes can be the same: equal ranks, and equal
    sizes wherever both are known."""
    return len(shape) == len(expected) and all(
        a is None or b is None or a == b for a, b in zip(shape, expected, strict=True)
    )


def _check_same_shape(y_true, y_pred):
    if not _compatible(y_true.shape, y_pred.shape):
        raise ValueError(
            "`y_true` and `y_pred` must have the same shape. Received: "
            f"y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}"
        )


def class_ids(y_true, y_pred, axis, ignore_class):
    """Sparse labels: one class id per row of ``y_pred`` (its shape without
    the class ``axis``, which a label axis of size 1 may keep), each in
    [0, N) or ``ignore_class``. Returns them, checked.

    The ids the loss reads come out of the check: inside a tf.function what
    picks the true class runs only after the check passed, so a bad id stops
    the step with this message and never feeds the loss.
    """
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[axis] == 1:
        y_true = ops.squeeze(y_true, axis)
    expected = tuple(d for i, d in enumerate(y_pred.shape) if i != axis)
    if not _compatible(y_true.shape, expected):
        raise ValueError(
            "`y_true` must hold one class id per row of `y_pred`: y_pred's shape "
            f"without the class axis. Received: y_true.shape={tuple(y_true.shape)}, "
            f"y_pred.shape={tuple(y_pred.shape)}"
        )
    classes = y_pred.shape[axis]
    return _backend.check_labels(
        class_ids_ok(y_true, classes, ignore_class),
        f"Class ids must be whole numbers in [0, {classes}).",
        y_true,
    )


def class_ids_ok(y_true, classes, ignore_class):
    """True where a label is a class id in [0, classes), or ``ignore_class``.

    Compared in the labels' own dtype, so that no cast wraps a large id into
    the range; a float label must also be whole (2.5 is not a class id), and
    NaN fails every comparison.
    """
    ok = ops.logical_and(y_true >= 0, y_true < classes)  # constants of y's dtype: no casts
    if not keras.backend.is_int_dtype(y_true.dtype):
        ok = ops.logical_and(ok, ops.equal(ops.floor(y_true), y_true))
    if ignore_class is not None:
        ok = ops.logical_or(ok, ops.equal(y_true, ignore_class))
    return ok
