"""What Dense and Conv2D share: the activation g, the bias switch, and the
kernel/bias initializers, regularizers and constraints, checked, used and
serialized the same way in both."""

import keras

from custom_layers import _validation, activations

# argument suffix -> the Keras module that resolves and serializes it
_KINDS = {
    "initializer": keras.initializers,
    "regularizer": keras.regularizers,
    "constraint": keras.constraints,
}
WEIGHT_ARGUMENTS = tuple(f"{part}_{kind}" for part in ("kernel", "bias") for kind in _KINDS)


class KernelBiasLayer(keras.layers.Layer):
    """Base of the layers computing g(kernel ⋅ input + bias)."""

    def __init__(
        self,
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
        self.activation = activations.get(activation)
        self.use_bias = _validation.boolean("use_bias", use_bias)
        values = {
            "kernel_initializer": kernel_initializer,
            "bias_initializer": bias_initializer,
            "kernel_regularizer": kernel_regularizer,
            "bias_regularizer": bias_regularizer,
            "kernel_constraint": kernel_constraint,
            "bias_constraint": bias_constraint,
        }
        for name, value in values.items():
            module = _KINDS[name.split("_", 1)[1]]
            setattr(self, name, _validation.keras_object(name, module.get, value))

    def add_kernel_and_bias(self, kernel_shape, units):
        """Create ``self.kernel`` (kernel_shape) and ``self.bias`` (units,) or None."""
        self.kernel = self._add("kernel", kernel_shape)
        self.bias = self._add("bias", (units,)) if self.use_bias else None

    def _add(self, part, shape):
        return self.add_weight(
            name=part,
            shape=shape,
            initializer=getattr(self, f"{part}_initializer"),
            regularizer=getattr(self, f"{part}_regularizer"),
            constraint=getattr(self, f"{part}_constraint"),
        )

    def get_config(self):
        config = super().get_config()
        config["activation"] = keras.activations.serialize(self.activation)
        config["use_bias"] = self.use_bias
        for name in WEIGHT_ARGUMENTS:
            config[name] = _KINDS[name.split("_", 1)[1]].serialize(getattr(self, name))
        return config
