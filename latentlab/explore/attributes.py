"""Attribute directions in latent space, and moving latents along them.

Three ways to find a direction for an attribute from labelled latents:
- the difference of mean latents with and without it (Kingma & Dhariwal, "Glow", 2018, §5.4);
- the normal of a linear classifier's decision boundary (Shen et al., "InterFaceGAN", 2020),
  scaled to the same class separation so that amount 1 means the same for both;
- from two groups of points the user picked: mean of the second minus mean of the first.

Amount 1 along a direction moves a latent by the gap between the two groups' means. A person
reads an edit better against the data: :func:`spread_along` gives the amount that moves a latent
by one standard deviation of the reference latents along the direction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "apply_directions",
    "binarize",
    "classifier_direction",
    "group_direction",
    "mean_difference_direction",
    "spread_along",
    "spreads_along",
]


def binarize(values: np.ndarray) -> np.ndarray:
    """Has-the-attribute flags: binary labels as they are, continuous ones split at the median."""
    values = np.asarray(values, dtype=np.float64)
    if set(np.unique(values)) <= {0.0, 1.0}:
        return values.astype(bool)
    return values > np.median(values)


def _check(latents: np.ndarray, has: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    latents = np.asarray(latents, dtype=np.float64)
    has = np.asarray(has, dtype=bool)
    if latents.ndim != 2 or has.shape != (len(latents),):
        raise ValueError("need latents N,D and one flag per latent")
    if has.all() or not has.any():
        raise ValueError("need latents both with and without the attribute")
    return latents, has


def mean_difference_direction(latents: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Mean latent with the attribute minus mean latent without it (Glow §5.4)."""
    latents, has = _check(latents, has)
    return latents[has].mean(axis=0) - latents[~has].mean(axis=0)


def classifier_direction(latents: np.ndarray, has: np.ndarray, c: float = 1.0) -> np.ndarray:
    """The unit normal of a logistic-regression boundary (InterFaceGAN), scaled by the class
    means' separation along it."""
    from sklearn.linear_model import LogisticRegression  # slow import, needed only here

    latents, has = _check(latents, has)
    classifier = LogisticRegression(C=c, max_iter=2000).fit(latents, has)
    normal = classifier.coef_[0] / np.linalg.norm(classifier.coef_[0])
    gap = (latents[has].mean(axis=0) - latents[~has].mean(axis=0)) @ normal
    return normal * gap


def group_direction(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """From the mean of the first group of latents to the mean of the second."""
    first, second = np.atleast_2d(first), np.atleast_2d(second)
    if len(first) == 0 or len(second) == 0:
        raise ValueError("both groups need at least one point")
    direction = second.mean(axis=0) - first.mean(axis=0)
    if not np.any(direction):
        raise ValueError("the two groups have the same mean; pick different points")
    return direction


def apply_directions(
    z: np.ndarray,
    directions: dict[str, np.ndarray],
    amounts: dict[str, float],
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """``z`` moved by ``amounts[name]`` along each named direction, only in the latent
    dimensions where ``mask`` is true (for example the coarse scales of a multi-scale flow)."""
    z = np.array(z, dtype=np.float64)
    for name, amount in amounts.items():
        if amount:
            step = amount * np.asarray(directions[name], dtype=np.float64)
            z += step if mask is None else np.where(mask, step, 0.0)
    return z


def spread_along(latents: np.ndarray | None, direction: np.ndarray) -> float:
    """The amount along ``direction`` that moves a latent by one standard deviation of
    ``latents`` (``N, D``) projected on it; 1.0 without latents or spread to measure."""
    return spreads_along(latents, [direction])[0]


def spreads_along(latents: np.ndarray | None, directions: Sequence[np.ndarray]) -> list[float]:
    """:func:`spread_along` of each of ``directions``, projected all at once in the latents'
    own precision: a float64 copy of a Glow's 2,000 x 3,072 reference latents per direction
    took 150 ms for nine directions, on the GUI thread at each model opened."""
    if not directions:
        return []
    matrix = np.stack([np.asarray(d, dtype=np.float64) for d in directions], axis=1)  # D, K
    norms = np.linalg.norm(matrix, axis=0)
    if latents is None or len(latents) < 2:
        return [1.0] * len(norms)
    latents = np.asarray(latents)
    precision = latents.dtype if latents.dtype in (np.float32, np.float64) else np.float64
    units = matrix / np.where(norms > 0, norms, 1.0)
    spreads = (latents.astype(precision, copy=False) @ units.astype(precision)).std(
        axis=0, dtype=np.float64
    )
    return [
        float(spread / norm) if norm > 0 and spread > 0 and np.isfinite(spread) else 1.0
        for spread, norm in zip(spreads, norms, strict=True)
    ]
