"""The pixel-kernel MMD of latentlab.metrics.mmd."""

import pytest
import torch

from latentlab.metrics.mmd import median_distance, mmd2


def test_mmd_tells_one_distribution_from_another():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(300, 1, 8, 8, generator=g), torch.rand(300, 1, 8, 8, generator=g)
    shifted = torch.rand(300, 1, 8, 8, generator=g) * 0.8 + 0.2
    scale = median_distance(a)
    same, different = mmd2(a, b, scale), mmd2(a, shifted, scale)
    assert abs(same) < 0.01 < different
    assert mmd2(a, shifted, scale) == pytest.approx(mmd2(shifted, a, scale))
