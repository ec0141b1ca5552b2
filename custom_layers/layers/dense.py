"""Dense: the notes' z = w·x + b followed by an activation a = g(z)."""

import keras
from keras import ops

from custom_layers import _validation
from custom_layers.layers._weights import KernelBiasLayer


@keras.saving.register_keras_serializable(package="custom_layers")
class Dense(KernelBiasLayer):
    """Fully connected layer: z = x·W + b, then a = g(z).

    Each of the ``units`` neurons j computes the notes' z_j = w_j·x + b_j;
    the weights of all neurons are the columns of ``kernel`` (shape
    ``(n_in, units)``, the layout of ``keras.layers.Dense``, so weights copy
    one-to-one between the two).

    Args:
        units: number of neurons, a positive integer.
        activation: g; a callable, a name ("relu", "sigmoid", "tanh",
            "leaky_relu", "softmax" and "linear" resolve to
            ``custom_layers.activations``, other names to Keras) or ``None``
            for linear.
        use_bias: whether to add b.
        kernel_initializer, bias_initializer: initializers of W and b
            (Keras' defaults: ``"glorot_uniform"`` and ``"zeros"``).
        kernel_regularizer, bias_regularizer: optional regularizers.
        kernel_constraint, bias_constraint: optional constraints.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``,
            ``dtype``, ``trainable``, ...).

    Input shape:
        ``(..., n_in)``: any number of leading dimensions, at least 2D.

    Output shape:
        ``(..., units)``.

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input((30,)),
    ...     custom_layers.Dense(25, activation="relu"),
    ...     custom_layers.Dense(1),
    ... ])
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self.units = _validation.positive_int("units", units)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        n_in = input_shape[-1]
        if n_in is None:
            raise ValueError(
                "The last dimension of the inputs to `Dense` must be known. "
                f"Received: input_shape={input_shape}"
            )
        self.add_kernel_and_bias((n_in, self.units), self.units)
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: n_in})

    def call(self, inputs):
        z = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            z = ops.add(z, self.bias)
        return self.activation(z)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}
