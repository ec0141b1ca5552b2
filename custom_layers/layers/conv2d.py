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

No built-in convolution is called. The sum is one matrix product ("im2col"):
every window Input[b, i·s + m·d, j·s + n·d, :] is laid out as a row (or a
column), and the rows times the kernel reshaped to (k_h·k_w·C, filters) give
every output at once; with groups, one batched product of G such products,
each group's windows (its C/G channels) times its kernel columns.
How the windows are laid out depends on the channels (per group):

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
- ∂L/∂Input[p, q, c] = Σ_{i,j,m,n : i·s+m·d = p, j·s+n·d = q} ∂L/∂Output[i, j, k]·Kernel[m, n, c, k]
  (k over the filters of c's group), by one of two methods, picked by the
  layer's shapes (see ``_Geometry``).

The data movement (transposes, pads, shifted slices, sums of shifted
planes) is written in ``keras.ops`` and, on TensorFlow, compiled with XLA,
which fuses it into single loops; TensorFlow alone would run one kernel and
write one full tensor per op.
"""

import functools
import numbers

import keras
import numpy as np
from keras import ops

from custom_layers import _backend, _validation
from custom_layers.layers._weights import KernelBiasLayer

# Inputs with at most this many channels (per group) get their windows as columns.
MAX_CHANNELS_FOR_COLUMNS = 4
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


def extent(k, d=1):
    """Input pixels a kernel of size k with dilation d spans: (k − 1)·d + 1."""
    return (k - 1) * d + 1


def output_length(n, k, s, padding, d=1):
    """Output size along one axis, e = (k − 1)·d + 1 the kernel's extent:
    ⌊(n − e)/s⌋ + 1 for valid (0 when n < e), ⌈n/s⌉ for same."""
    if padding == "valid":
        e = extent(k, d)
        return (n - e) // s + 1 if n >= e else 0
    return -(-n // s)


def same_padding(n, k, s, d=1):
    """(before, after) zeros along one axis for padding="same", as Keras/TF:
    total max((⌈n/s⌉ − 1)·s + e − n, 0) with e = (k − 1)·d + 1, the odd one
    after (bottom/right)."""
    total = max((output_length(n, k, s, "same") - 1) * s + extent(k, d) - n, 0)
    return total // 2, total - total // 2


def _window_indices(source_hw, out_hw, kernel_hw, strides, offset, dilation=(1, 1)):
    """Flat gather indices of every window, with positions outside the source
    mapped to the zero slot at index source_h·source_w.

    Output (i, j) with kernel offset (m, n) reads source position
    (i·s_h + m·d_h − offset_h, j·s_w + n·d_w − offset_w): the offset is the
    padding before the source, and anything outside the source is a padding zero.

    Returns an int32 array of shape (out_h·out_w·k_h·k_w,), ordered
    (i, j, m, n), so that a gather + reshape gives rows of (m, n, c).
    """
    axes = []
    per_axis = zip(source_hw, out_hw, kernel_hw, strides, offset, dilation, strict=True)
    for size, out, k, s, off, d in per_axis:
        grid = np.arange(out)[:, None] * s + np.arange(k)[None, :] * d - off  # (out, k)
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


def _grouped_windows_as_rows(x, indices, window_size, groups):
    """Gather every window of x (B, H, W, C), group by group: (G, B·P,
    window_size·C/G), row (b, i, j) of group g holding the window's values
    in that group's C/G channels. The input is made group-major (G, B, H·W,
    C/G) first (a copy of the input, not of the windows), so that one
    gather copies C/G contiguous floats per index."""
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    group = channels // groups
    planes = ops.transpose(ops.reshape(x, (-1, height * width, groups, group)), (2, 0, 1, 3))
    windows = ops.take(_append_slots(planes, 2), indices, axis=2)  # (G, B, P·window, C/G)
    return ops.reshape(windows, (groups, -1, window_size * group))


class _Geometry:
    """Everything about one (input size, kernel, stride, dilation, padding)
    that does not depend on the values: output size, padding, gather
    indices, and the compiled data-movement functions.

    Kernel offset m reads padded input row i·s + m·d. Writing that row as
    r + s·(i + t), the offset lands in phase r = (m·d) mod s, shifted by
    t = (m·d) div s rows of its phase (without dilation: m = r + s·t).

    The input gradient has two methods; ``input_gradient_by_windows`` picks
    one by the values each handles per output position.

    *By windows*: ∂Windows = ∂Output · Kernelᵀ (one product, exactly the
    multiplications of the forward pass), then every input pixel sums the
    window entries that read it ("col2im"): for each kernel offset (m, n) the
    plane ∂Windows[:, :, :, m, n, :] is added at rows i·s + m·d, columns
    j·s + n·d. Done phase by phase (the offsets of phase r are added at phase
    rows i + t), each phase is a sum of shifted planes, and the phases are
    interleaved: no scatter, no dilation zeros. Moves out_h·out_w·k_h·k_w·C
    per image.

    *By phases*: input row p (in padded coordinates) receives
    ∂Output[i]·Kernel[m] for every p = i·s + m·d; with p = r + s·u (phase
    r = p mod s) these are the offsets of phase r, each at i = u − t. So each
    phase is a stride-1 correlation of ∂Output with the sub-kernel of its
    offsets: taps t = 0..T−1 (δ apart: the shifts m·d when s = 1, else every
    shift, the sub-kernel holding zeros where no offset lands). The windows
    over ∂Output are the same for every phase: one gather serves all s_h·s_w
    phases, and one matrix product with the sub-kernels side by side
    computes them all; interleaving the phases gives the input gradient.
    Moves U·V·T_h·T_w·filters per image: the cheaper one when
    filters ≪ channels.
    """

    def __init__(self, in_hw, kernel_hw, strides, padding, dilation=(1, 1)):
        self.in_hw, self.kernel_hw, self.strides = in_hw, kernel_hw, strides
        self.dilation = dilation
        axes = tuple(zip(in_hw, kernel_hw, strides, dilation, strict=True))
        self.out_hw = tuple(output_length(n, k, s, padding, d) for n, k, s, d in axes)
        if padding == "same":
            self.before = tuple(same_padding(n, k, s, d)[0] for n, k, s, d in axes)
        else:
            self.before = (0, 0)
        # Padded rows/columns the windows reach: (out − 1)·s + (k − 1)·d + 1.
        self.reach = tuple(
            (out - 1) * s + extent(k, d)
            for out, (_, k, s, d) in zip(self.out_hw, axes, strict=True)
        )
        # Forward, as rows: output (i, j) reads input (i·s + m·d − pad_top, j·s + n·d − pad_left).
        self.forward = _window_indices(
            in_hw, self.out_hw, kernel_hw, strides, self.before, dilation
        )
        # The same, each window followed by the ones slot (index H·W + 1):
        # the bias then rides in the matrix product, and its gradient too.
        windows = self.forward.reshape(-1, kernel_hw[0] * kernel_hw[1])
        ones = np.full((len(windows), 1), in_hw[0] * in_hw[1] + 1, dtype="int32")
        self.forward_with_bias = np.concatenate([windows, ones], axis=1).reshape(-1)

        # Shifts t = (m·d) div s take the values 0..⌊(k − 1)·d / s⌋.
        self.shifts = tuple((k - 1) * d // s + 1 for _, k, s, d in axes)
        # Input gradient, by phases (see the class docstring): T taps, δ apart.
        self.tap_step = tuple(d if s == 1 else 1 for _, _, s, d in axes)
        self.taps = tuple(
            (shifts - 1) // step + 1
            for shifts, step in zip(self.shifts, self.tap_step, strict=True)
        )
        self.phase_hw = tuple(  # U, V: phase rows covering padded rows < pad + n
            -(-(b + n) // s) for b, n, s in zip(self.before, in_hw, strides, strict=True)
        )
        # Window tap j reads ∂Output[u + (j − (T − 1))·δ] = ∂Output[u − t], t = (T − 1 − j)·δ.
        self.backward = _window_indices(
            self.out_hw,
            self.phase_hw,
            self.taps,
            (1, 1),
            tuple((t - 1) * step for t, step in zip(self.taps, self.tap_step, strict=True)),
            self.tap_step,
        )
        self._phase_kernels = {}
        self.shifted_planes = _backend.xla_compiled(self._shifted_planes)
        self.col2im = _backend.xla_compiled(self._col2im)
        self.grouped_col2im = _backend.xla_compiled(self._grouped_col2im)

    def windows_as_columns(self, channels):
        """Whether inputs with ``channels`` channels (per group) get their windows as columns."""
        return channels <= MAX_CHANNELS_FOR_COLUMNS

    def _shifted_planes(self, x, ones_row):
        """x (B, H, W, C) as rows of out_w floats for the column gather.

        Row ((n·C + c)·B + b)·R_h + p holds the padded input
        x[b, p − pad_top, j·s_w + n·d_w − pad_left, c] for j < out_w (R_h =
        reach of the windows in padded rows): each kernel column n shifts the
        channel-planar input once. With ``ones_row`` a row of ones follows.
        """
        (reach_h, reach_w), (top, left) = self.reach, self.before
        (in_h, in_w), stride_w, out_w = self.in_hw, self.strides[1], self.out_hw[1]
        dilation_w = self.dilation[1]
        planes = ops.transpose(x, (3, 0, 1, 2))  # (C, B, H, W)
        pad_h, pad_w = (top, max(reach_h - top - in_h, 0)), (left, max(reach_w - left - in_w, 0))
        planes = ops.pad(planes, ((0, 0), (0, 0), pad_h, pad_w))[:, :, :reach_h, :reach_w]
        last = (out_w - 1) * stride_w + 1
        shifted = ops.stack(
            [
                planes[..., n * dilation_w : n * dilation_w + last : stride_w]
                for n in range(self.kernel_hw[1])
            ]
        )  # (k_w, C, B, R_h, out_w)
        rows = ops.reshape(shifted, (-1, out_w))
        if ones_row:
            rows = ops.concatenate([rows, ops.ones((1, out_w), dtype=rows.dtype)], axis=0)
        return rows

    def column_indices(self, batch, channels, ones_row, groups=1):
        """Gather indices of ``_shifted_planes``' rows, in the order
        (g, m, n, c, b, i) with c over the C/G channels of group g (then the
        ones row for every (b, i)): the gathered runs of out_w floats form
        windows as columns, (k_h·k_w·C [+1], B·out_h·out_w), group after
        group. The batch size is only known at run time, so part of it is
        computed then."""
        (kh, kw), (reach_h, out_h) = self.kernel_hw, (self.reach[0], self.out_hw[0])
        stride_h, dilation_h, group = self.strides[0], self.dilation[0], channels // groups
        block = (  # n·C + g·C/G + c
            np.arange(kw)[None, :, None] * channels
            + np.arange(groups)[:, None, None] * group
            + np.arange(group)[None, None, :]
        )
        block = block.astype("int32").reshape(groups, 1, kw, group, 1, 1)
        rows = (np.arange(out_h) * stride_h)[None, :] + np.arange(kh)[:, None] * dilation_h
        rows = rows.astype("int32").reshape(1, kh, 1, 1, 1, out_h)  # i·s + m·d
        images = ops.reshape(ops.arange(batch, dtype="int32"), (1, 1, 1, 1, -1, 1))
        indices = ops.reshape((block * batch + images) * reach_h + rows, (-1,))
        if ones_row:
            ones = ops.full((batch * out_h,), kw * channels * batch * reach_h, dtype="int32")
            indices = ops.concatenate([indices, ones], axis=0)
        return indices

    def _col2im(self, d_windows):
        """Input gradient (B, H, W, C) from ∂Windows (B, out_h, out_w, k_h, k_w, C)."""
        (kh, kw), (s_h, s_w), (out_h, out_w) = self.kernel_hw, self.strides, self.out_hw
        (d_h, d_w), (top, left), (in_h, in_w) = self.dilation, self.before, self.in_hw
        u, v, channels = out_h + self.shifts[0] - 1, out_w + self.shifts[1] - 1, d_windows.shape[-1]
        grid = []
        for r in range(s_h):
            phase_row = []
            for q in range(s_w):
                # Offset (m, n) of window (i, j) lands at padded (i·s + m·d, j·s + n·d):
                # in phase (r, q) = ((m·d) mod s, (n·d) mod s) at phase position
                # (i + t, j + t'), t = (m·d) div s: a sum of shifted planes.
                total = None
                for m in range(kh):
                    if m * d_h % s_h != r:
                        continue
                    t = m * d_h // s_h
                    for n in range(kw):
                        if n * d_w % s_w != q:
                            continue
                        t2 = n * d_w // s_w
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

    def _grouped_col2im(self, d_windows):
        """Input gradient (B, H, W, C) from every group's ∂Windows
        (G, B·out_h·out_w, k_h·k_w·C/G): the groups' channels side by side,
        then ``_col2im`` (XLA fuses the reordering into its sums)."""
        groups, size = d_windows.shape[0], d_windows.shape[2]
        (kh, kw), (out_h, out_w) = self.kernel_hw, self.out_hw
        group = size // (kh * kw)
        d_windows = ops.reshape(d_windows, (groups, -1, out_h, out_w, kh, kw, group))
        d_windows = ops.transpose(d_windows, (1, 2, 3, 4, 5, 0, 6))
        return self._col2im(ops.reshape(d_windows, (-1, out_h, out_w, kh, kw, groups * group)))

    def phase_kernel_indices(self, channels, filters, groups=1):
        """Flat indices into Kernel (k_h, k_w, C/G, K values, then a zero)
        laying out the sub-kernels of every phase side by side,
        (T_h·T_w·K, s_h·s_w·C) for one group, else (G, T_h·T_w·K/G,
        s_h·s_w·C/G): entry ((t_h, t_w, k), (r_h, r_w, c)) of group g is
        Kernel[m_h, m_w, c, g·K/G + k] for the offsets with m·d = r + s·t,
        t = (T − 1 − tap)·δ, or the zero where no offset lands there (window
        tap j reads ∂Output[u − t]). ``channels`` is the kernel's C/G."""
        key = (channels, filters, groups)
        if key not in self._phase_kernels:
            per_axis = []
            axes = (self.kernel_hw, self.strides, self.dilation, self.taps, self.tap_step)
            for k, s, d, taps, step in zip(*axes, strict=True):
                shift = (taps - 1 - np.arange(taps))[:, None] * step
                landing = np.arange(s)[None, :] + s * shift  # (T, s): m·d
                ok = (landing % d == 0) & (landing // d < k)
                per_axis.append((np.where(ok, landing // d, 0), ok))
            (m_h, ok_h), (m_w, ok_w) = per_axis
            kw, per_group = self.kernel_hw[1], filters // groups
            # axes (g, t_h, t_w, k, r_h, r_w, c)
            offset = (
                m_h[None, :, None, None, :, None, None] * kw
                + m_w[None, None, :, None, None, :, None]
            )
            c = np.arange(channels).reshape(1, 1, 1, 1, 1, 1, -1)
            k = np.arange(filters).reshape(groups, 1, 1, per_group, 1, 1, 1)
            flat = (offset * channels + c) * filters + k
            ok = ok_h[None, :, None, None, :, None, None] & ok_w[None, None, :, None, None, :, None]
            zero = np.prod(self.kernel_hw) * channels * filters
            flat = np.where(ok, flat, zero)  # (G, T_h, T_w, K/G, s_h, s_w, C/G)
            shape = (
                self.taps[0] * self.taps[1] * per_group,
                self.strides[0] * self.strides[1] * channels,
            )
            self._phase_kernels[key] = flat.astype("int32").reshape(
                shape if groups == 1 else (groups, *shape)
            )
        return self._phase_kernels[key]

    def input_gradient_by_windows(self, channels, filters):
        """Whether the input gradient goes by windows: when the windows hold
        no more values per output position (k_h·k_w·C) than the phases'
        sub-kernels (s_h·s_w·T_h·T_w·K), per group. Measured over eleven
        layer shapes (C, K from 8 to 64, strides 1 and 2, kernels 1 to 5),
        this picks the faster method every time; the phases' gather costs
        more per value than the windows' compiled col2im."""
        by_windows = np.prod(self.kernel_hw) * channels
        by_phases = np.prod(self.strides) * np.prod(self.taps) * filters
        return by_windows <= by_phases


@functools.lru_cache(maxsize=256)
def _geometry(in_hw, kernel_hw, strides, padding, dilation, channels, groups):
    """The ``_Geometry`` of one input size and configuration, shared by every
    layer in the process that has them: its index arrays are built, and its
    compiled data movement traced, once per configuration, not once per layer
    (a rebuilt model, a test suite). ``channels`` and ``groups`` only keep
    the compiled functions apart: their traces take those sizes as fixed."""
    del channels, groups
    return _Geometry(in_hw, kernel_hw, strides, padding, dilation)


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


def correlate(x, kernel, bias, geometry, groups=1):
    """Σ_{m,n,c} x[b, i·s + m·d, j·s + n·d, g(k)·C/G + c]·kernel[m, n, c, k] + bias[k],
    hand-written gradient.

    Args:
        x: (B, H, W, C) input.
        kernel: (k_h, k_w, C/G, K) kernel.
        bias: (K,) bias, or ``None``.
        geometry: the ``_Geometry`` of this input size, kernel, stride,
            dilation, padding.
        groups: G, dividing C and K; filter k reads group g(k) = ⌊k / (K/G)⌋.

    Returns:
        (B, out_h, out_w, K).

    The bias is folded into the matrix product: every window gets entries
    read from a slot of ones (one for columns, C for rows), and the kernel
    matrix as many extra rows, the first holding the bias. One product gives
    conv + bias, and the kernel-gradient product gives the bias gradient
    (Σ ∂Output) in the first extra row, instead of a separate addition and
    reduction over the output. (With groups the bias is added after the
    product, and its gradient is autodiff's sum.)
    """
    if groups > 1:
        outputs = _correlate_groups(x, kernel, geometry, groups)
        return outputs if bias is None else ops.add(outputs, bias)
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


def _group_major(values, groups):
    """(N, G·W) as (G, N, W): column g·W + w of row n goes to [g, n, w]."""
    return ops.transpose(ops.reshape(values, (values.shape[0], groups, -1)), (1, 0, 2))


def _correlate_groups(x, kernel, geometry, groups):
    """``correlate`` for G > 1 groups, without bias: one batched product of
    every group's windows (its C/G channels) times its K/G kernel columns.

    The windows come group after group from one gather (as columns when C/G
    is small, else as rows of the group-major input); the products are
    batched over the groups, and so are the backward's: ∂Kernel_g =
    Windows_gᵀ·∂Output_g, and ∂Input by windows (∂Windows_g = ∂Output_g ·
    Kernel_gᵀ, then one col2im over all channels) or by phases (every
    group's sub-kernels applied to windows of its ∂Output channels).
    """
    kh, kw, group, filters = kernel.shape
    per_group, size = filters // groups, kh * kw * group
    out_h, out_w = geometry.out_hw
    as_columns = geometry.windows_as_columns(group)

    def _windows_of(x):
        if as_columns:  # (G, size, B·P)
            rows = geometry.shifted_planes(x, False)
            indices = geometry.column_indices(ops.shape(x)[0], group * groups, False, groups)
            return ops.reshape(ops.take(rows, indices, axis=0), (groups, size, -1))
        return _grouped_windows_as_rows(x, geometry.forward, kh * kw, groups)  # (G, B·P, size)

    @ops.custom_gradient
    def _correlate(x, kernel):
        windows = _windows_of(x)
        matrices = _group_major(ops.reshape(kernel, (size, filters)), groups)  # (G, size, K/G)
        y = ops.matmul(ops.transpose(windows, (0, 2, 1)) if as_columns else windows, matrices)
        y = ops.reshape(ops.transpose(y, (1, 0, 2)), (-1, out_h, out_w, filters))

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            by_group = ops.transpose(
                ops.reshape(upstream, (-1, groups, per_group)), (1, 0, 2)
            )  # (G, B·P, K/G)
            d_matrices = ops.matmul(
                windows if as_columns else ops.transpose(windows, (0, 2, 1)), by_group
            )
            d_kernel = ops.reshape(ops.transpose(d_matrices, (1, 0, 2)), kernel.shape)
            if geometry.input_gradient_by_windows(group, per_group):
                d_windows = ops.matmul(by_group, ops.transpose(matrices, (0, 2, 1)))
                d_x = geometry.grouped_col2im(d_windows)
            else:
                d_x = _grouped_input_gradient_by_phases(upstream, kernel, geometry, groups)
            return d_x, d_kernel

        return y, grad

    return _correlate(ops.cast(x, x.dtype), ops.cast(kernel, kernel.dtype))


def _grouped_input_gradient_by_phases(upstream, kernel, geometry, groups):
    """``_input_gradient_by_phases`` for G groups: each group's phases come
    from windows over its K/G channels of ∂Output and its sub-kernels, in
    one batched product."""
    group, filters = kernel.shape[2:]
    (taps_h, taps_w), (s_h, s_w) = geometry.taps, geometry.strides
    (u, v), (in_h, in_w), (top, left) = geometry.phase_hw, geometry.in_hw, geometry.before
    flat_kernel = ops.pad(ops.reshape(kernel, (-1,)), ((0, 1),))
    indices = geometry.phase_kernel_indices(group, filters, groups)
    phases = ops.take(flat_kernel, indices, axis=0)  # (G, T·K/G, s_h·s_w·C/G)
    rows = _grouped_windows_as_rows(upstream, geometry.backward, taps_h * taps_w, groups)
    d_x = ops.matmul(rows, phases)  # (G, B·U·V, s_h·s_w·C/G)
    d_x = ops.reshape(d_x, (groups, -1, u, v, s_h, s_w, group))
    d_x = ops.transpose(d_x, (1, 2, 4, 3, 5, 0, 6))  # (B, U, s_h, V, s_w, G, C/G)
    d_x = ops.reshape(d_x, (-1, u * s_h, v * s_w, groups * group))
    return d_x[:, top : top + in_h, left : left + in_w, :]


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

    def call(self, inputs):
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
        outputs = correlate(inputs, self.kernel, self.bias, geometry, self.groups)
        if channels_first:
            outputs = ops.transpose(outputs, (0, 3, 1, 2))
        return self.activation(outputs)

    def _geometry_for(self, height, width, channels):
        """The geometry (gather indices, data-movement helpers) of this
        layer's configuration on channels-last inputs of that size, shared
        by every layer of the same configuration (``_geometry``'s cache)."""
        return _geometry(
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
