"""Scores of a set of samples from a judge's outputs.

- Frechet distance (FID-style, Heusel et al. 2017) between Gaussian fits of judge features:
  ``|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))``.
- Inception-style score (Salimans et al. 2016): ``exp(E_x KL(p(y|x) || p(y)))`` with p(y) the
  mean prediction over the set; 1 when every prediction is the same, at most the number of
  classes when predictions are confident and the classes balanced. Computed on the whole set
  at once (no splits).
- Gap closed: where a sampler's distance lies between a baseline's (0) and real data's (1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "GaussianFit",
    "frechet_distance",
    "gap_closed",
    "gaussian_fit",
    "gaussian_pixels",
    "inception_score",
]


@dataclass(frozen=True)
class GaussianFit:
    """Mean ``D`` and covariance ``D, D`` (float64) of a set of feature vectors."""

    mean: np.ndarray
    covariance: np.ndarray


def gaussian_fit(features: np.ndarray) -> GaussianFit:
    """The mean and the (unbiased) covariance of ``features``, ``N, D`` with N >= 2."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"expected at least 2 feature vectors N, D; got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values")
    return GaussianFit(x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False)))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix. Eigenvalues
    that rounding made slightly negative count as zero."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(a: GaussianFit, b: GaussianFit) -> float:
    """The squared Frechet (2-Wasserstein) distance between two Gaussians.

    tr((S_a S_b)^(1/2)) is computed as the sum of the square roots of the eigenvalues of the
    symmetric PSD matrix S_a^(1/2) S_b S_a^(1/2), which has the same eigenvalues as S_a S_b.
    This stays real and exact for singular covariances (fewer samples than features), where a
    general matrix square root of S_a S_b can turn complex.
    """
    if a.mean.shape != b.mean.shape:
        raise ValueError(f"feature sizes differ: {a.mean.shape} and {b.mean.shape}")
    root_a = _psd_sqrt(a.covariance)
    inner = root_a @ b.covariance @ root_a
    inner = (inner + inner.T) / 2  # symmetric up to rounding; eigvalsh reads one triangle
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh(inner), 0, None)).sum()
    shift = float(np.sum((a.mean - b.mean) ** 2))
    spread = float(np.trace(a.covariance) + np.trace(b.covariance) - 2 * trace_root)
    return max(shift + spread, 0.0)  # rounding can leave -1e-12 for identical fits


def inception_score(probabilities: np.ndarray) -> float:
    """exp(mean KL(p(y|x) || p(y))) for class probabilities ``N, K`` (rows sum to 1)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError(f"expected probabilities N, K; got shape {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any() or not np.allclose(p.sum(axis=1), 1, atol=1e-4):
        raise ValueError("each row of probabilities must be non-negative and sum to 1")
    marginal = p.mean(axis=0)
    positive = p > 0  # 0 log 0 = 0; where p > 0 the marginal is positive too
    log_ratio = np.log(np.where(positive, p, 1)) - np.log(np.where(positive, marginal, 1))
    kl = np.where(positive, p * log_ratio, 0).sum(axis=1)
    return float(np.exp(kl.mean()))


def gap_closed(distance: float, real: float, baseline: float) -> float:
    """1 - (distance - real) / (baseline - real): 1 for as good as real data, 0 for as good
    as the baseline, negative for worse; NaN when the baseline is no worse than real data."""
    gap = baseline - real
    if not gap > 0:
        return float("nan")
    return 1 - (distance - real) / gap


def gaussian_pixels(images: np.ndarray, levels: int, n: int, seed: int) -> np.ndarray:
    """The baseline of "gap closed": ``n`` samples, float32 in [0, 1], of independent per-pixel
    Gaussians fitted on ``images`` (integer levels ``N,C,H,W``), clipped to [0, 1]."""
    scale = levels - 1
    mean = images.mean(axis=0, dtype=np.float64) / scale
    std = images.std(axis=0, dtype=np.float64) / scale
    noise = np.random.default_rng(seed).standard_normal((n, *mean.shape))
    return np.clip(mean + std * noise, 0, 1).astype(np.float32)
