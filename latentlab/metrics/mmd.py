"""The kernel maximum mean discrepancy between two sets of images, on raw pixels.

Used to select and score GANs (which have no likelihood) and to compare samplers of the same
images (benchmarks/faces_samples.py).
"""

from __future__ import annotations

import torch

__all__ = ["median_distance", "mmd2"]


def median_distance(x: torch.Tensor) -> float:
    """Median pairwise Euclidean distance of images ``x`` (the kernel-width heuristic)."""
    d = torch.cdist(x.flatten(1).double(), x.flatten(1).double())
    pairs = torch.triu_indices(len(x), len(x), offset=1, device=d.device)
    return d[pairs.unbind()].median().item()


def mmd2(x: torch.Tensor, y: torch.Tensor, scale: float) -> float:
    """Unbiased estimate of the squared maximum mean discrepancy between the distributions of
    images ``x`` and ``y`` (Gretton et al., "A Kernel Two-Sample Test", JMLR 2012, eq. 3),
    with the sum of Gaussian kernels of widths scale/2, scale and 2*scale on raw pixels.
    0 in expectation when both come from one distribution; may then be slightly negative."""
    x, y = x.flatten(1).double(), y.flatten(1).double()

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d2 = torch.cdist(a, b).square()
        widths = torch.tensor([0.5, 1.0, 2.0], dtype=d2.dtype, device=d2.device) * scale
        return torch.exp(-d2[..., None] / (2 * widths**2)).sum(-1)

    def mean_off_diagonal(k: torch.Tensor) -> torch.Tensor:
        n = len(k)
        return (k.sum() - k.diagonal().sum()) / (n * (n - 1))

    value = (
        mean_off_diagonal(kernel(x, x)) + mean_off_diagonal(kernel(y, y)) - 2 * kernel(x, y).mean()
    )
    return value.item()
