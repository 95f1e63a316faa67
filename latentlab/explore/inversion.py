"""Encoding an image into a GAN's latent space by optimisation, as a long job."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import torch

from latentlab.explore import ops
from latentlab.models import GenerativeModel
from latentlab.models.dcgan import DCGAN

__all__ = ["Inversion", "invert_image"]


@dataclass
class Inversion:
    """The latent found for an image, its decode and their mean squared error (in [0, 1]²)."""

    latent: np.ndarray  # D
    image: np.ndarray  # C, H, W
    mse: float


def invert_image(
    model: GenerativeModel, image: np.ndarray, steps: int = 200, seed: int = 0
) -> Generator[tuple[float, float], None, Inversion]:
    """A long job: the latent whose decode is closest to ``image`` (``C,H,W`` in [0, 1]),
    yielding ``(fraction, current mean squared error)`` after every optimisation step."""
    if image.shape != model.image_shape:
        raise ValueError(
            f"expected an image {'x'.join(map(str, model.image_shape))}, got "
            f"{'x'.join(map(str, image.shape))}"
        )
    assert isinstance(model, DCGAN)  # the inversion panel is DCGAN's only
    x = ops.model_input(model, image)[None]
    z, mse = yield from model.invert(x, steps=steps, generator=ops.model_generator(model, seed))
    with torch.inference_mode():
        decoded = model.decode(z).clamp(0, 1)
    return Inversion(ops.to_numpy(z[0], double=True), ops.to_numpy(decoded[0]), float(mse[0]))
