"""The notes' convolution as a literal loop: the reference the layer is held to.

``custom_layers.Conv2D`` computes its sum with gathers and matrix products
(``_conv_correlation``), which read nothing like the formula. This module
writes the formula once more, one output value at a time, in NumPy and
float64, so that a reader can check it against the notes by eye and the
tests and the docs can check the layer against it. It is slow by design:
meant for the few-pixel inputs of tests and worked examples.
"""

import numpy as np

from custom_layers.layers._conv_geometry import output_length, same_padding


def _pair(value):
    return tuple(int(v) for v in np.broadcast_to(value, 2))


def conv2d_reference(
    x,
    kernel,
    bias=None,
    strides=1,
    padding="valid",
    dilation_rate=1,
    groups=1,
    data_format="channels_last",
):
    """Conv2D's output, one value at a time, in float64:

        Output[b, i, j, k] = Σ_{m,n,c} Input[b, i·s_h + m·d_h, j·s_w + n·d_w, g(k)·C/G + c]
                                       ·Kernel[m, n, c, k] + bias[k]

    on the input after Keras' "same" zeros (none for "valid"), with g(k) =
    ⌊k / (K/G)⌋ the group of filter k. With one image, one channel, one
    filter, no stride and no dilation this is the notes'

        Output[i, j] = Σ_{m,n} Input[i + m, j + n]·Kernel[m, n]

    Args:
        x: input, (batch, height, width, C), or (batch, C, height, width)
            with ``data_format="channels_first"``.
        kernel: (k_h, k_w, C/G, K), Keras' layout.
        bias: (K,), or ``None`` for none.
        strides, dilation_rate: int or (height, width) pair.
        padding: ``"valid"`` or ``"same"``.
        groups: G, dividing C and K.
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        float64 array (batch, out_h, out_w, K), or (batch, K, out_h, out_w).
    """
    x, kernel = np.asarray(x, "float64"), np.asarray(kernel, "float64")
    if data_format == "channels_first":
        x = np.transpose(x, (0, 2, 3, 1))
    (s_h, s_w), (d_h, d_w) = _pair(strides), _pair(dilation_rate)
    batch, height, width, channels = x.shape
    k_h, k_w, group_channels, filters = kernel.shape
    if padding not in ("valid", "same") or channels != groups * group_channels:
        raise ValueError(
            'The padding must be "valid" or "same", and the input channels groups·C/G. '
            f"Received: padding={padding!r}, groups={groups}, {channels} input channels, "
            f"kernel shape {kernel.shape}"
        )
    out_h = output_length(height, k_h, s_h, padding, d_h)
    out_w = output_length(width, k_w, s_w, padding, d_w)
    if padding == "same":
        top_bottom = same_padding(height, k_h, s_h, d_h)
        left_right = same_padding(width, k_w, s_w, d_w)
        x = np.pad(x, ((0, 0), top_bottom, left_right, (0, 0)))
    output = np.zeros((batch, out_h, out_w, filters))
    for b in range(batch):
        for i in range(out_h):
            rows = slice(i * s_h, i * s_h + (k_h - 1) * d_h + 1, d_h)  # i·s_h + m·d_h, every m
            for j in range(out_w):
                columns = slice(j * s_w, j * s_w + (k_w - 1) * d_w + 1, d_w)  # j·s_w + n·d_w
                for k in range(filters):
                    g = k // (filters // groups)
                    channels = slice(g * group_channels, (g + 1) * group_channels)  # g·C/G + c
                    # Σ_{m,n,c} Input[b, i·s_h + m·d_h, j·s_w + n·d_w, g·C/G + c]·Kernel[m, n, c, k]
                    output[b, i, j, k] = np.sum(x[b, rows, columns, channels] * kernel[..., k])
                    if bias is not None:
                        output[b, i, j, k] += bias[k]
    if data_format == "channels_first":
        output = np.transpose(output, (0, 3, 1, 2))
    return output
