"""The correlation, with its hand-written gradients: im2col and matrix products.

It computes

    Output[b, i, j, k] = Σ_{m,n,c} Input[b, i·s_h + m·d_h, j·s_w + n·d_w, g(k)·C/G + c]
                                   ·Kernel[m, n, c, k] + bias[k]

on channels-last tensors, in ``keras.ops``, with no built-in convolution. The
sum is one matrix product ("im2col"): every window Input[b, i·s + m·d,
j·s + n·d, :] is laid out as a row (or a column), and the rows times the
kernel reshaped to (k_h·k_w·C, filters) give every output at once; with
groups, one batched product of G such products, each group's windows (its
C/G channels) times its kernel columns. Where each window entry comes from
is the ``_conv_geometry.Geometry`` of the layer's shapes; this module
gathers and multiplies. How the windows are laid out depends on the
channels (per group):

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
  layer's shapes (see ``_conv_geometry.Geometry``).
"""

from keras import ops

from custom_layers.layers import _conv_winograd


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


def _input_gradient(upstream, kernel, geometry):
    """∂L/∂Input from ∂L/∂Output (B, out_h, out_w, K), by the method
    ``geometry.input_gradient_by_windows`` picks for this layer's shapes."""
    channels, filters = kernel.shape[2:]
    if geometry.input_gradient_by_windows(channels, filters):
        return _input_gradient_by_windows(upstream, kernel, geometry)
    return _input_gradient_by_phases(upstream, kernel, geometry)


def _input_gradient_by_windows(upstream, kernel, geometry):
    """∂Windows = ∂Output · Kernelᵀ, then col2im (see ``Geometry``)."""
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


def correlate(x, kernel, bias, geometry, groups=1, inference=False):
    """Σ_{m,n,c} x[b, i·s + m·d, j·s + n·d, g(k)·C/G + c]·kernel[m, n, c, k] + bias[k],
    hand-written gradient.

    Args:
        x: (B, H, W, C) input.
        kernel: (k_h, k_w, C/G, K) kernel.
        bias: (K,) bias, or ``None``.
        geometry: the ``_conv_geometry.Geometry`` of this input size, kernel, stride,
            dilation, padding.
        groups: G, dividing C and K; filter k reads group g(k) = ⌊k / (K/G)⌋.
        inference: whether no gradient follows (``predict``), for the
            choice of method below.

    Returns:
        (B, out_h, out_w, K).

    Without groups, a 3×3 kernel at stride 1 goes by Winograd's tiles
    (``_conv_winograd``) where ``geometry.by_tiles`` says they are faster.
    Otherwise the bias is folded into the matrix product: every window gets entries
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
    if geometry.by_tiles(channels, inference):
        outputs = _conv_winograd.correlate(x, kernel, geometry)
        return outputs if bias is None else ops.add(outputs, bias)
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
