"""What only the DCGAN trainer does: sampled reference latents with their decodes, the
adversarial statistics in the log, and its MMD² metric."""

from __future__ import annotations

import torch
from trainer_families import smoke_args, train

from latentlab.modelfile import load_model
from latentlab.models.dcgan import DCGAN, DCGANConfig
from training import dcgan


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


def test_the_validation_samples_are_drawn_on_the_models_device(tmp_path):
    """As the app's jobs (tests/explore/test_on_device.py): with "meta" as the default device,
    a tensor made without ``device=`` lands there and fails against the CPU model, as it would
    against a model on a GPU. Made on the model's device, the samples are those of a plain run.
    (A generator made without a device is a CPU one whatever the default: the trainers' source
    is read for those, test_every_generator_of_the_trainers_names_its_device.)"""
    config = dcgan.parse(smoke_args("dcgan", tmp_path / "unused.safetensors"))
    torch.manual_seed(0)
    model = DCGAN(DCGANConfig(latent_dim=8, ngf=8, ndf=8))
    expected = dcgan.eval_samples(model, 5, config, seed=3)
    with torch.device("meta"):
        assert torch.equal(dcgan.eval_samples(model, 5, config, seed=3), expected)
