"""Paths between two latents."""

from __future__ import annotations

import numpy as np

__all__ = ["interpolation_path"]


def interpolation_path(
    a: np.ndarray, b: np.ndarray, steps: int, spherical: bool = False
) -> np.ndarray:
    """``steps`` latents from ``a`` to ``b`` inclusive, linearly or along a great circle.

    Spherical interpolation (Shoemake's slerp, as used by White, "Sampling Generative Networks",
    2016) keeps intermediate points at the typical norm of a Gaussian latent, where linear paths
    pass through the unlikely region near the origin. Norms are interpolated linearly.
    """
    if steps < 2:
        raise ValueError("an interpolation needs at least 2 steps")
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if not spherical:
        return (1 - t) * a + t * b
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-12 or nb < 1e-12:
        return (1 - t) * a + t * b
    cos = np.clip((a @ b) / (na * nb), -1.0, 1.0)
    omega = np.arccos(cos)
    if omega < 1e-6:
        return (1 - t) * a + t * b
    direction = (np.sin((1 - t) * omega) * a / na + np.sin(t * omega) * b / nb) / np.sin(omega)
    return direction * ((1 - t) * na + t * nb)
