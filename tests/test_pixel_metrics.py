"""The pixel-space metrics of latentlab.metrics.mmd and latentlab.metrics.manifold."""

import pytest
import torch

from latentlab.metrics.manifold import precision_recall
from latentlab.metrics.mmd import median_distance, mmd2


def test_mmd_tells_one_distribution_from_another():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(300, 1, 8, 8, generator=g), torch.rand(300, 1, 8, 8, generator=g)
    shifted = torch.rand(300, 1, 8, 8, generator=g) * 0.8 + 0.2
    scale = median_distance(a)
    same, different = mmd2(a, b, scale), mmd2(a, shifted, scale)
    assert abs(same) < 0.01 < different
    assert mmd2(a, shifted, scale) == pytest.approx(mmd2(shifted, a, scale))


def test_precision_counts_samples_like_real_images_and_recall_the_variety_reached():
    g = torch.Generator().manual_seed(0)
    real, same = torch.rand(400, 1, 4, 4, generator=g), torch.rand(400, 1, 4, 4, generator=g)
    precision, recall = precision_recall(real, same)
    assert precision > 0.8 and recall > 0.8
    narrow = 0.5 + (torch.rand(400, 1, 4, 4, generator=g) - 0.5) * 0.3  # a corner of the range
    precision, recall = precision_recall(real, narrow)
    assert precision > 0.8 and recall < 0.3
    far = torch.rand(400, 1, 4, 4, generator=g) + 2  # nothing like the real images
    assert precision_recall(real, far) == (0.0, 0.0)
    with pytest.raises(ValueError, match="more than k"):
        precision_recall(real[:3], same)


def test_the_metrics_make_their_tensors_on_the_images_device():
    """As the app's jobs (tests/explore/test_on_device.py): with "meta" as the default device, a
    tensor made without ``device=`` lands there and fails against the CPU images, as it failed
    against a GPU's (MMD's kernel widths did, validating a DCGAN trained on an H200)."""
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(60, 1, 4, 4, generator=g), torch.rand(50, 1, 4, 4, generator=g)

    def metrics():
        scale = median_distance(a)
        return scale, mmd2(a, b, scale), precision_recall(a, b, k=3)

    expected = metrics()
    with torch.device("meta"):
        assert metrics() == expected
