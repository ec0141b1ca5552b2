"""Conv2D from the notes' formula: Output[i, j] = Σ_{m,n} Input[i+m, j+n]·Kernel[m, n].

Generalised to a batch, channels, filters, stride s, dilation d and groups G
(channels-last; a channels-first input is transposed to it and back):

    Output[b, i, j, k] = Σ_{m,n,c} Input[b, i·s_h + m·d_h, j·s_w + n·d_w, g(k)·C/G + c]
                                   ·Kernel[m, n, c, k] + bias[k]

with c running over the C/G channels of group g(k) = ⌊k / (K/G)⌋ (K/G filters
per group, kernel shape (k_h, k_w, C/G, K) as in Keras). With d = 1 and G = 1
this is Output[b, i, j, k] = Σ_{m,n,c} Input[b, i·s_h + m, j·s_w + n, c]·Kernel[m, n, c, k]
+ bias[k]. A dilated kernel spans (k − 1)·d + 1 input pixels per axis (its
extent): that, not k, sets the output size and the "same" padding.

This module is the layer: its arguments, weights, ``call`` and config. The
computation is split by concern, as Keras splits ``ops.nn.conv`` from its
layers:

- ``_conv_correlation``: the sum above as im2col and matrix products, with
  the backward pass written by hand; no built-in convolution is called;
- ``_conv_winograd``: the same sum for 3×3 kernels at stride 1 by
  Winograd's F(2×2, 3×3) tiles, which ``_conv_geometry.Geometry.by_tiles``
  picks where they are faster (inputs with many channels);
- ``_conv_geometry``: output sizes, padding, and which input pixel each
  window entry reads (gather indices, stride phases), per input size;
- ``conv2d_reference``: the formula as a literal NumPy loop, which the tests
  and the docs hold the layer to.
"""

import numbers

import keras
from keras import ops

from custom_layers import _validation
from custom_layers.layers._conv_correlation import correlate
from custom_layers.layers._conv_geometry import extent, geometry_of, output_length
from custom_layers.layers._weights import KernelBiasLayer

FORMATS = ("channels_last", "channels_first")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _pair(name, value):
    """An int or a pair of positive ints, as a tuple of two ints.

    The messages are Keras' for ``kernel_size``, ``strides`` and
    ``dilation_rate``: "The `strides` argument must be a tuple of 2 integers.
    Received strides=(1, 0), including values {0} that do not satisfy
    `value > 0`"."""
    message = f"The `{name}` argument must be a tuple of 2 integers. Received {name}={value!r}"
    if _is_int(value):
        pair = (value, value)
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(map(_is_int, value)):
        pair = tuple(value)
    else:
        raise ValueError(message)
    below = {int(v) for v in pair if v <= 0}
    if below:
        raise ValueError(f"{message}, including values {below} that do not satisfy `value > 0`")
    return tuple(int(v) for v in pair)


def _groups(groups, filters):
    """``groups`` as an int dividing ``filters`` (Keras' messages)."""
    if not _is_int(groups) or groups <= 0:
        raise ValueError(
            f"The number of groups must be a positive integer. Received: groups={groups!r}."
        )
    if filters % groups:
        raise ValueError(
            "The number of filters must be evenly divisible by the number of groups. "
            f"Received: groups={groups}, filters={filters}."
        )
    return int(groups)


def _data_format(data_format):
    """The data format, "channels_last" or "channels_first" (any case);
    ``None`` is ``keras.config.image_data_format()``."""
    if data_format is None:
        return keras.config.image_data_format()
    if isinstance(data_format, str) and data_format.lower() in FORMATS:
        return data_format.lower()
    raise ValueError(
        "The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
        f"Received: data_format={data_format!r}"
    )


@keras.saving.register_keras_serializable(package="custom_layers")
class Conv2D(KernelBiasLayer):
    """2D convolution (cross-correlation, as in Keras) from the notes' formula.

        Output[b, i, j, k] = Σ_{m,n,c} Input[b, i·s_h + m·d_h, j·s_w + n·d_w, g(k)·C/G + c]
                                       ·Kernel[m, n, c, k] + bias[k]

    then the activation; c runs over the C/G channels of filter k's group
    g(k) = ⌊k / (K/G)⌋. With the defaults (d = 1, G = 1) this is the notes'

        Output[i, j] = Σ_{m,n} Input[i + m, j + n]·Kernel[m, n]

    with batch, channels, filters and stride. ``padding="same"`` adds the
    zeros Keras adds (the odd one at the bottom/right), so outputs equal
    ``keras.layers.Conv2D``'s for the same weights; the kernel layout
    (k_h, k_w, C/G, filters) is Keras'.

    Args:
        filters: number of kernels K, a positive integer divisible by ``groups``.
        kernel_size: int or (k_h, k_w), positive.
        strides: int or (s_h, s_w), positive. Default (1, 1).
        padding: ``"valid"`` (no zeros) or ``"same"`` (output size ⌈n/s⌉).
        data_format: ``"channels_last"`` (inputs (batch, height, width,
            channels)), ``"channels_first"`` (batch, channels, height, width)
            or ``None`` for ``keras.config.image_data_format()``.
        dilation_rate: int or (d_h, d_w), positive: kernel offset m reads
            the input d·m pixels on, so a kernel spans (k − 1)·d + 1 pixels.
            As in Keras, a dilation above 1 cannot go with a stride above 1.
        groups: G, a positive integer dividing ``filters`` and the input
            channels: filters g·K/G ... (g + 1)·K/G − 1 see only input
            channels g·C/G ... (g + 1)·C/G − 1.
        activation: as for ``custom_layers.Dense``; ``None`` is linear.
        use_bias: whether to add bias[k].
        kernel_initializer, bias_initializer: Keras' defaults
            ``"glorot_uniform"`` and ``"zeros"``.
        kernel_regularizer, bias_regularizer: optional, as in Keras.
        activity_regularizer: optional, as in Keras (handled by the base layer).
        kernel_constraint, bias_constraint: optional, as in Keras.
        **kwargs: base layer arguments (``name``, ``dtype``, ``input_shape``...).
            Keras' LoRA options ``lora_rank`` and ``lora_alpha`` are not
            implemented: only their default ``None`` is accepted.

    Input shape:
        (batch, height, width, channels), or (batch, channels, height, width)
        with ``data_format="channels_first"``; height and width known.

    Output shape:
        (batch, out_h, out_w, filters), or (batch, filters, out_h, out_w).

    Example (the notes'):

    >>> conv_layer = Conv2D(filters=32, kernel_size=(3, 3), strides=(1, 1),
    ...                     padding="same", activation="relu", input_shape=(64, 64, 3))
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        groups=1,
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
        # `input_shape=(64, 64, 3)` as in the notes is handled (with Keras'
        # own warning) by the base layer, exactly as for keras.layers.Conv2D;
        # so is `activity_regularizer`.
        _reject_lora(kwargs)
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
        self.filters = _validation.positive_int("filters", filters)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.strides = _pair("strides", strides)
        self.dilation_rate = _pair("dilation_rate", dilation_rate)
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(
                f"Argument `padding` must be 'valid' or 'same'. Received: padding={padding!r}"
            )
        self.padding = padding.lower()
        self.data_format = _data_format(data_format)
        self.groups = _groups(groups, self.filters)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}"
            )
        self.input_spec = keras.layers.InputSpec(ndim=4)

    @property
    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def _spatial(self, shape):
        """(height, width) of an input or output shape in this layer's data format."""
        return tuple(shape[1:3] if self.data_format == "channels_last" else shape[2:4])

    def build(self, input_shape):
        if len(input_shape) != 4:
            order = (
                "height, width, channels" if self._channel_axis == -1 else "channels, height, width"
            )
            raise ValueError(
                f"Conv2D expects inputs of rank 4 (batch, {order}). "
                f"Received: input_shape={input_shape}"
            )
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(
                "The channel dimension of the inputs to `Conv2D` must be known. "
                f"Received: input_shape={input_shape}"
            )
        if channels % self.groups:
            raise ValueError(
                "The number of input channels must be evenly divisible by the number of "
                f"groups. Received groups={self.groups}, but the input has {channels} "
                f"channels (full input shape is {input_shape})."
            )
        self._check_spatial(input_shape)
        kernel_shape = (*self.kernel_size, channels // self.groups, self.filters)
        self.add_kernel_and_bias(kernel_shape, self.filters)
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={self._channel_axis: channels})

    def _check_spatial(self, input_shape):
        axes = zip(
            self._spatial(input_shape),
            self.kernel_size,
            self.dilation_rate,
            ("height", "width"),
            strict=True,
        )
        for size, k, d, axis in axes:
            if size is not None and self.padding == "valid" and size < extent(k, d):
                spans = f" spans (k − 1)·d + 1 = {extent(k, d)}" if d > 1 else f" ({k})"
                raise ValueError(
                    f"Input {axis} {size} is smaller than the kernel{spans} with "
                    f"padding='valid'. Received: input_shape={input_shape}, "
                    f"kernel_size={self.kernel_size}, dilation_rate={self.dilation_rate}"
                )

    def call(self, inputs, training=None):
        channels_first = self.data_format == "channels_first"
        if channels_first:  # computed channels-last, transposed at both ends
            inputs = ops.transpose(inputs, (0, 2, 3, 1))
        height, width = inputs.shape[1], inputs.shape[2]
        if height is None or width is None:
            raise ValueError(
                "custom_layers.Conv2D needs a known input height and width (its "
                "gather indices are computed per input size). "
                f"Received: input_shape={tuple(inputs.shape)}"
            )
        geometry = self._geometry_for(height, width, inputs.shape[-1])
        # The evaluation may differ for inference (``training=False``, as
        # ``predict`` and ``evaluate`` call it): there no gradient follows.
        outputs = correlate(
            inputs, self.kernel, self.bias, geometry, self.groups, inference=training is False
        )
        if channels_first:
            outputs = ops.transpose(outputs, (0, 3, 1, 2))
        return self.activation(outputs)

    def _geometry_for(self, height, width, channels):
        """The geometry (gather indices, data-movement helpers) of this
        layer's configuration on channels-last inputs of that size, shared
        by every layer of the same configuration (``geometry_of``'s cache)."""
        return geometry_of(
            (height, width),
            self.kernel_size,
            self.strides,
            self.padding,
            self.dilation_rate,
            channels,
            self.groups,
        )

    def compute_output_shape(self, input_shape):
        self._check_spatial(input_shape)
        out = tuple(
            None if n is None else output_length(n, k, s, self.padding, d)
            for n, k, s, d in zip(
                self._spatial(input_shape),
                self.kernel_size,
                self.strides,
                self.dilation_rate,
                strict=True,
            )
        )
        if self.data_format == "channels_first":
            return (input_shape[0], self.filters, *out)
        return (input_shape[0], *out, self.filters)

    @classmethod
    def from_config(cls, config):
        # Checked here too: Keras would wrap the constructor's ValueError in a TypeError.
        config = dict(config)
        _reject_lora(config)
        return super().from_config(config)

    def get_config(self):
        # Keras writes lora_rank/lora_alpha only when LoRA is on: never here.
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
        }


def _reject_lora(arguments):
    """Take Keras' LoRA arguments out of ``arguments``: only ``None`` passes."""
    KernelBiasLayer.reject_unsupported(
        "LoRA",
        lora_rank=arguments.pop("lora_rank", None),
        lora_alpha=arguments.pop("lora_alpha", None),
    )
