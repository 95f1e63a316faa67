"""The VAE's posterior q(z|x) = N(m, diag(sigma^2)) drawn on the map: its ellipses at one and two
standard deviations in the map's plane (Kingma & Welling 2014, §3: a diagonal Gaussian encoder).

The plane's point of a latent z is (u.(z - o), v.(z - o)), a linear map U^T (z - o) with
U = [u v] (``D, 2``). The image of the Gaussian under it is the Gaussian of mean U^T (m - o) and
covariance U^T diag(sigma^2) U (2x2): for a 2-D latent on its own axes, diag(sigma_1^2, sigma_2^2)
exactly. The k-sigma ellipse is the set of points at Mahalanobis distance k from the mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from latentlab.explore import ops
from latentlab.explore.plane import LatentPlane
from latentlab.models.vae import VAE

__all__ = ["ELLIPSE_SCALES", "PosteriorEllipses", "ellipse_outlines", "posterior_ellipses"]

ELLIPSE_SCALES = (1.0, 2.0)  # standard deviations
_POINTS = 65  # per outline, the last equal to the first (closed)


@dataclass(frozen=True)
class PosteriorEllipses:
    """For ``N`` images: the means of q(z|x) on the plane (``centres``, ``N, 2``), the plane's
    2x2 ``covariances`` (``N, 2, 2``), and closed ``outlines`` (scale in standard deviations ->
    ``N, P, 2`` polylines)."""

    centres: np.ndarray
    covariances: np.ndarray
    outlines: dict[float, np.ndarray]


def ellipse_outlines(
    plane: LatentPlane,
    means: np.ndarray,
    stds: np.ndarray,
    scales: tuple[float, ...] = ELLIPSE_SCALES,
) -> PosteriorEllipses:
    """The ellipses of the diagonal Gaussians N(``means``, diag(``stds``^2)) (``N, D`` each)
    projected on ``plane``."""
    means, stds = np.atleast_2d(means), np.atleast_2d(stds)
    centres, _ = plane.project(means)
    basis = np.stack([plane.u, plane.v], axis=1)  # D, 2
    # U^T diag(s^2) U for every image at once: N, 2, 2
    covariances = np.einsum("di,nd,dj->nij", basis, stds.astype(np.float64) ** 2, basis)
    values, vectors = np.linalg.eigh(covariances)  # N, 2 and N, 2, 2
    # the unit circle mapped by V sqrt(Lambda): points at Mahalanobis distance one
    t = np.linspace(0.0, 2 * np.pi, _POINTS)
    circle = np.stack([np.cos(t), np.sin(t)], axis=1)  # P, 2
    axes = vectors * np.sqrt(np.clip(values, 0.0, None))[:, None, :]  # N, 2, 2 (columns)
    unit = np.einsum("nij,pj->npi", axes, circle)  # N, P, 2
    outlines = {k: centres[:, None, :] + k * unit for k in scales}
    return PosteriorEllipses(centres, covariances, outlines)


@torch.inference_mode()
def posterior_ellipses(
    model: VAE,
    images: np.ndarray,
    plane: LatentPlane,
    scales: tuple[float, ...] = ELLIPSE_SCALES,
) -> PosteriorEllipses:
    """The ellipses of q(z|x) on ``plane`` for each of ``images`` (``N,C,H,W`` in [0, 1])."""
    if len(images) == 0:
        empty = np.zeros((0, plane.dim))
        return ellipse_outlines(plane, empty, empty, scales)
    mu, logvar = model.posterior(ops.model_input(model, images))
    std = ops.to_numpy((0.5 * logvar).exp(), double=True)
    return ellipse_outlines(plane, ops.to_numpy(mu, double=True), std, scales)
