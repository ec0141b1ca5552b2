"""The stable evaluations behind the losses, with their hand-written backward
passes (``keras.ops.custom_gradient``): one pass over the logits where
autodiff of the formula would trace several, and no e^z that overflows.

- ``logistic_from_logits``: the notes' y·Softplus(−z) + (1 − y)·Softplus(z),
  backward σ(z) − y;
- ``log_sum_exp``: the two terms of log a_j = (z_j − max z) − log Σ_k e^(z_k − max z);
- ``sparse_ce_from_logits``: −log a_c, backward a_j − 1{y = j};
- ``sparse_log_probabilities``: log a_j of clipped probabilities, in the
  order of the Keras backend in use.
"""

import keras
from keras import ops

from custom_layers import _backend, _loss_inputs


def logistic_from_logits(y, z, ok=None):
    """y·Softplus(−z) + (1 − y)·Softplus(z) element-wise, backward σ(z) − y
    in z and −z in y; where ``ok`` (the labels' check) is false, NaN and no
    gradient (``_loss_inputs.poisoned``), at the cost of a select forward and
    a product backward instead of autodiff's bookkeeping for a select."""
    z = ops.convert_to_tensor(z)
    y = ops.cast(y, z.dtype)
    if tuple(y.shape) != tuple(z.shape):
        # The backward pass returns one gradient per element of each
        # argument: broadcast them first, autodiff sums the gradients back.
        y, z = y + ops.zeros_like(z), z + ops.zeros_like(y)

    @ops.custom_gradient
    def loss(y, z):
        abs_z = ops.abs(z)
        e = ops.exp(-abs_z)  # e^-|z| in (0, 1]: never overflows
        positive = ops.greater_equal(z, 0.0)
        value = ops.where(positive, 1 - y, y) * abs_z + ops.log1p(e)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            if ok is not None:
                upstream = upstream * ops.cast(ok, upstream.dtype)
            # σ(z) from the same e^-|z|, in the form ``sigmoid`` evaluates.
            r = 1 / (1 + e)
            sigma = ops.where(positive, r, e * r)
            return upstream * -z, upstream * (sigma - y)

        return value if ok is None else _loss_inputs.poisoned(value, ok), grad

    return loss(y, z)


def log_sum_exp(z, axis, keepdims):
    """The two terms of log(a_j) = (z_j − max z) − log Σ_k e^(z_k − max z):
    the shifted logits, and the log of the sum (``keepdims`` as in ``ops.sum``)."""
    shifted = z - ops.stop_gradient(ops.max(z, axis=axis, keepdims=True))
    return shifted, ops.log(ops.sum(ops.exp(shifted), axis=axis, keepdims=keepdims))


def sparse_log_probabilities(a, axis):
    """For sparse CE on probabilities: log(a_j) = shifted_j − log_sum, a
    clipped and renormalised, as the pair ``log_sum_exp`` returns.

    Keras' backends do the two steps in different orders, which agree in
    value but not in gradient where a_j < ε: TensorFlow clips a, then its
    softmax kernel renormalises, log(clip(a)/Σ clip(a)) (a clipped a_j gets
    no gradient); JAX (and PyTorch, NumPy) renormalise, then clip,
    log(clip(a/Σ a)), as every backend's categorical CE does. The twin follows
    the built-in of the backend in use (``_backend.sparse_ce_clips_first``).
    """
    eps = keras.config.epsilon()
    if _backend.sparse_ce_clips_first():
        return log_sum_exp(ops.log(ops.clip(a, eps, 1 - eps)), axis, keepdims=False)
    log_a = ops.log(ops.clip(a / ops.sum(a, axis=axis, keepdims=True), eps, 1 - eps))
    return log_a, 0.0


def sparse_ce_from_logits(z, indicator, axis):
    """−log a_c from the logits by log-sum-exp, c where ``indicator`` holds.

        −log a_c = log Σ_k e^(z_k − max z) − (z_c − max z)

    Its backward pass is the notes' softmax cross-entropy gradient
    ∂L/∂z_j = a_j − 1{y = j}, with a from the forward pass's e^(z − max z).
    """

    @ops.custom_gradient
    def loss(z):
        shifted = z - ops.max(z, axis=axis, keepdims=True)
        e = ops.exp(shifted)  # e^(z_j − max z) in [0, 1]: never overflows
        total = ops.sum(e, axis=axis, keepdims=True)
        # log_sum − shifted_c as the sum over j of a select, exact: one
        # nonzero term per example
        value = ops.sum(ops.where(indicator, ops.log(total) - shifted, 0.0), axis=axis)
        # An id outside [0, N) matches no class: NaN and no gradient
        # (``_loss_inputs.poisoned``), not a loss of 0.
        matched = ops.any(indicator, axis=axis)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            a = e / total
            upstream = ops.expand_dims(upstream * ops.cast(matched, upstream.dtype), axis)
            return upstream * ops.where(indicator, a - 1, a)

        return _loss_inputs.poisoned(value, matched), grad

    return loss(z)
