"""Dense: the notes' z = w·x + b followed by an activation a = g(z)."""

import keras
from keras import ops

from custom_layers import _validation, activations


@keras.saving.register_keras_serializable(package="custom_layers")
class Dense(keras.layers.Layer):
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
        super().__init__(**kwargs)
        self.units = _validation.positive_int("units", units)
        self.activation = activations.get(activation)
        self.use_bias = _validation.boolean("use_bias", use_bias)
        self.kernel_initializer = _validation.keras_object(
            "kernel_initializer", keras.initializers.get, kernel_initializer
        )
        self.bias_initializer = _validation.keras_object(
            "bias_initializer", keras.initializers.get, bias_initializer
        )
        self.kernel_regularizer = _validation.keras_object(
            "kernel_regularizer", keras.regularizers.get, kernel_regularizer
        )
        self.bias_regularizer = _validation.keras_object(
            "bias_regularizer", keras.regularizers.get, bias_regularizer
        )
        self.kernel_constraint = _validation.keras_object(
            "kernel_constraint", keras.constraints.get, kernel_constraint
        )
        self.bias_constraint = _validation.keras_object(
            "bias_constraint", keras.constraints.get, bias_constraint
        )
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        n_in = input_shape[-1]
        if n_in is None:
            raise ValueError(
                "The last dimension of the inputs to `Dense` must be known. "
                f"Received: input_shape={input_shape}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(n_in, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: n_in})

    def call(self, inputs):
        z = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            z = ops.add(z, self.bias)
        return self.activation(z)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config
