"""Autoregressive painting: fill the masked pixels of an image one at a time, several
completions side by side, as a long job whose partial results can be watched (PixelRNN): each
shows the completions so far and the distribution over levels the pixel just drawn came from,
p(x_i | x_<i) (van den Oord et al. 2016, §2). A :class:`Pace`, set from any thread, says how fast
the job goes: one pixel per request, slowly, or fast."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import torch

from latentlab.explore import ops
from latentlab.models import GenerativeModel
from latentlab.models.pixelrnn import PixelRNN

__all__ = ["MASK_PRESETS", "PACE_MODES", "Pace", "PaintStep", "mask_preset", "paint"]

MASK_PRESETS = ("all", "bottom half", "right half", "centre", "none")
PACE_MODES = ("step", "slow", "fast")
SLOW_PIXEL_S = 0.4  # slow: long enough to read each pixel's distribution
WAIT_SLICE_S = 0.02  # a held-back painting yields this often: to be cancelled, or let work run


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


@dataclass(frozen=True)
class PaintStep:
    """A painting's partial result, after the pixel at ``position`` (row, column) was drawn:
    the ``images`` so far (``N,C,H,W`` in [0, 1]), the distribution over levels each sub-pixel
    of that pixel was drawn from (``probabilities``, ``N,C,levels``, each row summing to one)
    and the ``levels`` drawn (``N,C``)."""

    images: np.ndarray
    position: tuple[int, int]
    probabilities: np.ndarray
    levels: np.ndarray


class Pace:
    """How fast a painting goes: ``"step"`` (one pixel per :meth:`step`), ``"slow"`` (one every
    ``slow_s`` seconds) or ``"fast"`` (the pause the painting asks for). Set from the GUI
    thread, waited on by the painting job on the worker thread."""

    def __init__(self, mode: str = "fast", slow_s: float = SLOW_PIXEL_S) -> None:
        self._changed = threading.Condition()
        self._mode, self.slow_s = "fast", slow_s
        self._steps = 0  # pixels requested in step mode and not drawn yet
        self._last = 0.0  # when the last pixel was let through (time.monotonic)
        self.set_mode(mode)

    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        if mode not in PACE_MODES:
            raise ValueError(f"unknown pace {mode!r} (known: {', '.join(PACE_MODES)})")
        with self._changed:
            self._mode = mode
            self._changed.notify_all()

    def step(self) -> None:
        """Let one more pixel be drawn in step mode."""
        with self._changed:
            self._steps += 1
            self._changed.notify_all()

    def _due(self, fast_s: float) -> float | None:
        """When the next pixel may be drawn (``time.monotonic``); None until a step is asked."""
        if self._mode == "step":
            return 0.0 if self._steps else None
        return self._last + (self.slow_s if self._mode == "slow" else fast_s)

    def next_pixel(self, fast_s: float, timeout_s: float = WAIT_SLICE_S) -> bool:
        """Wait until the next pixel may be drawn (``fast_s`` after the last one in fast mode);
        False if ``timeout_s`` passed first: the caller yields, so that its job can be
        cancelled, and asks again."""
        give_up = time.monotonic() + timeout_s
        with self._changed:
            while True:
                now, due = time.monotonic(), self._due(fast_s)
                if due is not None and now >= due:
                    break
                if now >= give_up:
                    return False
                self._changed.wait(min(give_up, give_up if due is None else due) - now)
            if self._mode == "step":
                self._steps -= 1
            self._last = now
            return True


def paint(
    model: GenerativeModel,
    image: np.ndarray,
    mask: np.ndarray,
    n: int = 4,
    temperature: float = 1.0,
    seed: int = 0,
    seconds: float = 0.0,
    pace: Pace | None = None,
) -> Generator[tuple[float, PaintStep] | None, None, np.ndarray]:
    """A long job: ``n`` completions of ``image`` (``C,H,W`` in [0, 1]) where ``mask`` (``H,W``)
    is True, pixel by pixel in raster order. Yields ``(fraction, PaintStep)`` after each masked
    pixel (and None while ``pace`` holds it back) and returns the finished images;
    pixels outside the mask are never changed. ``seconds`` spreads the painting over about that
    long, so that it can be watched; ``pace`` (fast by default) may slow it down or step it."""
    c, h, w = model.image_shape
    if image.shape != (c, h, w) or mask.shape != (h, w):
        raise ValueError(
            f"expected an image {c}x{h}x{w} and a mask {h}x{w}, got "
            f"{'x'.join(map(str, image.shape))} and {'x'.join(map(str, mask.shape))}"
        )
    todo = int(mask.sum())
    if todo == 0:
        raise ValueError("the mask is empty: paint over the pixels to be filled first")
    pace = pace or Pace()
    x = ops.model_input(model, image).expand(n, c, h, w).clone()
    full_mask = ops.model_input(model, mask, dtype=None).expand(n, c, h, w).clone()
    generator = ops.model_generator(model, seed)
    probabilities = np.zeros((n, c, model.levels))
    levels = np.zeros((n, c), dtype=np.int64)

    def observe(index: tuple[int, int, int], p: torch.Tensor, level: torch.Tensor) -> None:
        probabilities[:, index[0]], levels[:, index[0]] = ops.to_numpy(p), ops.to_numpy(level)

    assert isinstance(model, PixelRNN)  # the painting panel is PixelRNN's only
    steps = model.fill_pixels(x, full_mask, temperature, generator, observe)
    done, position = 0, 0
    while True:
        masked = position < h * w and bool(mask.flat[position])
        while masked and not pace.next_pixel(seconds / todo):
            yield None  # held back: the worker may cancel it or run other work meanwhile
        with torch.inference_mode():  # per step: the mode must not stay on between yields
            try:
                images = next(steps)
            except StopIteration as stop:
                return ops.to_numpy(stop.value.clamp(0, 1))
            frame = ops.to_numpy(images.clamp(0, 1))
        if masked:  # positions outside the mask are not worth a frame
            done += 1
            where = divmod(position, w)
            yield done / todo, PaintStep(frame, where, probabilities.copy(), levels.copy())
        position += 1
