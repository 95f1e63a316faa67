"""What each scale of a multi-scale flow holds: keep an image's latent at every level but one,
and draw that one afresh from the prior.

The multi-scale flat latent is the factored-out parts, finest level first, then the top
(RealNVP §3.6, Glow §3 and Fig. 2b; ``latentlab.models.flow.MultiScale``). Every part is
whitened, so its prior is exactly N(0, I); drawing a part at temperature T is T * randn (Glow
§5: z = mu + T sigma eps), and T = 0 gives the part's prior mean (for Glow, the mean of its
level's conditional prior given the coarser levels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from latentlab.explore import ops
from latentlab.models.flow import FlowModel, MultiScale

__all__ = ["FlowLevel", "LevelResamples", "flow_levels", "resample_level", "resample_levels"]


@dataclass(frozen=True)
class FlowLevel:
    """One level's part of the flat latent: ``z[start:stop]``, shaped ``shape`` (C,H,W)."""

    name: str
    shape: tuple[int, int, int]
    start: int
    stop: int


@dataclass
class LevelResamples:
    """An image's latent and, per level, ``count`` latents that redraw only that level."""

    levels: list[FlowLevel]
    latent: np.ndarray  # D: the image's own latent
    latents: np.ndarray  # L, count, D
    images: np.ndarray  # L, count, C,H,W float32 in [0, 1]
    temperature: float


def flow_levels(model: FlowModel) -> list[FlowLevel]:
    """The levels of ``model``'s latent, finest first, the top last; empty for a flow of one
    scale (NICE, or a RealNVP or Glow without splits)."""
    flow = model.flow
    if not isinstance(flow, MultiScale) or len(flow.shapes) < 2:
        return []
    levels, start = [], 0
    last = len(flow.shapes) - 1
    for i, (shape, size) in enumerate(zip(flow.shapes, flow.part_sizes, strict=True)):
        c, h, w = shape
        name = f"level {i + 1}" + (" (top)" if i == last else "")
        levels.append(FlowLevel(name, (c, h, w), start, start + size))
        start += size
    return levels


def resample_level(
    z: np.ndarray, level: FlowLevel, count: int, temperature: float, seed: int
) -> np.ndarray:
    """``count`` copies of the flat latent ``z`` (D,) with ``level``'s part drawn from
    temperature * N(0, I); deterministic for a seed. ``count, D`` float64. Drawn on the CPU
    whatever the model's device: the same latents everywhere, and MPS has no float64."""
    generator = torch.Generator("cpu").manual_seed(seed)
    size = level.stop - level.start
    fresh = temperature * torch.randn(
        count, size, generator=generator, dtype=torch.float64, device="cpu"
    )
    latents = np.repeat(np.asarray(z, dtype=np.float64)[None], count, axis=0)
    latents[:, level.start : level.stop] = fresh.numpy()
    return latents


@torch.inference_mode()
def resample_levels(
    model: FlowModel, image: np.ndarray, count: int = 4, temperature: float = 0.7, seed: int = 0
) -> LevelResamples:
    """Encode ``image`` (C,H,W in [0, 1]) and, for each level in turn, decode ``count``
    latents that redraw that level alone. Raises ValueError for a flow of one scale."""
    levels = flow_levels(model)
    if not levels:
        raise ValueError(f"this {model.family} model has a single scale: no level to resample")
    z = ops.encode(model, image[None])[0]
    latents = np.stack(
        [resample_level(z, level, count, temperature, seed + i) for i, level in enumerate(levels)]
    )  # L, count, D
    images = ops.decode(model, latents.reshape(-1, z.shape[0]))
    return LevelResamples(
        levels, z, latents, images.reshape(len(levels), count, *images.shape[1:]), temperature
    )
