"""Conv2D from the notes' formula: Output[i, j] = Σ_{m,n} Input[i+m, j+n]·Kernel[m, n].

Generalised to a batch, channels, filters and stride (channels-last):

    Output[b, i, j, k] = Σ_{m,n,c} Input[b, i·s_h + m, j·s_w + n, c]·Kernel[m, n, c, k] + bias[k]

No built-in convolution is called. The sum is one matrix product ("im2col"):
every window Input[b, i·s + m, j·s + n, :] is laid out as a row (or a
column), and the rows times the kernel reshaped to (k_h·k_w·C, filters) give
every output at once. How the windows are laid out depends on the channels:

- C >= 5 ("rows"): one gather with indices computed once per input size
  copies each window's k_h·k_w pixels (C floats each) into a row; padding
  reads one appended zero position.
- C <= 4 ("columns", a first layer on grey, RGB or RGBA images): gathering
  1-4 floats per index is slow, so the windows are laid out transposed, one
  column per output position: the input is turned channel-planar (C, B, H, W)
  and shifted k_w times along the width, and one gather copies whole
  output-width runs of it. Each gathered element moves out_w floats instead
  of C.

The bias rides in the matrix product: each window gets entries read from a
slot of ones, and the kernel matrix a row holding the bias.

The backward pass is written by hand (``keras.ops.custom_gradient``):

- ∂L/∂Kernel = windowsᵀ · ∂L/∂Output, reusing the windows of the forward pass
  (its last row is ∂L/∂bias = Σ ∂L/∂Output);
- ∂L/∂Input[p, q, c] = Σ_{i,j,m,n : i·s+m = p, j·s+n = q} ∂L/∂Output[i, j, k]·Kernel[m, n, c, k],
  by one of two methods, picked by the layer's shapes (see ``_Geometry``).

The data movement (transposes, pads, shifted slices, sums of shifted
planes) is written in ``keras.ops`` and, on TensorFlow, compiled with XLA,
which fuses it into single loops; TensorFlow alone would run one kernel and
write one full tensor per op.
"""

import keras
import numpy as np
from keras import ops

from custom_layers import _validation
from custom_layers.layers._weights import KernelBiasLayer

# Inputs with at most this many channels get their windows as columns.
MAX_CHANNELS_FOR_COLUMNS = 4


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


def _compiled(function):
    """``function`` compiled with XLA on the TensorFlow backend, as is elsewhere.

    Used for the pure data movement only (no products): XLA fuses its pads,
    slices, transposes and additions into one loop. Measured for the notes'
    layer (64x64x3, batch 32): the input gradient's col2im 5.8 ms as
    TensorFlow ops, 0.8 ms compiled. On JAX the enclosing ``jit`` compiles it.
    """
    if keras.backend.backend() != "tensorflow":
        return function
    import tensorflow as tf

    return tf.function(function, jit_compile=True, autograph=False, reduce_retracing=True)


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
    """
    height, width = x.shape[1], x.shape[2]
    columns = ops.reshape(ops.transpose(x, (1, 2, 0, 3)), (height * width, -1))  # (H·W, B)
    columns = _append_slots(columns, 0, ones_slot)
    windows = ops.take(columns, indices, axis=0)  # (P·window, B)
    windows = ops.reshape(windows, (-1, window_size, ops.shape(columns)[1]))
    return ops.reshape(ops.transpose(windows, (2, 0, 1)), (-1, window_size))


class _Geometry:
    """Everything about one (input size, kernel, stride, padding) that does
    not depend on the values: output size, padding, gather indices, and the
    compiled data-movement functions.

    The input gradient has two methods; ``input_gradient_by_windows`` picks
    one by the values each handles per output position.

    *By windows*: ∂Windows = ∂Output · Kernelᵀ (one product, exactly the
    multiplications of the forward pass), then every input pixel sums the
    window entries that read it ("col2im"): for each kernel offset (m, n) the
    plane ∂Windows[:, :, :, m, n, :] is added at rows i·s + m, columns
    j·s + n. Done phase by phase (padded row p = r + s·u with r = p mod s
    receives the offsets m = r + s·t at u = i + t), each phase is a sum of
    shifted planes, and the phases are interleaved: no scatter, no dilation
    zeros. Moves out_h·out_w·k_h·k_w·C per image.

    *By phases*: input row p (in padded coordinates) receives
    ∂Output[i]·Kernel[m] for every p = i·s + m; with p = r + s·u (phase
    r = p mod s) these are the offsets m = r + s·t, and i = u − t. So each
    phase is a stride-1 correlation of ∂Output with the sub-kernel
    Kernel[r + s·t], t = 0..T−1, T = ⌈k/s⌉. The windows over ∂Output are the
    same for every phase: one gather serves all s_h·s_w phases, and one
    matrix product with the sub-kernels side by side computes them all;
    interleaving the phases gives the input gradient. Moves
    U·V·T_h·T_w·filters per image: the cheaper one when filters ≪ channels.
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
        # Padded rows/columns the windows reach: (out − 1)·s + k.
        self.reach = tuple(
            (out - 1) * s + k for out, k, s in zip(self.out_hw, kernel_hw, strides, strict=True)
        )
        # Forward, as rows: output (i, j) reads input (i·s + m − pad_top, j·s + n − pad_left).
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
        self._phase_kernels = {}
        self.shifted_planes = _compiled(self._shifted_planes)
        self.col2im = _compiled(self._col2im)

    def windows_as_columns(self, channels):
        """Whether inputs with ``channels`` channels get their windows as columns."""
        return channels <= MAX_CHANNELS_FOR_COLUMNS

    def _shifted_planes(self, x, ones_row):
        """x (B, H, W, C) as rows of out_w floats for the column gather.

        Row ((n·C + c)·B + b)·R_h + p holds the padded input
        x[b, p − pad_top, j·s_w + n − pad_left, c] for j < out_w (R_h = reach
        of the windows in padded rows): each kernel column n shifts the
        channel-planar input once. With ``ones_row`` a row of ones follows.
        """
        (reach_h, reach_w), (top, left) = self.reach, self.before
        (in_h, in_w), stride_w, out_w = self.in_hw, self.strides[1], self.out_hw[1]
        planes = ops.transpose(x, (3, 0, 1, 2))  # (C, B, H, W)
        pad_h, pad_w = (top, max(reach_h - top - in_h, 0)), (left, max(reach_w - left - in_w, 0))
        planes = ops.pad(planes, ((0, 0), (0, 0), pad_h, pad_w))[:, :, :reach_h, :reach_w]
        last = (out_w - 1) * stride_w + 1
        shifted = ops.stack(
            [planes[..., n : n + last : stride_w] for n in range(self.kernel_hw[1])]
        )  # (k_w, C, B, R_h, out_w)
        rows = ops.reshape(shifted, (-1, out_w))
        if ones_row:
            rows = ops.concatenate([rows, ops.ones((1, out_w), dtype=rows.dtype)], axis=0)
        return rows

    def column_indices(self, batch, channels, ones_row):
        """Gather indices of ``_shifted_planes``' rows, in the order
        (m, n, c, b, i) (then the ones row for every (b, i)): the gathered
        runs of out_w floats form windows as columns, (k_h·k_w·C [+1], B·out_h·out_w).
        The batch size is only known at run time, so part of it is computed then."""
        (kh, kw), (reach_h, out_h), stride_h = (
            self.kernel_hw,
            (self.reach[0], self.out_hw[0]),
            self.strides[0],
        )
        block = np.arange(kw * channels, dtype="int32").reshape(1, kw, channels, 1, 1)  # n·C + c
        rows = (np.arange(out_h) * stride_h)[None, :] + np.arange(kh)[:, None]  # i·s + m
        rows = rows.astype("int32").reshape(kh, 1, 1, 1, out_h)
        images = ops.reshape(ops.arange(batch, dtype="int32"), (1, 1, 1, -1, 1))
        indices = ops.reshape((block * batch + images) * reach_h + rows, (-1,))
        if ones_row:
            ones = ops.full((batch * out_h,), kw * channels * batch * reach_h, dtype="int32")
            indices = ops.concatenate([indices, ones], axis=0)
        return indices

    def _col2im(self, d_windows):
        """Input gradient (B, H, W, C) from ∂Windows (B, out_h, out_w, k_h, k_w, C)."""
        (kh, kw), (s_h, s_w), (out_h, out_w) = self.kernel_hw, self.strides, self.out_hw
        (taps_h, taps_w), (top, left), (in_h, in_w) = self.taps, self.before, self.in_hw
        u, v, channels = out_h + taps_h - 1, out_w + taps_w - 1, d_windows.shape[-1]
        grid = []
        for r in range(s_h):
            phase_row = []
            for q in range(s_w):
                # Padded position (r + s·u', q + s·v') receives offset (r + s·t, q + s·t')
                # of window (u' − t, v' − t'): a sum of shifted planes.
                total = None
                for t in range(taps_h):
                    for t2 in range(taps_w):
                        m, n = r + s_h * t, q + s_w * t2
                        if m >= kh or n >= kw:
                            continue
                        plane = ops.pad(
                            d_windows[:, :, :, m, n, :],
                            ((0, 0), (t, u - out_h - t), (t2, v - out_w - t2), (0, 0)),
                        )
                        total = plane if total is None else total + plane
                if total is None:  # stride > kernel: no window reads this phase
                    batch = ops.shape(d_windows)[0]
                    total = ops.zeros((batch, u, v, channels), dtype=d_windows.dtype)
                phase_row.append(total)
            grid.append(ops.stack(phase_row, axis=3))  # (B, U, V, s_w, C)
        padded = ops.reshape(ops.stack(grid, axis=2), (-1, u * s_h, v * s_w, channels))
        short_h, short_w = max(top + in_h - u * s_h, 0), max(left + in_w - v * s_w, 0)
        if short_h or short_w:  # input rows/columns no window reads get zeros
            padded = ops.pad(padded, ((0, 0), (0, short_h), (0, short_w), (0, 0)))
        return padded[:, top : top + in_h, left : left + in_w, :]

    def phase_kernel_indices(self, channels, filters):
        """Flat indices into Kernel (k_h·k_w·C·K values, then a zero) laying out
        the sub-kernels of every phase side by side, (T_h·T_w·K, s_h·s_w·C):
        entry ((t_h, t_w, k), (r_h, r_w, c)) is Kernel[r_h + s_h·(T_h − 1 − t_h),
        r_w + s_w·(T_w − 1 − t_w), c, k], or the zero where that offset is
        outside the kernel (window offset t' reads ∂Output[u − t], t = T − 1 − t')."""
        key = (channels, filters)
        if key not in self._phase_kernels:
            per_axis = []
            for k, s, taps in zip(self.kernel_hw, self.strides, self.taps, strict=True):
                m = np.arange(s)[None, :] + s * (taps - 1 - np.arange(taps)[:, None])  # (T, s)
                per_axis.append((np.where(m < k, m, 0), m < k))
            (m_h, ok_h), (m_w, ok_w) = per_axis
            kw = self.kernel_hw[1]
            # axes (t_h, t_w, k, r_h, r_w, c)
            offset = m_h[:, None, None, :, None, None] * kw + m_w[None, :, None, None, :, None]
            c = np.arange(channels)[None, None, None, None, None, :]
            k = np.arange(filters)[None, None, :, None, None, None]
            flat = (offset * channels + c) * filters + k
            ok = ok_h[:, None, None, :, None, None] & ok_w[None, :, None, None, :, None]
            zero = np.prod(self.kernel_hw) * channels * filters
            flat = np.where(ok, flat, zero)  # (T_h, T_w, K, s_h, s_w, C)
            taps = self.taps[0] * self.taps[1]
            phases = self.strides[0] * self.strides[1]
            self._phase_kernels[key] = flat.astype("int32").reshape(
                taps * filters, phases * channels
            )
        return self._phase_kernels[key]

    def input_gradient_by_windows(self, channels, filters):
        """Whether the input gradient goes by windows: when the windows hold
        no more values per output position (k_h·k_w·C) than the phases'
        sub-kernels (s_h·s_w·T_h·T_w·K). Measured over eleven layer shapes
        (C, K from 8 to 64, strides 1 and 2, kernels 1 to 5), this picks the
        faster method every time; the phases' gather costs more per value
        than the windows' compiled col2im."""
        by_windows = np.prod(self.kernel_hw) * channels
        by_phases = np.prod(self.strides) * np.prod(self.taps) * filters
        return by_windows <= by_phases


def _input_gradient(upstream, kernel, geometry):
    """∂L/∂Input from ∂L/∂Output (B, out_h, out_w, K), by the method
    ``geometry.input_gradient_by_windows`` picks for this layer's shapes."""
    channels, filters = kernel.shape[2:]
    if geometry.input_gradient_by_windows(channels, filters):
        return _input_gradient_by_windows(upstream, kernel, geometry)
    return _input_gradient_by_phases(upstream, kernel, geometry)


def _input_gradient_by_windows(upstream, kernel, geometry):
    """∂Windows = ∂Output · Kernelᵀ, then col2im (see ``_Geometry``)."""
    kh, kw, channels, filters = kernel.shape
    kernel_matrix = ops.reshape(kernel, (kh * kw * channels, filters))
    d_windows = ops.matmul(ops.reshape(upstream, (-1, filters)), ops.transpose(kernel_matrix))
    out_h, out_w = geometry.out_hw
    return geometry.col2im(ops.reshape(d_windows, (-1, out_h, out_w, kh, kw, channels)))


def _input_gradient_by_phases(upstream, kernel, geometry):
    """∂L/∂Input from ∂L/∂Output (B, out_h, out_w, K), phase by phase."""
    channels, filters = kernel.shape[2:]
    (taps_h, taps_w), (s_h, s_w) = geometry.taps, geometry.strides
    (u, v), (in_h, in_w), (top, left) = geometry.phase_hw, geometry.in_hw, geometry.before
    # Sub-kernels of every phase side by side: (T_h·T_w·K, s_h·s_w·C).
    flat_kernel = ops.pad(ops.reshape(kernel, (-1,)), ((0, 1),))
    phases = ops.take(flat_kernel, geometry.phase_kernel_indices(channels, filters), axis=0)
    rows = _windows_as_rows(upstream, geometry.backward, taps_h * taps_w)
    d_x = ops.matmul(rows, phases)  # (B·U·V, s_h·s_w·C)
    if (s_h, s_w) != (1, 1):  # interleave: padded row r + s·u, column r' + s·v
        d_x = ops.reshape(d_x, (-1, u, v, s_h, s_w, channels))
        d_x = ops.transpose(d_x, (0, 1, 3, 2, 4, 5))
    d_x = ops.reshape(d_x, (-1, u * s_h, v * s_w, channels))
    if (top, left, u * s_h, v * s_w) == (0, 0, in_h, in_w):
        return d_x  # nothing to crop: skip the copy
    return d_x[:, top : top + in_h, left : left + in_w, :]


def _windows(x, geometry, window, channels, with_bias):
    """The windows of x: as columns (k_h·k_w·C [+1], B·P) for few channels,
    else as rows (B·P, k_h·k_w·C [+C])."""
    if geometry.windows_as_columns(channels):
        rows = geometry.shifted_planes(x, with_bias)
        indices = geometry.column_indices(ops.shape(x)[0], channels, with_bias)
        columns = ops.take(rows, indices, axis=0)
        return ops.reshape(columns, (window * channels + int(with_bias), -1))
    indices = geometry.forward_with_bias if with_bias else geometry.forward
    return _windows_as_rows(x, indices, window + int(with_bias), ones_slot=with_bias)


def correlate(x, kernel, bias, geometry):
    """Σ_{m,n,c} x[b, i·s + m, j·s + n, c]·kernel[m, n, c, k] + bias[k], hand-written gradient.

    Args:
        x: (B, H, W, C) input.
        kernel: (k_h, k_w, C, K) kernel.
        bias: (K,) bias, or ``None``.
        geometry: the ``_Geometry`` of this input size, kernel, stride, padding.

    Returns:
        (B, out_h, out_w, K).

    The bias is folded into the matrix product: every window gets entries
    read from a slot of ones (one for columns, C for rows), and the kernel
    matrix as many extra rows, the first holding the bias. One product gives
    conv + bias, and the kernel-gradient product gives the bias gradient
    (Σ ∂Output) in the first extra row, instead of a separate addition and
    reduction over the output.
    """
    kh, kw, channels, filters = kernel.shape
    window = kh * kw
    out_h, out_w = geometry.out_hw
    size = window * channels
    as_columns = geometry.windows_as_columns(channels)

    def _forward(x, kernel_matrix, with_bias):
        windows = _windows(x, geometry, window, channels, with_bias)
        y = ops.matmul(ops.transpose(windows) if as_columns else windows, kernel_matrix)
        return windows, ops.reshape(y, (-1, out_h, out_w, filters))

    def _matrix_gradient(windows, upstream):
        """windowsᵀ·∂Output (for rows, TensorFlow folds the transpose into the product)."""
        upstream = ops.reshape(upstream, (-1, filters))
        return ops.matmul(windows if as_columns else ops.transpose(windows), upstream)

    @ops.custom_gradient
    def _correlate(x, kernel):
        windows, y = _forward(x, ops.reshape(kernel, (size, filters)), False)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            d_kernel = ops.reshape(_matrix_gradient(windows, upstream), kernel.shape)
            return _input_gradient(upstream, kernel, geometry), d_kernel

        return y, grad

    @ops.custom_gradient
    def _correlate_with_bias(x, kernel, bias):
        extra = 1 if as_columns else channels
        bias_rows = ops.pad(ops.expand_dims(bias, 0), ((0, extra - 1), (0, 0)))
        matrix = ops.concatenate([ops.reshape(kernel, (size, filters)), bias_rows], axis=0)
        windows, y = _forward(x, matrix, True)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            d_matrix = _matrix_gradient(windows, upstream)
            d_kernel = ops.reshape(d_matrix[:size], kernel.shape)
            d_bias = d_matrix[size]
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
