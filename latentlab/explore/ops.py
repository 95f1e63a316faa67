"""Model operations the app's worker and the CLI run: numpy in, numpy out, no Qt.

Each function takes the model first; all run under ``torch.inference_mode()``.
"""

from __future__ import annotations

import numpy as np
import torch

from latentlab.models import GenerativeModel

__all__ = ["decode", "encode", "sample"]


@torch.inference_mode()
def decode(model: GenerativeModel, z: np.ndarray) -> np.ndarray:
    """Images ``N,C,H,W`` float32 in [0, 1] for flat latents ``N, D``."""
    zt = torch.as_tensor(np.atleast_2d(z), dtype=torch.float32)
    return model.decode(zt).clamp(0, 1).numpy()


@torch.inference_mode()
def encode(model: GenerativeModel, images: np.ndarray) -> np.ndarray:
    """Flat latents ``N, D`` (float64) for float images ``N,C,H,W`` in [0, 1]."""
    return model.encode(torch.as_tensor(images, dtype=torch.float32)).double().numpy()


@torch.inference_mode()
def sample(
    model: GenerativeModel, n: int, temperature: float = 1.0, seed: int = 0
) -> tuple[np.ndarray | None, np.ndarray]:
    """``n`` samples as (flat latents or None, images); deterministic for a seed."""
    generator = torch.Generator().manual_seed(seed)
    if model.latent_dim is None:
        return None, model.sample(n, temperature, generator).clamp(0, 1).numpy()
    z = model.sample_latent(n, temperature, generator)
    return z.double().numpy(), model.decode(z).clamp(0, 1).numpy()
