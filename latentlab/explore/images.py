"""Image arrays for display and export: grids, strips, conversion to 8-bit."""

from __future__ import annotations

import numpy as np

__all__ = ["image_grid", "to_uint8_hwc"]


def to_uint8_hwc(images: np.ndarray) -> np.ndarray:
    """Float images ``N,C,H,W`` (or one ``C,H,W``) in [0, 1] -> uint8 ``N,H,W,C``."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.dtype != np.uint8:
        images = np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)
    return np.ascontiguousarray(images.transpose(0, 2, 3, 1))


def image_grid(images: np.ndarray, columns: int, padding: int = 1, fill: int = 255) -> np.ndarray:
    """Tile images ``N,C,H,W`` into one uint8 image ``H',W',C`` with ``columns`` per row."""
    tiles = to_uint8_hwc(images)
    n, h, w, c = tiles.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    grid = np.full(
        (rows * (h + padding) + padding, columns * (w + padding) + padding, c), fill, dtype=np.uint8
    )
    for i, tile in enumerate(tiles):
        y, x = padding + (i // columns) * (h + padding), padding + (i % columns) * (w + padding)
        grid[y : y + h, x : x + w] = tile
    return grid
