"""The notes' optimizers as ``keras.optimizers.Optimizer`` subclasses.

The notes describe Adam as Momentum plus RMSProp; both halves are here too:
``GradientDescent`` with ``momentum`` (and Nesterov's variant) and
``RMSprop``. Each implements only ``build`` and ``update_step``: the base
class brings learning-rate schedules, gradient clipping, weight decay, EMA,
loss scaling and gradient accumulation, exactly as for the Keras built-ins.
"""

import numbers

import keras
from keras import ops

from custom_layers import _validation

__all__ = ["Adam", "GradientDescent", "RMSprop"]

_register = keras.saving.register_keras_serializable(package="custom_layers")


def _learning_rate(value):
    """Accept what Keras accepts (a schedule, which is callable, or a callable)
    and check numbers."""
    if callable(value):
        return value
    return _validation.real_in_range("learning_rate", value, 0.0, None, low_open=True)


def _momentum(value):
    """μ in [0, 1], with the wording of ``keras.optimizers.SGD``'s check (which
    also refuses ints such as 0 or 1; those are accepted here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        # a NaN fails the comparison too
        raise ValueError(
            f"Argument `momentum` must be a float between [0, 1]. Received: momentum={value!r}"
        )
    return float(value)


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
    """Gradient descent: w = w − α·∂J/∂w, b = b − α·∂J/∂b, optionally with momentum.

    With the defaults this is the notes' update with a constant learning
    rate α, for every trainable variable. Writing g = ∂J/∂w:

        w_t = w_{t−1} − α·g_t                                   (momentum=0)

    With momentum μ > 0 each variable keeps a velocity u (zero at the start):

        u_t = μ·u_{t−1} − α·g_t
        w_t = w_{t−1} + u_t                                     (nesterov=False)
        w_t = w_{t−1} + μ·u_t − α·g_t                           (nesterov=True)

    The velocity is the "Momentum" half of the notes' Adam in disguise: with
    Adam's average m_t = μ·m_{t−1} + (1 − μ)·g_t, u_t = −α/(1 − μ)·m_t, so the
    plain momentum step is w −= α/(1 − μ)·m_t (no bias correction, no v).
    Nesterov's variant evaluates the step "one velocity ahead": it adds the
    current gradient once more, w −= α/(1 − μ)·(μ·m_t + (1 − μ)·g_t).

    Equals ``keras.optimizers.SGD(learning_rate, momentum, nesterov)``, update
    for update.

    Args:
        learning_rate: α, a float > 0 or a
            ``keras.optimizers.schedules.LearningRateSchedule``.
        momentum: μ in [0, 1]; 0 (default) is the notes' plain update and
            creates no velocity variables.
        nesterov: bool, Nesterov's variant of the momentum update (no effect
            when ``momentum=0``).
        name: optimizer name.
        **kwargs: base optimizer arguments (``clipnorm``, ``weight_decay``, ...).

    Example:

    >>> model.compile(optimizer=custom_layers.GradientDescent(0.1, momentum=0.9),
    ...               loss=custom_layers.BinaryCrossentropy(from_logits=True))
    """

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.0,
        nesterov=False,
        name="gradient_descent",
        **kwargs,
    ):
        super().__init__(
            learning_rate=_learning_rate(learning_rate), name=name, **_base_arguments(kwargs)
        )
        self.momentum = _momentum(momentum)
        self.nesterov = _validation.boolean("nesterov", nesterov)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._u = self.add_optimizer_variables(var_list, "u") if self.momentum != 0 else []

    def update_step(self, gradient, variable, learning_rate):
        alpha = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if self.momentum == 0:
            self.assign_sub(variable, ops.multiply(alpha, gradient))
            return
        mu = ops.cast(self.momentum, variable.dtype)
        u = self._u[self._get_variable_index(variable)]
        self.assign(u, ops.subtract(ops.multiply(u, mu), ops.multiply(gradient, alpha)))
        if self.nesterov:
            self.assign_add(
                variable, ops.subtract(ops.multiply(u, mu), ops.multiply(gradient, alpha))
            )
        else:
            self.assign_add(variable, u)

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config


@_register
class RMSprop(keras.optimizers.Optimizer):
    """RMSprop: divide the gradient by a running root mean square of gradients.

    The "RMSProp" half of the notes' Adam. For each parameter θ with gradient
    g at step t, v (and ḡ, u) zero at the start:

        v_t = ρ·v_{t−1} + (1 − ρ)·g_t²
        s_t = η·g_t / √(v_t + ε)                                (centered=False)

    ``centered=True`` also averages the gradients and divides by the root of
    their running variance instead of their second moment:

        ḡ_t = ρ·ḡ_{t−1} + (1 − ρ)·g_t
        s_t = η·g_t / √(v_t − ḡ_t² + ε)

    Then, with momentum μ:

        θ_t = θ_{t−1} − s_t                                     (momentum=0)
        u_t = μ·u_{t−1} + s_t,  θ_t = θ_{t−1} − u_t             (momentum=μ>0)

    Unlike the notes' Adam there is no bias correction (v starts at zero, so
    the first step is about η·g/√((1 − ρ)·g²) = η·sign(g)/√(1 − ρ), 3.16·η
    at ρ = 0.9) and ε sits inside the root: the denominator never falls below
    √ε (3.2e-4 at ε = 1e-7), where Adam's √v̂ + ε can reach ε. Adam with
    β₁ = 0 and no bias correction of v would be this rule with ε outside.

    Equals ``keras.optimizers.RMSprop`` with the same arguments, update for
    update.

    Args:
        learning_rate: η, a float > 0 or a learning-rate schedule.
        rho: ρ in [0, 1), decay of the squared-gradient average v (and ḡ).
        momentum: μ in [0, 1]; 0 (default) creates no momentum variables.
        epsilon: ε > 0, added to v under the root.
        centered: bool, divide by the running variance v − ḡ² (see above).
        name: optimizer name.
        **kwargs: base optimizer arguments (``clipnorm``, ``weight_decay``, ...).

    Example:

    >>> model.compile(optimizer=custom_layers.RMSprop(0.001, rho=0.9),
    ...               loss=custom_layers.MeanSquaredError())
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
        name="rmsprop",
        **kwargs,
    ):
        super().__init__(
            learning_rate=_learning_rate(learning_rate), name=name, **_base_arguments(kwargs)
        )
        self.rho = _validation.real_in_range("rho", rho, 0.0, 1.0, high_open=True)
        self.momentum = _momentum(momentum)
        self.epsilon = _validation.real_in_range("epsilon", epsilon, 0.0, None, low_open=True)
        self.centered = _validation.boolean("centered", centered)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._v = self.add_optimizer_variables(var_list, "v")
        self._u = self.add_optimizer_variables(var_list, "u") if self.momentum > 0 else []
        self._g_bar = self.add_optimizer_variables(var_list, "g_bar") if self.centered else []

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        eta = ops.cast(learning_rate, dtype)
        g = ops.cast(gradient, dtype)
        index = self._get_variable_index(variable)
        v = self._v[index]

        self.assign(
            v, ops.add(ops.multiply(self.rho, v), ops.multiply(1 - self.rho, ops.square(g)))
        )
        if self.centered:
            g_bar = self._g_bar[index]
            self.assign(
                g_bar, ops.add(ops.multiply(self.rho, g_bar), ops.multiply(1 - self.rho, g))
            )
            under_root = v - ops.square(g_bar) + self.epsilon
        else:
            under_root = ops.add(v, self.epsilon)
        s = ops.divide(ops.multiply(eta, g), ops.sqrt(under_root))
        if self.momentum > 0:
            u = self._u[index]
            self.assign(u, ops.add(ops.multiply(self.momentum, u), s))
            self.assign_sub(variable, u)
        else:
            self.assign_sub(variable, s)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "rho": self.rho,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "centered": self.centered,
            }
        )
        return config


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

    AMSGrad (``amsgrad=True``) never lets the denominator shrink: it keeps
    the running maximum of the raw second moment and bias-corrects that,

        v_{max,t} = max(v_{max,t−1}, v_t)
        v̂_t = v_{max,t} / (1 − β₂ᵗ)                    (replaces v̂_t above)
        θ_t = θ_{t−1} − η·m̂_t / (√v̂_t + ε)          (epsilon_placement="notes")
        θ_t = θ_{t−1} − η·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m_t / (√v_{max,t} + ε)
                                                    (epsilon_placement="keras")

    so the two placements still differ only by ε → ε/√(1 − β₂ᵗ), and
    "keras" reproduces ``keras.optimizers.Adam(amsgrad=True)``. The maximum
    is taken before the bias correction, as Keras does. Taking it after,
    max over τ ≤ t of v̂_τ = v_τ/(1 − β₂^τ), would be a different, more
    cautious rule: since 1 − β₂^τ ≤ 1 − β₂ᵗ it is never smaller, and it
    keeps a large early v̂ at full size for good, where here that early v_τ
    is divided by the growing 1 − β₂ᵗ (for β₂ = 0.999, once 1 − β₂ᵗ ≈ 1, a
    spike g₁ at step 1 counts as (1 − β₂)·g₁², 1000× less than v̂₁ = g₁²).

    A config without ``epsilon_placement`` (one written by
    ``keras.optimizers.Adam.get_config()``) builds, through ``from_config``,
    an Adam with ``epsilon_placement="keras"``: the optimizer it describes.

    Args:
        learning_rate: η, a float > 0 or a learning-rate schedule.
        beta_1: β₁ in [0, 1), decay of the gradient average m.
        beta_2: β₂ in [0, 1), decay of the squared-gradient average v.
        epsilon: ε > 0.
        amsgrad: bool, AMSGrad's running maximum of v (see above).
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
        amsgrad=False,
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
        self.amsgrad = _validation.boolean("amsgrad", amsgrad)
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
        self._v_max = self.add_optimizer_variables(var_list, "v_max") if self.amsgrad else []

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
        if self.amsgrad:
            v_max = self._v_max[index]
            self.assign(v_max, ops.maximum(v_max, v))
            v = v_max  # the step below reads the maximum in place of v
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
                "amsgrad": self.amsgrad,
                "epsilon_placement": self.epsilon_placement,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if "epsilon_placement" not in config:  # written by keras.optimizers.Adam
            config = {**config, "epsilon_placement": "keras"}
        return super().from_config(config, custom_objects=custom_objects)
