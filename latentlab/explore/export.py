"""Saving walks through latent space: a PNG strip or an animated GIF."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import numpy as np
import torch

from latentlab.data.images import save_gif, save_png
from latentlab.explore.images import image_grid, to_uint8_hwc
from latentlab.explore.ops import decode_path
from latentlab.modelfile import LoadedModel, save_model
from latentlab.models import GenerativeModel

__all__ = ["enlarge", "export_walk", "save_model_copy", "save_walk"]


def enlarge(images: np.ndarray, scale: int | None = None) -> np.ndarray:
    """Nearest-neighbour enlargement of ``N,C,H,W`` images; ``None`` picks a scale that makes
    small images visible (4 for 8x8, 1 from 32x32)."""
    if scale is None:
        scale = max(1, 32 // max(images.shape[2:]))
    return images.repeat(scale, axis=2).repeat(scale, axis=3)


def save_walk(path: Path, images: np.ndarray, frame_ms: int = 100, scale: int | None = None) -> str:
    """Write ``images`` (``N,C,H,W`` in [0, 1]) as a strip (.png) or an animation (.gif);
    returns what was written, in words."""
    path = Path(path)
    images = enlarge(images, scale)
    if path.suffix.lower() == ".gif":
        save_gif(path, list(to_uint8_hwc(images)), frame_ms)
        return f"an animation of {len(images)} frames to {path}"
    save_png(path, image_grid(images, columns=len(images)))
    return f"a strip of {len(images)} images to {path}"


def export_walk(
    model: GenerativeModel,
    latents: np.ndarray,
    path: Path,
    frame_ms: int = 100,
    scale: int | None = None,
) -> Generator[float, None, str]:
    """A long job: decode the walk ``latents`` with progress, then save it (see
    :func:`save_walk`)."""
    images = yield from decode_path(model, latents)
    return save_walk(path, images, frame_ms, scale)


def save_model_copy(
    model: GenerativeModel, loaded: LoadedModel, path: Path, directions: dict[str, np.ndarray]
) -> str:
    """Write a copy of the open model file to ``path`` with ``directions`` as its attribute
    directions (the model's weights, metadata and reference set unchanged)."""
    path = Path(path)
    if loaded.path is not None and path.resolve() == loaded.path.resolve():
        raise ValueError(f"{path.name}: choose a new file; the open model file stays as it is")
    meta = dict(loaded.meta)
    meta["dataset"] = {**meta["dataset"], "attribute_names": sorted(directions)}
    attributes = {
        k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in directions.items()
    }
    save_model(path, model, meta, attributes=attributes, reference=loaded.reference)
    return f"a copy of {loaded.name} with {len(directions)} direction(s) to {path}"
