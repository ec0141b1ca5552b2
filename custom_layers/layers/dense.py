"""Dense: the notes' z = w·x + b followed by an activation a = g(z)."""

import keras
from keras import ops

from custom_layers import _validation
from custom_layers.layers._weights import KernelBiasLayer


@keras.saving.register_keras_serializable(package="custom_layers")
class Dense(KernelBiasLayer):
    """Fully connected layer: the notes' neurons, side by side.

        z = x·W + b,  a = g(z)

    Each of the ``units`` neurons j computes the notes' z_j = w_j·x + b_j;
    the weights of all neurons are the columns of ``kernel`` (shape
    ``(n_in, units)``, the layout of ``keras.layers.Dense``, so weights copy
    one-to-one between the two).

    Args:
        units: number of neurons, a positive integer.
        activation: g; a callable, a name ("relu", "sigmoid", "tanh",
            "leaky_relu", "softmax" and "linear" resolve to
            ``custom_layers.activations``, other names to Keras) or ``None``
            for linear. ``layer.activation = ...`` later resolves the same way.
        use_bias: whether to add b.
        kernel_initializer, bias_initializer: initializers of W and b
            (Keras' defaults: ``"glorot_uniform"`` and ``"zeros"``).
        kernel_regularizer, bias_regularizer: optional regularizers.
        activity_regularizer: optional regularizer of the output a (its
            penalty joins ``layer.losses``).
        kernel_constraint, bias_constraint: optional constraints.
        lora_rank, lora_alpha, quantization_config: Keras' LoRA and
            quantization options, which custom_layers does not implement:
            only their default ``None`` is accepted (so a
            ``keras.layers.Dense`` config loads), anything else raises
            ``ValueError``.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``,
            ``dtype``, ``trainable``, ...).

    Input shape:
        ``(..., n_in)``: any number of leading dimensions, at least 2D. A
        ``tf.SparseTensor`` input gives the same output as its dense form,
        and the kernel's gradient comes back as ``tf.IndexedSlices``, as
        with ``keras.layers.Dense``.

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
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        lora_rank=None,
        lora_alpha=None,
        quantization_config=None,
        **kwargs,
    ):
        _reject_lora_and_quantization(lora_rank, lora_alpha, quantization_config)
        super().__init__(
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self.units = _validation.positive_int("units", units)
        self.lora_rank = self.lora_alpha = self.quantization_config = None
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

    @classmethod
    def from_config(cls, config):
        # Checked here too: Keras would wrap the constructor's ValueError in a TypeError.
        _reject_lora_and_quantization(
            config.get("lora_rank"), config.get("lora_alpha"), config.get("quantization_config")
        )
        return super().from_config(config)

    def get_config(self):
        # Keras writes lora_rank/lora_alpha only when LoRA is on: never here.
        return {**super().get_config(), "units": self.units, "quantization_config": None}


def _reject_lora_and_quantization(lora_rank, lora_alpha, quantization_config):
    KernelBiasLayer.reject_unsupported("LoRA", lora_rank=lora_rank, lora_alpha=lora_alpha)
    KernelBiasLayer.reject_unsupported("quantization", quantization_config=quantization_config)
