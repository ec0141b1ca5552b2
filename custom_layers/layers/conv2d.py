"""Conv2D from the notes' formula: Output[i, j] = Σ_{m,n} Input[i+m, j+n]·Kernel[m, n].

Generalised to a batch, channels, filters and stride (channels-last):

    Output[b, i, j, k] = Σ_{m,n,c} Input[b, i·s_h + m, j·s_w + n, c]·Kernel[m, n, c, k] + bias[k]

No built-in convolution is called. The sum is evaluated as one gather and one
matrix product ("im2col"): a gather with indices computed once per input shape
lays every window Input[b, i·s + m, j·s + n, :] out as a row, and the rows
times the kernel reshaped to (k_h·k_w·C, filters) give every output at once.
Padding costs nothing extra: a padded position gathers from one appended zero.

The backward pass is written by hand (``keras.ops.custom_gradient``):

- ∂L/∂Kernel = rowsᵀ · ∂L/∂Output, reusing the rows of the forward pass;
- ∂L/∂Input[p, q, c] = Σ_{i,j,m,n : i·s+m = p, j·s+n = q} ∂L/∂Output[i, j, k]·Kernel[m, n, c, k],
  evaluated by stride phases: for each phase (p mod s, q mod s) it is a
  stride-1 correlation of ∂L/∂Output with a sub-kernel; one gather and one
  matrix product compute every phase at once, then the phases are
  interleaved. No scatter, and no multiplications by stride-inserted zeros.
"""

import keras
import numpy as np
from keras import ops

from custom_layers import _validation
from custom_layers.layers._weights import KernelBiasLayer


def _pair(name, value):
    """An int or a pair of positive ints, as a tuple of two ints."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(
                f"Argument `{name}` must be an integer or a tuple of 2 integers. "
                f"Received: {name}={value!r}"
            )
        try:
            return tuple(_validation.positive_int(name, v) for v in value)
        except ValueError:
            raise ValueError(
                f"Argument `{name}` must hold positive integers. Received: {name}={value!r}"
            ) from None
    return (_validation.positive_int(name, value),) * 2


def output_length(n, k, s, padding):
    """Output size along one axis: ⌊(n − k)/s⌋ + 1 for valid, ⌈n/s⌉ for same."""
    if padding == "valid":
        return (n - k) // s + 1 if n >= k else 0
    return -(-n // s)


def same_padding(n, k, s):
    """(before, after) zeros along one axis for padding="same", as Keras/TF:
    total max((⌈n/s⌉ − 1)·s + k − n, 0), the odd one after (bottom/right)."""
    total = max((output_length(n, k, s, "same") - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _window_indices(source_hw, out_hw, kernel_hw, strides, offset):
    """Flat gather indices of every window, with positions outside the source
    mapped to the zero slot at index source_h·source_w.

    Output (i, j) with kernel offset (m, n) reads source position
    (i·s_h + m − offset_h, j·s_w + n − offset_w): the offset is the padding
    before the source, and anything outside the source is a padding zero.

    Returns an int32 array of shape (out_h·out_w·k_h·k_w,), ordered
    (i, j, m, n), so that a gather + reshape gives rows of (m, n, c).
    """
    axes = []
    for size, out, k, s, off in zip(source_hw, out_hw, kernel_hw, strides, offset, strict=True):
        grid = np.arange(out)[:, None] * s + np.arange(k)[None, :] - off  # (out, k)
        valid = (grid >= 0) & (grid < size)
        axes.append((np.where(valid, grid, 0), valid))
    (rows, rows_ok), (cols, cols_ok) = axes
    zero_slot = source_hw[0] * source_hw[1]
    flat = rows[:, None, :, None] * source_hw[1] + cols[None, :, None, :]
    ok = rows_ok[:, None, :, None] & cols_ok[None, :, None, :]
    return np.where(ok, flat, zero_slot).astype("int32").reshape(-1)


def _append_slots(positions, axis, ones_slot=False):
    """Append the zero slot (and, with ``ones_slot``, the ones slot after it)
    along the positions ``axis``: the entries that padding (and the bias) read."""
    edge = ops.take(positions, [0], axis=axis)
    slots = [ops.zeros_like(edge), ops.ones_like(edge)] if ones_slot else [ops.zeros_like(edge)]
    return ops.concatenate([positions, *slots], axis=axis)


def _windows_as_rows(x, indices, window_size, ones_slot=False):
    """Gather every window of x (B, H, W, C) as rows of length window_size·C.

    A zero is appended after the H·W positions: indices equal to H·W read it.
    With ``ones_slot``, a position of ones follows (index H·W + 1): a window
    element reading it multiplies kernel rows that hold the bias.
    """
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    if channels == 1:
        return _single_channel_windows_as_rows(x, indices, window_size, ones_slot)
    flat = _append_slots(ops.reshape(x, (-1, height * width, channels)), 1, ones_slot)
    windows = ops.take(flat, indices, axis=1)
    return ops.reshape(windows, (-1, window_size * channels))


def _single_channel_windows_as_rows(x, indices, window_size, ones_slot):
    """``_windows_as_rows`` for C = 1, gathering whole batch columns.

    Gathering single floats is slow (measured 1.2 ms for 64 grey 28x28
    images, 3x3 windows); with the batch as the inner axis each index moves B
    floats, and transposing the result costs less than that saves (0.86 ms).
    For C >= 3 the transposes cost more than they save.
    """
    height, width = x.shape[1], x.shape[2]
    columns = ops.reshape(ops.transpose(x, (1, 2, 0, 3)), (height * width, -1))  # (H·W, B)
    columns = _append_slots(columns, 0, ones_slot)
    windows = ops.take(columns, indices, axis=0)  # (P·window, B)
    windows = ops.reshape(windows, (-1, window_size, ops.shape(columns)[1]))
    return ops.reshape(ops.transpose(windows, (2, 0, 1)), (-1, window_size))


class _Geometry:
    """Everything about one (input size, kernel, stride, padding) that does
    not depend on the values: output size and the gather indices.

    The input gradient is computed by phases. Input row p (in padded
    coordinates) receives ∂Output[i]·Kernel[m] for every p = i·s + m; with
    p = r + s·u (phase r = p mod s) these are the offsets m = r + s·t, and
    i = u − t. So each phase is a stride-1 correlation of ∂Output with the
    sub-kernel Kernel[r + s·t], t = 0..T−1, T = ⌈k/s⌉. The windows over
    ∂Output are the same for every phase: one gather serves all s_h·s_w
    phases, and one matrix product with the sub-kernels side by side
    computes them all; interleaving the phases gives the input gradient.
    No zeros of a stride-dilated ∂Output are ever multiplied.
    """

    def __init__(self, in_hw, kernel_hw, strides, padding):
        self.in_hw, self.kernel_hw, self.strides = in_hw, kernel_hw, strides
        self.out_hw = tuple(
            output_length(n, k, s, padding)
            for n, k, s in zip(in_hw, kernel_hw, strides, strict=True)
        )
        if padding == "same":
            self.before = tuple(
                same_padding(n, k, s)[0] for n, k, s in zip(in_hw, kernel_hw, strides, strict=True)
            )
        else:
            self.before = (0, 0)
        # Forward: output (i, j) reads input (i·s + m − pad_top, j·s + n − pad_left).
        self.forward = _window_indices(in_hw, self.out_hw, kernel_hw, strides, self.before)
        # The same, each window followed by the ones slot (index H·W + 1):
        # the bias then rides in the matrix product, and its gradient too.
        windows = self.forward.reshape(-1, kernel_hw[0] * kernel_hw[1])
        ones = np.full((len(windows), 1), in_hw[0] * in_hw[1] + 1, dtype="int32")
        self.forward_with_bias = np.concatenate([windows, ones], axis=1).reshape(-1)

        # Input gradient, by phases (see the class docstring).
        self.taps = tuple(-(-k // s) for k, s in zip(kernel_hw, strides, strict=True))  # T
        self.phase_hw = tuple(  # U, V: phase rows covering padded rows < pad + n
            -(-(b + n) // s) for b, n, s in zip(self.before, in_hw, strides, strict=True)
        )
        # Window offset t' reads ∂Output[u + t' − (T − 1)] = ∂Output[u − t], t = T − 1 − t'.
        self.backward = _window_indices(
            self.out_hw, self.phase_hw, self.taps, (1, 1), tuple(t - 1 for t in self.taps)
        )
        # Kernel offset used by window offset t' in phase r: m = r + s·(T − 1 − t'),
        # or the zero slot k_h·k_w when m >= k.
        per_axis = []
        for k, s, taps in zip(kernel_hw, strides, self.taps, strict=True):
            m = np.arange(s)[None, :] + s * (taps - 1 - np.arange(taps)[:, None])  # (T, s)
            per_axis.append((np.where(m < k, m, 0), m < k))
        (m_h, ok_h), (m_w, ok_w) = per_axis
        flat = m_h[:, None, :, None] * kernel_hw[1] + m_w[None, :, None, :]  # (T_h, T_w, s_h, s_w)
        ok = ok_h[:, None, :, None] & ok_w[None, :, None, :]
        self.phase_kernel = np.where(ok, flat, kernel_hw[0] * kernel_hw[1]).astype("int32")
        self.col2im = self._col2im_indices()

    def _col2im_indices(self):
        """For input pixel (p, q) and kernel offset (m, n): the flat index of the
        window element that read it, (i·out_w + j)·k_h·k_w + m·k_w + n with
        i·s_h + m = p + pad_top (likewise j), or the zero slot when no window did."""
        per_axis = []
        for n, k, s, out, before in zip(
            self.in_hw, self.kernel_hw, self.strides, self.out_hw, self.before, strict=True
        ):
            start = np.arange(n)[:, None] + before - np.arange(k)[None, :]  # i·s, (n, k)
            ok = (start >= 0) & (start % s == 0) & (start // s < out)
            per_axis.append((np.where(ok, start // s, 0), ok))
        (i, ok_i), (j, ok_j) = per_axis
        kh, kw = self.kernel_hw
        window = i[:, None, :, None] * self.out_hw[1] + j[None, :, None, :]
        offset = np.arange(kh)[:, None] * kw + np.arange(kw)[None, :]
        flat = window * (kh * kw) + offset  # (H, W, k_h, k_w)
        ok = ok_i[:, None, :, None] & ok_j[None, :, None, :]
        zero_slot = self.out_hw[0] * self.out_hw[1] * kh * kw
        return np.where(ok, flat, zero_slot).astype("int32").reshape(-1)

    def input_gradient_by_phases_is_cheaper(self, channels, filters):
        """Compare the elements each input-gradient method gathers."""
        by_phases = np.prod(self.phase_hw) * np.prod(self.taps) * filters
        by_windows = (
            (np.prod(self.in_hw) + np.prod(self.out_hw)) * np.prod(self.kernel_hw) * channels
        )
        return by_phases <= by_windows


def _input_gradient(upstream, kernel, geometry):
    """∂L/∂Input from ∂L/∂Output (B, out_h, out_w, K), by whichever of the
    two methods moves less data for this layer's shapes."""
    channels, filters = kernel.shape[2:]
    if geometry.input_gradient_by_phases_is_cheaper(channels, filters):
        return _input_gradient_by_phases(upstream, kernel, geometry)
    return _input_gradient_by_windows(upstream, kernel, geometry)


def _input_gradient_by_windows(upstream, kernel, geometry):
    """∂Rows = ∂Output · Kernelᵀ, then each input pixel sums the window
    elements that read it (a gather of at most k_h·k_w entries + a sum).

    Cheaper than the phases when K ≫ C (a first layer on RGB images).
    """
    kh, kw, channels, filters = kernel.shape
    in_h, in_w = geometry.in_hw
    window = kh * kw
    kernel_matrix = ops.reshape(kernel, (window * channels, filters))
    d_rows = ops.matmul(ops.reshape(upstream, (-1, filters)), ops.transpose(kernel_matrix))
    d_rows = ops.reshape(d_rows, (-1, geometry.out_hw[0] * geometry.out_hw[1] * window, channels))
    d_rows = _append_slots(d_rows, 1)
    gathered = ops.take(d_rows, geometry.col2im, axis=1)  # (B, H·W·window, C)
    return ops.sum(ops.reshape(gathered, (-1, in_h, in_w, window, channels)), axis=3)


def _input_gradient_by_phases(upstream, kernel, geometry):
    """∂L/∂Input from ∂L/∂Output (B, out_h, out_w, K), phase by phase."""
    kh, kw, channels, filters = kernel.shape
    (taps_h, taps_w), (s_h, s_w) = geometry.taps, geometry.strides
    (u, v), (in_h, in_w), (top, left) = geometry.phase_hw, geometry.in_hw, geometry.before
    # Sub-kernels of every phase side by side: (T_h·T_w·K, s_h·s_w·C).
    flat_kernel = ops.pad(
        ops.reshape(kernel, (kh * kw, channels, filters)), ((0, 1), (0, 0), (0, 0))
    )
    phases = ops.take(flat_kernel, geometry.phase_kernel, axis=0)  # (T_h, T_w, s_h, s_w, C, K)
    phases = ops.transpose(phases, (0, 1, 5, 2, 3, 4))
    phases = ops.reshape(phases, (taps_h * taps_w * filters, s_h * s_w * channels))
    rows = _windows_as_rows(upstream, geometry.backward, taps_h * taps_w)
    d_x = ops.matmul(rows, phases)  # (B·U·V, s_h·s_w·C)
    if (s_h, s_w) != (1, 1):  # interleave: padded row r + s·u, column r' + s·v
        d_x = ops.reshape(d_x, (-1, u, v, s_h, s_w, channels))
        d_x = ops.transpose(d_x, (0, 1, 3, 2, 4, 5))
    d_x = ops.reshape(d_x, (-1, u * s_h, v * s_w, channels))
    if (top, left, u * s_h, v * s_w) == (0, 0, in_h, in_w):
        return d_x  # nothing to crop: skip the copy
    return d_x[:, top : top + in_h, left : left + in_w, :]


def correlate(x, kernel, bias, geometry):
    """Σ_{m,n,c} x[b, i·s + m, j·s + n, c]·kernel[m, n, c, k] + bias[k], hand-written gradient.

    Args:
        x: (B, H, W, C) input.
        kernel: (k_h, k_w, C, K) kernel.
        bias: (K,) bias, or ``None``.
        geometry: the ``_Geometry`` of this input size, kernel, stride, padding.

    Returns:
        (B, out_h, out_w, K).

    The bias is folded into the matrix product: every row gets C extra
    entries read from a slot of ones, and the kernel matrix C extra rows,
    the first holding the bias. One product gives conv + bias, and the
    kernel-gradient product gives the bias gradient (Σ ∂Output) as its last
    rows, instead of a separate addition and reduction over the output.
    """
    kh, kw, channels, filters = kernel.shape
    window = kh * kw
    out_h, out_w = geometry.out_hw

    def _forward(x, kernel_matrix, indices, window_size):
        rows = _windows_as_rows(x, indices, window_size, ones_slot=window_size > window)
        y = ops.matmul(rows, kernel_matrix)
        return rows, ops.reshape(y, (-1, out_h, out_w, filters))

    def _kernel_gradient(rows, upstream):
        return ops.matmul(ops.transpose(rows), ops.reshape(upstream, (-1, filters)))

    @ops.custom_gradient
    def _correlate(x, kernel):
        rows, y = _forward(
            x, ops.reshape(kernel, (window * channels, filters)), geometry.forward, window
        )

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            d_kernel = ops.reshape(_kernel_gradient(rows, upstream), kernel.shape)
            return _input_gradient(upstream, kernel, geometry), d_kernel

        return y, grad

    @ops.custom_gradient
    def _correlate_with_bias(x, kernel, bias):
        bias_rows = ops.pad(ops.expand_dims(bias, 0), ((0, channels - 1), (0, 0)))
        matrix = ops.concatenate(
            [ops.reshape(kernel, (window * channels, filters)), bias_rows], axis=0
        )
        rows, y = _forward(x, matrix, geometry.forward_with_bias, window + 1)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            d_matrix = _kernel_gradient(rows, upstream)
            d_kernel = ops.reshape(d_matrix[: window * channels], kernel.shape)
            d_bias = d_matrix[window * channels]
            return _input_gradient(upstream, kernel, geometry), d_kernel, d_bias

        return y, grad

    # A custom gradient must see tensors, not variables: ``convert_to_tensor``
    # hands a Keras variable back unchanged, a same-dtype cast reads it.
    x, kernel = ops.cast(x, x.dtype), ops.cast(kernel, kernel.dtype)
    if bias is None:
        return _correlate(x, kernel)
    return _correlate_with_bias(x, kernel, ops.cast(bias, bias.dtype))


@keras.saving.register_keras_serializable(package="custom_layers")
class Conv2D(KernelBiasLayer):
    """2D convolution (cross-correlation, as in Keras) from the notes' formula.

    Output[b, i, j, k] = Σ_{m,n,c} Input[b, i·s_h + m, j·s_w + n, c]·Kernel[m, n, c, k] + bias[k],
    then the activation. ``padding="same"`` adds the zeros Keras adds
    (the odd one at the bottom/right), so outputs equal ``keras.layers.Conv2D``'s
    for the same weights; the kernel layout (k_h, k_w, C, filters) is Keras'.

    Args:
        filters: number of kernels K, a positive integer.
        kernel_size: int or (k_h, k_w), positive.
        strides: int or (s_h, s_w), positive. Default (1, 1).
        padding: ``"valid"`` (no zeros) or ``"same"`` (output size ⌈n/s⌉).
        activation: as for ``custom_layers.Dense``; ``None`` is linear.
        use_bias: whether to add bias[k].
        kernel_initializer, bias_initializer: Keras' defaults
            ``"glorot_uniform"`` and ``"zeros"``.
        kernel_regularizer, bias_regularizer, kernel_constraint,
        bias_constraint: optional, as in Keras.
        **kwargs: base layer arguments (``name``, ``dtype``, ``input_shape``...).

    Input shape:
        (batch, height, width, channels), height and width known.

    Output shape:
        (batch, out_h, out_w, filters).

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
        # `input_shape=(64, 64, 3)` as in the notes is handled (with Keras'
        # own warning) by the base layer, exactly as for keras.layers.Conv2D.
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
        self.filters = _validation.positive_int("filters", filters)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.strides = _pair("strides", strides)
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(
                f"Argument `padding` must be 'valid' or 'same'. Received: padding={padding!r}"
            )
        self.padding = padding.lower()
        self.input_spec = keras.layers.InputSpec(ndim=4)
        self._geometries = {}

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "Conv2D expects inputs of rank 4 (batch, height, width, channels). "
                f"Received: input_shape={input_shape}"
            )
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                "The channel dimension of the inputs to `Conv2D` must be known. "
                f"Received: input_shape={input_shape}"
            )
        self._check_spatial(input_shape)
        self.add_kernel_and_bias((*self.kernel_size, channels, self.filters), self.filters)
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: channels})

    def _check_spatial(self, input_shape):
        for size, k, axis in zip(
            input_shape[1:3], self.kernel_size, ("height", "width"), strict=True
        ):
            if size is not None and self.padding == "valid" and size < k:
                raise ValueError(
                    f"Input {axis} {size} is smaller than the kernel ({k}) with "
                    f"padding='valid'. Received: input_shape={input_shape}, "
                    f"kernel_size={self.kernel_size}"
                )

    def _geometry(self, height, width):
        key = (height, width)
        if key not in self._geometries:
            self._geometries[key] = _Geometry(key, self.kernel_size, self.strides, self.padding)
        return self._geometries[key]

    def call(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        if height is None or width is None:
            raise ValueError(
                "custom_layers.Conv2D needs a known input height and width (its "
                "gather indices are computed per input size). "
                f"Received: input_shape={tuple(inputs.shape)}"
            )
        outputs = correlate(inputs, self.kernel, self.bias, self._geometry(height, width))
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        self._check_spatial(input_shape)
        out = [
            None if n is None else output_length(n, k, s, self.padding)
            for n, k, s in zip(input_shape[1:3], self.kernel_size, self.strides, strict=True)
        ]
        return (input_shape[0], *out, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
        }
