"""What only the DCGAN trainer does: sampled reference latents with their decodes, the
adversarial statistics in the log, and its MMD² metric."""

from __future__ import annotations

import torch
from trainer_families import train

from latentlab.modelfile import load_model


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
