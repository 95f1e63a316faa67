"""The user's own images in latent space: what the model saw of them and where they lie."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["UserImages"]


@dataclass(frozen=True)
class UserImages:
    """``names`` of the files, ``images`` as the model sees them (``N,C,H,W`` in [0, 1]) and their
    flat ``latents`` (``N, D``, float64). Kept as latents; the map projects them on demand."""

    names: tuple[str, ...]
    images: np.ndarray
    latents: np.ndarray

    @classmethod
    def none(cls, image_shape: tuple[int, int, int], latent_dim: int) -> UserImages:
        return cls((), np.zeros((0, *image_shape), np.float32), np.zeros((0, latent_dim)))

    def __len__(self) -> int:
        return len(self.names)

    def plus(self, names: list[str], images: np.ndarray, latents: np.ndarray) -> UserImages:
        """These images followed by more."""
        return UserImages(
            (*self.names, *names),
            np.concatenate([self.images, images.astype(np.float32, copy=False)]),
            np.concatenate([self.latents, np.asarray(latents, dtype=np.float64)]),
        )

    def moved(self, index: int, latent: np.ndarray) -> UserImages:
        """These images with image ``index`` moved to ``latent``."""
        latents = self.latents.copy()
        latents[index] = latent
        return UserImages(self.names, self.images, latents)
