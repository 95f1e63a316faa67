"""Precision and recall of a set of samples against real images (Kynkäänniemi et al., "Improved
Precision and Recall Metric for Assessing Generative Models", NeurIPS 2019), computed on the
vectors given: a judge's features of the images (benchmarks/faces_samples.py). On raw pixels
it misleads: a blurry sample is near many real images, and counted as one of them.

Each set stands for its distribution's support as the union of balls around its vectors, each
ball reaching the vector's k-th nearest neighbour in the set. Precision is the fraction of
samples inside the real images' balls (how many samples look like some real image: fidelity);
recall the fraction of real images inside the samples' balls (how much of the real variety the
samples reach). Unlike a distance between distributions, precision does not punish a sampler
for drawing fewer kinds of images, as a flow at a temperature below 1 does.
"""

from __future__ import annotations

import torch

__all__ = ["precision_recall"]


def _radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """The distance from each row of ``x`` to its k-th nearest other row."""
    return torch.cdist(x, x).kthvalue(k + 1, dim=1).values  # the first is the row itself


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> float:
    """The fraction of ``points`` within the ball of some centre."""
    return (torch.cdist(points, centres) <= radii[None, :]).any(dim=1).double().mean().item()


def precision_recall(real: torch.Tensor, samples: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of ``samples`` against ``real`` (``N, ...`` each, N > k; each row
    flattened to one vector)."""
    if min(len(real), len(samples)) <= k:
        raise ValueError(f"each set needs more than k = {k} images")
    x, y = real.flatten(1).double(), samples.flatten(1).double()
    return _inside(y, x, _radii(x, k)), _inside(x, y, _radii(y, k))
