"""Autoregressive painting: fill the masked pixels of an image one at a time, several
completions side by side, as a long job whose partial results can be watched (PixelRNN)."""

from __future__ import annotations

import time
from collections.abc import Generator

import numpy as np
import torch

from latentlab.models import GenerativeModel
from latentlab.models.pixelrnn import PixelRNN

__all__ = ["MASK_PRESETS", "mask_preset", "paint"]

MASK_PRESETS = ("all", "bottom half", "right half", "centre", "none")


def mask_preset(name: str, height: int, width: int) -> np.ndarray:
    """A mask ``H,W`` (True = to be filled) by name: see ``MASK_PRESETS``."""
    mask = np.zeros((height, width), dtype=bool)
    if name == "all":
        mask[:] = True
    elif name == "bottom half":
        mask[height // 2 :] = True
    elif name == "right half":
        mask[:, width // 2 :] = True
    elif name == "centre":
        mask[height // 4 : height - height // 4, width // 4 : width - width // 4] = True
    elif name != "none":
        raise ValueError(f"unknown mask {name!r} (known: {', '.join(MASK_PRESETS)})")
    return mask


def paint(
    model: GenerativeModel,
    image: np.ndarray,
    mask: np.ndarray,
    n: int = 4,
    temperature: float = 1.0,
    seed: int = 0,
    seconds: float = 0.0,
) -> Generator[tuple[float, np.ndarray], None, np.ndarray]:
    """A long job: ``n`` completions of ``image`` (``C,H,W`` in [0, 1]) where ``mask`` (``H,W``)
    is True, pixel by pixel in raster order. Yields ``(fraction, images N,C,H,W)`` after each
    masked pixel and returns the finished images; pixels outside the mask are never changed.
    ``seconds`` spreads the painting over about that long, so that it can be watched."""
    c, h, w = model.image_shape
    if image.shape != (c, h, w) or mask.shape != (h, w):
        raise ValueError(
            f"expected an image {c}x{h}x{w} and a mask {h}x{w}, got "
            f"{'x'.join(map(str, image.shape))} and {'x'.join(map(str, mask.shape))}"
        )
    todo = int(mask.sum())
    if todo == 0:
        raise ValueError("the mask is empty: paint over the pixels to be filled first")
    x = torch.as_tensor(image, dtype=torch.float32).expand(n, c, h, w).clone()
    full_mask = torch.as_tensor(mask).expand(n, c, h, w).clone()
    pause = seconds / todo
    generator = torch.Generator().manual_seed(seed)
    flat_mask = mask.reshape(-1)
    assert isinstance(model, PixelRNN)  # the painting panel is PixelRNN's only
    steps = model.fill_pixels(x, full_mask, temperature, generator)
    done, position = 0, 0
    while True:
        with torch.inference_mode():  # per step: the mode must not stay on between yields
            try:
                images = next(steps)
            except StopIteration as stop:
                return stop.value.clamp(0, 1).numpy()
            frame = images.clamp(0, 1).numpy()
        if flat_mask[position]:  # positions outside the mask are not worth a frame
            done += 1
            yield done / todo, frame
            time.sleep(pause)
        position += 1
