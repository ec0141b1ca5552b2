"""The notes' optimizers as ``keras.optimizers.Optimizer`` subclasses.

Both implement only ``build`` and ``update_step``: the base class brings
learning-rate schedules, gradient clipping, weight decay, EMA, loss scaling
and gradient accumulation, exactly as for the Keras built-ins.
"""

import keras
from keras import ops

from custom_layers import _validation

__all__ = ["Adam", "GradientDescent"]

_register = keras.saving.register_keras_serializable(package="custom_layers")


def _learning_rate(value):
    """Accept what Keras accepts (a schedule, which is callable, or a callable)
    and check numbers."""
    if callable(value):
        return value
    return _validation.real_in_range("learning_rate", value, 0.0, None, low_open=True)


# Base-optimizer arguments Keras takes without checking; a bad value there
# would only fail (or silently do nothing) at the first update.
_POSITIVE_IF_SET = ("clipnorm", "clipvalue", "global_clipnorm", "loss_scale_factor")


def _base_arguments(kwargs):
    """Check the base ``Optimizer`` arguments Keras itself does not check."""
    for name in _POSITIVE_IF_SET:
        if kwargs.get(name) is not None:
            _validation.real_in_range(name, kwargs[name], 0.0, None, low_open=True)
    if kwargs.get("weight_decay") is not None:
        _validation.real_in_range("weight_decay", kwargs["weight_decay"], 0.0, None)
    return kwargs


@_register
class GradientDescent(keras.optimizers.Optimizer):
    """Gradient descent: w = w − α·∂J/∂w, b = b − α·∂J/∂b.

    The notes' update with a constant learning rate α, for every trainable
    variable. Equals ``keras.optimizers.SGD(learning_rate)`` with no momentum.

    Args:
        learning_rate: α, a float > 0 or a
            ``keras.optimizers.schedules.LearningRateSchedule``.
        name: optimizer name.
        **kwargs: base optimizer arguments (``clipnorm``, ``weight_decay``, ...).

    Example:

    >>> model.compile(optimizer=custom_layers.GradientDescent(0.1),
    ...               loss=custom_layers.BinaryCrossentropy(from_logits=True))
    """

    def __init__(self, learning_rate=0.01, name="gradient_descent", **kwargs):
        super().__init__(
            learning_rate=_learning_rate(learning_rate), name=name, **_base_arguments(kwargs)
        )

    def update_step(self, gradient, variable, learning_rate):
        alpha = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        self.assign_sub(variable, ops.multiply(alpha, gradient))


_EPSILON_PLACEMENTS = ("notes", "keras")


@_register
class Adam(keras.optimizers.Optimizer):
    """Adam, the notes' update rule with bias correction.

    For each parameter θ with gradient g at step t:

        m_t = β₁·m_{t−1} + (1 − β₁)·g
        v_t = β₂·v_{t−1} + (1 − β₂)·g²
        m̂_t = m_t / (1 − β₁ᵗ),  v̂_t = v_t / (1 − β₂ᵗ)
        θ_t = θ_{t−1} − η·m̂_t / (√v̂_t + ε)          (epsilon_placement="notes")

    Keras' ``Adam`` folds the bias corrections into the step size and adds
    ε to the uncorrected √v ("epsilon hat"):

        θ_t = θ_{t−1} − η·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m_t / (√v_t + ε)
                                                    (epsilon_placement="keras")

    which is the notes' rule with ε replaced by ε/√(1 − β₂ᵗ): the two agree
    once √v̂ ≫ ε and differ in early steps or for tiny gradients. Use
    ``epsilon_placement="keras"`` to reproduce ``keras.optimizers.Adam``.

    Args:
        learning_rate: η, a float > 0 or a learning-rate schedule.
        beta_1: β₁ in [0, 1), decay of the gradient average m.
        beta_2: β₂ in [0, 1), decay of the squared-gradient average v.
        epsilon: ε > 0.
        epsilon_placement: ``"notes"`` (default) or ``"keras"``, see above.
        name: optimizer name.
        **kwargs: base optimizer arguments (``clipnorm``, ``weight_decay``, ...).
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        epsilon_placement="notes",
        name="adam",
        **kwargs,
    ):
        super().__init__(
            learning_rate=_learning_rate(learning_rate), name=name, **_base_arguments(kwargs)
        )
        self.beta_1 = _validation.real_in_range("beta_1", beta_1, 0.0, 1.0, high_open=True)
        self.beta_2 = _validation.real_in_range("beta_2", beta_2, 0.0, 1.0, high_open=True)
        self.epsilon = _validation.real_in_range("epsilon", epsilon, 0.0, None, low_open=True)
        if epsilon_placement not in _EPSILON_PLACEMENTS:
            raise ValueError(
                f"Argument `epsilon_placement` must be one of {_EPSILON_PLACEMENTS}. "
                f"Received: epsilon_placement={epsilon_placement!r}"
            )
        self.epsilon_placement = epsilon_placement

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._m, self._v = self.add_optimizer_variables(var_list, ["m", "v"])

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        eta = ops.cast(learning_rate, dtype)
        g = ops.cast(gradient, dtype)
        t = ops.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        m, v = self._m[index], self._v[index]

        # m_t = β₁·m + (1 − β₁)·g, written m + (1 − β₁)·(g − m): the same
        # average in two tensor ops instead of three (likewise for v).
        self.assign_add(m, (g - m) * (1 - self.beta_1))
        self.assign_add(v, (ops.square(g) - v) * (1 - self.beta_2))
        correction_1 = 1 - ops.power(ops.cast(self.beta_1, dtype), t)  # 1 − β₁ᵗ
        sqrt_correction_2 = ops.sqrt(1 - ops.power(ops.cast(self.beta_2, dtype), t))
        # Both placements as one expression: the notes' η·m̂/(√v̂ + ε), with
        # m̂ = m/(1 − β₁ᵗ) and √v̂ = √v/√(1 − β₂ᵗ) and the scalar corrections
        # moved out of the tensors, is
        #   η·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m / (√v + ε·√(1 − β₂ᵗ)):
        # Keras' form with ε̂ = ε·√(1 − β₂ᵗ). Keras itself uses ε̂ = ε.
        alpha = eta * sqrt_correction_2 / correction_1
        if self.epsilon_placement == "notes":
            epsilon_hat = self.epsilon * sqrt_correction_2
        else:
            epsilon_hat = self.epsilon
        step = m * alpha / (ops.sqrt(v) + epsilon_hat)
        self.assign_sub(variable, step)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "epsilon_placement": self.epsilon_placement,
            }
        )
        return config
