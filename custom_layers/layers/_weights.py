"""What Dense and Conv2D share: the activation g, the bias switch, the
kernel/bias initializers, regularizers and constraints and the activity
regularizer, checked, used and serialized the same way in both."""

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
    """Base of the layers computing g(kernel ⋅ input + bias).

    ``activation`` is a property: assigning to it after construction (``None``
    included, which means linear, as in Keras) goes through
    ``custom_layers.activations.get`` like the constructor argument.
    ``activity_regularizer`` penalises the layer's output a, as in Keras.
    """

    def __init__(
        self,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        activity_regularizer = _validation.keras_object(
            "activity_regularizer", keras.regularizers.get, activity_regularizer
        )
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.activation = activation
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

    @property
    def activation(self):
        """g, a callable; ``None`` or a name assigned here is resolved like the argument."""
        return self._activation

    @activation.setter
    def activation(self, value):
        self._activation = activations.get(value)

    @staticmethod
    def reject_unsupported(feature, **arguments):
        """Raise ValueError for a Keras argument whose feature custom_layers lacks
        (LoRA, quantization) unless it is None, Keras' default."""
        for name, value in arguments.items():
            if value is not None:
                raise ValueError(
                    f"custom_layers does not support {feature}: `{name}` must be None. "
                    f"Received: {name}={value!r}"
                )

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

    @classmethod
    def from_config(cls, config):
        """Build from a config, ours or a Keras twin's.

        An activation saved as a plain name ("leaky_relu", "relu", ...) is a
        Keras function's name: this package's functions are saved under
        their registered names (``custom_layers>leaky_relu``). So a plain
        name is read as Keras means it, unlike the constructor argument:
        ``keras.layers.Dense(1, activation="leaky_relu")`` has slope 0.2, and
        its config must not come back with the notes' 0.01; names whose
        function equals ours ("relu", "sigmoid", ...) get ours.
        """
        activation = config.get("activation")
        if isinstance(activation, str):
            config = {**config, "activation": activations.from_keras_name(activation)}
        return super().from_config(config)

    def get_config(self):
        config = super().get_config()
        config["activation"] = keras.activations.serialize(self.activation)
        config["use_bias"] = self.use_bias
        config["activity_regularizer"] = keras.regularizers.serialize(self.activity_regularizer)
        for name in WEIGHT_ARGUMENTS:
            config[name] = _KINDS[name.split("_", 1)[1]].serialize(getattr(self, name))
        return config
