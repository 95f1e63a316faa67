"""What only the DCGAN trainer does: sampled reference latents with their decodes, the
adversarial statistics in the log, and its MMD² metric."""

from __future__ import annotations

import pytest
import torch
from trainer_families import train

from latentlab.modelfile import load_model
from training import dcgan as train_dcgan


def test_reference_set_is_sampled_latents_and_their_decodes(tmp_path, capsys):
    out = tmp_path / "smoke.safetensors"
    assert train("dcgan", out) == 0
    loaded = load_model(out)
    metric = loaded.meta["training"]["test_metric"]
    assert "MMD²" in metric["name"] and metric["value"] > 0  # two epochs: far from the data
    reference = loaded.reference
    assert reference.labels is None
    with torch.no_grad():
        images = loaded.model.decode(reference.latents)
    torch.testing.assert_close(reference.images, (images * 255).round().to(torch.uint8))
    err = capsys.readouterr().err
    assert "D_x=" in err and "D_G_z=" in err and "nearest training image" in err


def test_mmd_tells_one_distribution_from_another():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(300, 1, 8, 8, generator=g), torch.rand(300, 1, 8, 8, generator=g)
    shifted = torch.rand(300, 1, 8, 8, generator=g) * 0.8 + 0.2
    scale = train_dcgan.median_distance(a)
    same, different = train_dcgan.mmd2(a, b, scale), train_dcgan.mmd2(a, shifted, scale)
    assert abs(same) < 0.01 < different
    assert train_dcgan.mmd2(a, shifted, scale) == pytest.approx(train_dcgan.mmd2(shifted, a, scale))
