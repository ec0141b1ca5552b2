"""The correlation of a 3×3 kernel at stride 1 by Winograd's minimal filtering F(2×2, 3×3).

It computes the same sum as ``_conv_correlation``,

    Output[b, i, j, k] = Σ_{m,n,c} Input[b, i + m, j + n, c]·Kernel[m, n, c, k],

for 2×2 outputs at a time. Along one axis, two outputs of a 3-tap filter g
over four inputs d are y = Aᵀ[(G·g) ⊙ (Bᵀ·d)] (Winograd; Lavin and Gray, 2016):

    Bᵀ·d = (d0 − d2, d1 + d2, d2 − d1, d1 − d3)
    G·g  = (g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2)
    Aᵀ·p = (p0 + p1 + p2, p1 − p2 − p3)

Written out, each output is the 3-tap sum exactly (the identity holds for any
g and d); in two dimensions the transforms are applied along the rows and
then the columns of each 4×4 input tile (tiles 2 apart). Summed over the
channels, the 16 products of a tile become 16 matrix products,

    M_ab = U_ab · V_ab,   U = Bᵀ·tile·B  (tiles, C),   V = G·g·Gᵀ  (C, K),

and Aᵀ·M·A gives each 2×2 output block. The products do 16·C·K
multiply-adds per 4 outputs where im2col does 36·C·K, and read the
transformed tiles (4 values per input value) instead of the windows (9).

The batch goes through in chunks whose transformed tiles fit in the cache
(``CHUNK_BYTES``): written and read back there, not in memory.

The gradients are sums of the same kind (``custom_gradient``):

- ∂L/∂Input[p] = Σ_m ∂L/∂Output[p + top − m]·Kernel[m]: the correlation of
  ∂Output, padded by 2 − top, with the kernel turned 180° and its channels
  and filters swapped, by the same tiles;
- ∂L/∂Kernel = Gᵀ·(Σ_tiles U_abᵀ·W_ab)·G with W = A·∂Output_block·Aᵀ, the
  forward pass's products read backwards (the transposes of its linear maps).

Each gradient is a pass of its own, so that a first layer, whose ∂Input
nothing asks for, never computes it.
"""

import functools

import numpy as np
from keras import ops

from custom_layers import _backend

# Transformed tiles per chunk: a few times a core's L2 (2 MiB here) and well
# inside a shared L3, so that each pass writes its tiles and reads them back
# from the cache; the whole batch's tiles (tens of MiB) would go to memory.
CHUNK_BYTES = 8 * 2**20

_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


def applies(kernel_hw, strides, dilation):
    """Whether the tiles compute this configuration: a 3×3 kernel, stride 1, no dilation."""
    return tuple(kernel_hw) == (3, 3) and tuple(strides) == (1, 1) and tuple(dilation) == (1, 1)


def _quads(v, axis, n):
    """The four inputs of every tile along ``axis`` (1 or 2) of v, whose
    length there is 2n + 2: d_r[t] = v[2t + r], r = 0..3, t < n."""
    if axis == 1:
        pairs = ops.reshape(v, (-1, n + 1, 2, *v.shape[2:]))
        return pairs[:, :n, 0], pairs[:, :n, 1], pairs[:, 1:, 0], pairs[:, 1:, 1]
    pairs = ops.reshape(v, (-1, v.shape[1], n + 1, 2, v.shape[3]))
    return pairs[:, :, :n, 0], pairs[:, :, :n, 1], pairs[:, :, 1:, 0], pairs[:, :, 1:, 1]


def _data_transform(d0, d1, d2, d3):
    """Bᵀ·d."""
    return [d0 - d2, d1 + d2, d2 - d1, d1 - d3]


def _output_transform(p0, p1, p2, p3):
    """Aᵀ·p."""
    return [p0 + p1 + p2, p1 - p2 - p3]


def _output_transform_transposed(e0, e1):
    """A·e, the transpose of ``_output_transform``: what ∂Output gives each product."""
    return [e0, e0 + e1, e0 - e1, -e1]


def _tiles(padded, tiles_hw):
    """U = Bᵀ·tile·B for every 4×4 tile of padded (b, 2·T_h + 2, 2·T_w + 2, C):
    (16, b·T_h·T_w, C), component (a, a') first."""
    t_h, t_w = tiles_hw
    rows = _data_transform(*_quads(padded, 1, t_h))
    parts = [u for row in rows for u in _data_transform(*_quads(row, 2, t_w))]
    return ops.reshape(ops.stack(parts), (16, -1, padded.shape[-1]))


def _blocks(products, tiles_hw):
    """Aᵀ·M·A for every tile's products M (16, b·T_h·T_w, K): the outputs
    (b, 2·T_h, 2·T_w, K), each tile's 2×2 block in place."""
    t_h, t_w = tiles_hw
    m = ops.reshape(products, (4, 4, -1, t_h, t_w, products.shape[-1]))
    rows = _output_transform(m[0], m[1], m[2], m[3])
    y = [_output_transform(r[0], r[1], r[2], r[3]) for r in rows]
    y = ops.stack([ops.stack(row, axis=3) for row in y], axis=2)  # (b, T_h, 2, T_w, 2, K)
    return ops.reshape(y, (-1, 2 * t_h, 2 * t_w, products.shape[-1]))


def _gradient_tiles(upstream, tiles_hw):
    """W = A·∂Output_block·Aᵀ for every 2×2 block of upstream (b, 2·T_h,
    2·T_w, K): (16, b·T_h·T_w, K), in ``_tiles``' component order."""
    t_h, t_w = tiles_hw
    e = ops.reshape(upstream, (-1, t_h, 2, t_w, 2, upstream.shape[-1]))
    rows = _output_transform_transposed(e[:, :, 0], e[:, :, 1])  # (b, T_h, T_w, 2, K) each
    parts = [w for r in rows for w in _output_transform_transposed(r[..., 0, :], r[..., 1, :])]
    return ops.reshape(ops.stack(parts), (16, -1, upstream.shape[-1]))


def _kernel_transform(kernel):
    """V = G·g·Gᵀ for every (c, k): (16, C, K)."""
    g = ops.convert_to_tensor(_G, kernel.dtype)
    v = ops.einsum("am,mnck,bn->abck", g, kernel, g)
    return ops.reshape(v, (16, *kernel.shape[2:]))


def _kernel_from_transformed(d_v):
    """∂L/∂g = Gᵀ·∂L/∂V·G, from ∂L/∂V (16, C, K): (3, 3, C, K)."""
    g = ops.convert_to_tensor(_G, d_v.dtype)
    return ops.einsum("am,abck,bn->mnck", g, ops.reshape(d_v, (4, 4, *d_v.shape[1:])), g)


def _padded(x, top_left, tiles_hw):
    """x (b, H, W, C) with ``top_left`` zeros before and enough after for
    the tiles: 2·T + 2 rows and columns."""
    pads = [(0, 0)]
    for before, size, tiles in zip(top_left, x.shape[1:3], tiles_hw, strict=True):
        pads.append((before, 2 * tiles + 2 - size - before))
    return ops.pad(x, (*pads, (0, 0)))


def _in_chunks(function, arrays, images):
    """``function`` over the batch of ``arrays`` in chunks of ``images``
    images (the last one padded with zeros), its per-chunk results
    stacked; with one chunk, ``function(*arrays)`` with no leading axis."""
    batch = ops.shape(arrays[0])[0]
    if isinstance(batch, int) and batch <= images:
        return function(*arrays), False
    short = (-batch) % images
    chunks = tuple(
        ops.reshape(
            ops.pad(a, ((0, short), *[(0, 0)] * (len(a.shape) - 1))), (-1, images, *a.shape[1:])
        )
        for a in arrays
    )
    return ops.map(lambda chunk: function(*chunk), chunks), True


class Tiling:
    """The tiles of one input size and padding: how many, the zeros around
    the input, and the compiled passes (the data movement and the products,
    compiled together with XLA on TensorFlow; JAX's ``jit`` of the step
    already does)."""

    def __init__(self, in_hw, out_hw, before):
        self.in_hw, self.out_hw, self.before = in_hw, out_hw, before
        self.tiles = tuple(-(-n // 2) for n in out_hw)  # forward: output blocks
        self.back_tiles = tuple(-(-n // 2) for n in in_hw)  # ∂Input blocks
        self.forward = _backend.xla_compiled(self._forward)
        self.input_gradient = _backend.xla_compiled(self._input_gradient)
        self.kernel_gradient = _backend.xla_compiled(self._kernel_gradient)

    def _images(self, channels):
        """Images per chunk: their transformed tiles fill ``CHUNK_BYTES``."""
        per_image = 16 * self.tiles[0] * self.tiles[1] * max(channels, 1) * 4
        return max(1, CHUNK_BYTES // per_image)

    def input_tiles(self, x):
        """U = Bᵀ·tile·B of the forward pass's tiles of x: (16, b·T_h·T_w, C)."""
        return _tiles(_padded(x, self.before, self.tiles), self.tiles)

    def _correlate(self, x, v, top_left, tiles, out_hw):
        """Σ over 3×3 offsets and channels of x against the transformed kernel v."""
        products = ops.matmul(_tiles(_padded(x, top_left, tiles), tiles), v)
        return _blocks(products, tiles)[:, : out_hw[0], : out_hw[1]]

    def _forward(self, x, kernel):
        v = _kernel_transform(kernel)
        y, chunked = _in_chunks(
            lambda x: self._correlate(x, v, self.before, self.tiles, self.out_hw),
            (x,),
            self._images(max(kernel.shape[2:])),
        )
        return self._unchunked(y, x) if chunked else y

    def _input_gradient(self, kernel, upstream):
        turned = ops.transpose(ops.flip(kernel, axis=(0, 1)), (0, 1, 3, 2))  # g[2 − m], (K, C)
        v = _kernel_transform(turned)
        reach = tuple(2 - b for b in self.before)
        d_x, chunked = _in_chunks(
            lambda upstream: self._correlate(upstream, v, reach, self.back_tiles, self.in_hw),
            (upstream,),
            self._images(max(kernel.shape[2:])),
        )
        return self._unchunked(d_x, upstream) if chunked else d_x

    def _kernel_gradient(self, x, upstream):
        (t_h, t_w), (out_h, out_w) = self.tiles, self.out_hw

        def chunk(x, upstream):
            u = self.input_tiles(x)
            blocks = ops.pad(  # ∂Output of the cropped outputs is zero
                upstream, ((0, 0), (0, 2 * t_h - out_h), (0, 2 * t_w - out_w), (0, 0))
            )
            return ops.matmul(ops.transpose(u, (0, 2, 1)), _gradient_tiles(blocks, self.tiles))

        images = self._images(max(x.shape[-1], upstream.shape[-1]))
        d_v, chunked = _in_chunks(chunk, (x, upstream), images)
        return _kernel_from_transformed(ops.sum(d_v, axis=0) if chunked else d_v)

    @staticmethod
    def _unchunked(chunks, like):
        """Per-chunk images (n, images, ...) as the batch of ``like``, padding dropped."""
        images = ops.reshape(chunks, (-1, *chunks.shape[2:]))
        return images[: ops.shape(like)[0]]


@functools.lru_cache(maxsize=256)
def tiling_of(in_hw, out_hw, before, channels, filters):
    """The ``Tiling`` of one input size and padding, shared in the process.
    ``channels`` and ``filters`` only keep the compiled passes apart: their
    traces take those sizes as fixed."""
    del channels, filters
    return Tiling(in_hw, out_hw, before)


def correlate(x, kernel, geometry):
    """Σ_{m,n,c} x[b, i + m, j + n, c]·kernel[m, n, c, k] for a 3×3 kernel at
    stride 1 (the padding of ``geometry``), by F(2×2, 3×3) tiles, with the
    gradients above."""
    tiling = tiling_of(geometry.in_hw, geometry.out_hw, geometry.before, *kernel.shape[2:])

    @ops.custom_gradient
    def _correlate(x, kernel):
        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            return tiling.input_gradient(kernel, upstream), tiling.kernel_gradient(x, upstream)

        return tiling.forward(x, kernel), grad

    return _correlate(ops.cast(x, x.dtype), ops.cast(kernel, kernel.dtype))
