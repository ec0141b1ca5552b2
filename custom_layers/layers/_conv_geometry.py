"""The index geometry of a convolution: which input pixel each window entry reads.

Everything here depends on the input size, kernel size, stride, dilation and
padding, never on the values: the output size and Keras' "same" zeros, the
gather indices of the windows (computed once per configuration, in NumPy),
the stride phases of the input gradient, and the pure data movement between
those layouts (planar shifted copies, col2im's sums of shifted planes).
``_conv_correlation`` multiplies what this module lays out.

A kernel of size k with dilation d spans (k − 1)·d + 1 input pixels per axis
(its extent): that, not k, sets the output size and the "same" padding.
Output (i, j), kernel offset (m, n) reads padded input (i·s_h + m·d_h,
j·s_w + n·d_w).

The data movement (transposes, pads, shifted slices, sums of shifted
planes) is written in ``keras.ops`` and, on TensorFlow, compiled with XLA,
which fuses it into single loops; TensorFlow alone would run one kernel and
write one full tensor per op.
"""

import functools

import keras
import numpy as np
from keras import ops

from custom_layers import _backend
from custom_layers.layers import _conv_winograd

# Inputs with at most this many channels (per group) get their windows as columns.
MAX_CHANNELS_FOR_COLUMNS = 4
# 3×3 stride-1 layers with at least this many input channels go by tiles,
# per backend: (for inference, for training); see ``Geometry.by_tiles``.
MIN_CHANNELS_FOR_TILES = {"jax": (16, 16), "tensorflow": (16, 64)}


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


class Geometry:
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

    def by_tiles(self, channels, inference=False):
        """Whether the correlation goes by Winograd's F(2×2, 3×3) tiles
        (``_conv_winograd``; 3×3 kernels at stride 1 without dilation) rather
        than by windows, for inference (no gradient follows) or for training.

        Measured on 2 cores, batch 32, on 14x14x32, 32x32x{3, 32, 64} and
        64x64x{16, 32} inputs, as predict, as a first layer's training step
        and as an inner layer's: on JAX the tiles were faster in all three
        from 16 channels on, slower with 1 or 3 (the windows as columns win).
        On TensorFlow, whose matrix products and gathers are faster than
        XLA's on CPU, the tiles were faster for predict from 16 channels on,
        but in training only for an inner layer from 64 (a first layer's
        step, whose windows serve ∂Kernel too, stayed faster by windows).
        Other backends take TensorFlow's rule.
        """
        applies = _conv_winograd.applies(self.kernel_hw, self.strides, self.dilation)
        rule = MIN_CHANNELS_FOR_TILES.get(
            keras.backend.backend(), MIN_CHANNELS_FOR_TILES["tensorflow"]
        )
        return applies and channels >= rule[0 if inference else 1]

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
def geometry_of(in_hw, kernel_hw, strides, padding, dilation, channels, groups):
    """The ``Geometry`` of one input size and configuration, shared by every
    layer in the process that has them: its index arrays are built, and its
    compiled data movement traced, once per configuration, not once per layer
    (a rebuilt model, a test suite). ``channels`` and ``groups`` only keep
    the compiled functions apart: their traces take those sizes as fixed."""
    del channels, groups
    return Geometry(in_hw, kernel_hw, strides, padding, dilation)
