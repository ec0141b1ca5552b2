"""What a convolution learned and what it makes of an image."""

import math

import numpy as np

from recipes.pictures._style import _figure, _grid


def kernels(kernel, title="", columns=8):
    """A Conv2D's filters, each as a small image on one colour range centred on 0.

    Args:
        kernel: ``(kh, kw, in_channels, filters)``, e.g. ``layer.kernel``.
            With 3 input channels (RGB) each filter is drawn as the mean over
            them, otherwise its first input channel; the title says which.
        title: the figure's title.
        columns: filters per row.

    Returns:
        A ``matplotlib.figure.Figure`` with one image per filter.
    """
    kernel = np.asarray(kernel, dtype=float)
    if kernel.ndim != 4:
        raise ValueError(
            "`kernel` must have shape (kh, kw, in_channels, filters). "
            f"Received: kernel.shape={kernel.shape}"
        )
    kh, kw, channels, filters = kernel.shape
    if channels == 3:
        drawn, which = kernel.mean(axis=2), "mean over the 3 input channels"
    else:
        drawn = kernel[:, :, 0, :]
        which = "the one input channel" if channels == 1 else f"input channel 0 of {channels}"
    limit = float(np.abs(drawn).max()) or 1.0
    columns = min(columns, filters)
    fig = _figure(1.1 * columns + 1, 1.1 * math.ceil(filters / columns) + 0.8)
    axes = _grid(fig, filters, columns)
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < filters:
            image = ax.imshow(drawn[:, :, i], cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(f"filter {i}", fontsize=7)
    fig.colorbar(image, ax=axes.tolist(), label="weight", shrink=0.8)
    fig.suptitle(f"{title}\n{kh}×{kw} kernels, {which}".strip())
    return fig


def _as_image(image):
    """(H, W, C) or (H, W) in [0, 1] floats for imshow, from 0-255 or [0, 1]."""
    image = np.asarray(image)
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
        raise ValueError(f"`image` must be (H, W), (H, W, 1) or (H, W, 3). Received: {image.shape}")
    if np.issubdtype(image.dtype, np.integer) or image.max() > 1.0:
        image = image / 255.0
    return np.clip(image.astype(float), 0.0, 1.0)


def feature_maps(image, maps, title="", columns=8):
    """An input image and the feature maps a convolution makes of it.

    Args:
        image: ``(H, W, C)`` with C = 1 or 3, in [0, 1] or 0-255.
        maps: ``(H', W', n)`` (or ``(1, H', W', n)``), the layer's output for
            that image; each map is drawn on its own colour range.
        title: the figure's title.
        columns: maps per row.

    Returns:
        A ``matplotlib.figure.Figure``: the input, then n map images.
    """
    image = _as_image(image)
    maps = np.asarray(maps, dtype=float)
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(f"`maps` must have shape (H', W', n). Received: maps.shape={maps.shape}")
    count = maps.shape[-1]
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    cell_height = 1.3 * maps.shape[0] / maps.shape[1] + 0.3  # a map 1.3 in wide, its title
    fig = _figure(1.3 * columns + 3.2, max(cell_height * rows + 0.8, 3.4))
    left, right = fig.subfigures(1, 2, width_ratios=[3, 1.3 * columns])
    ax = left.add_subplot()
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_title(f"input {image.shape[0]}×{image.shape[1]}", fontsize=9)
    ax.set_axis_off()
    for i, ax in enumerate(_grid(right, count, columns)):
        ax.set_axis_off()
        if i < count:
            ax.imshow(maps[:, :, i], cmap="viridis")
            ax.set_title(f"map {i}", fontsize=7)
    right.suptitle(
        f"{count} feature maps, {maps.shape[0]}×{maps.shape[1]} each, "
        "each on its own colour range (bright: strong response)",
        fontsize=9,
    )
    fig.suptitle(title)
    return fig
