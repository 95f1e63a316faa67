"""The pytorch/examples VAE imported into LatentLab's VAE family (mlp, bernoulli), and that
family's variants themselves."""

from __future__ import annotations

import json

import pytest
import safetensors
import safetensors.torch
import torch
import torch.nn.functional as F
from foreign import examples_vae, save_state
from helpers import write_tiny_vae

from latentlab.importers import import_checkpoint
from latentlab.modelfile import build_metadata, load_model, save_model
from latentlab.models.base import config_from_dict, config_to_dict, to_levels
from latentlab.models.vae import VAE, VAEConfig


def mnist_like(n: int = 5) -> torch.Tensor:
    """Grey images on the 256-level grid, ``N, 1, 28, 28``."""
    generator = torch.Generator().manual_seed(2)
    return torch.randint(0, 256, (n, 1, 28, 28), generator=generator) / 255


@pytest.mark.parametrize(("latent", "hidden"), [(2, 32), (20, 400)])
def test_the_import_decodes_and_encodes_as_the_original(tmp_path, latent, hidden):
    net = examples_vae(latent, hidden)
    model = import_checkpoint(save_state(tmp_path / "vae.pth", net)).model
    assert isinstance(model, VAE) and not model.training
    c = model.config
    assert (c.architecture, c.likelihood, c.latent_dim, c.dense) == (
        "mlp",
        "bernoulli",
        latent,
        hidden,
    )
    assert model.image_shape == (1, 28, 28) and model.levels == 256
    z = torch.randn(6, latent, generator=torch.Generator().manual_seed(1))
    x = mnist_like()
    with torch.no_grad():
        decoded = model.decode(z)
        assert decoded.shape == (6, 1, 28, 28)
        assert (decoded.flatten(1) - net.decode(z)).abs().max().item() < 1e-4
        mu, logvar = model.posterior(x)
        expected_mu, expected_logvar = net.encode(x)
        assert (model.encode(x) - net.fc21(F.relu(net.fc1(x.flatten(1))))).abs().max() < 1e-4
        assert (mu - expected_mu).abs().max().item() < 1e-4
        assert (logvar - expected_logvar).abs().max().item() < 1e-4


def test_module_prefixed_keys_import(tmp_path):
    net = examples_vae(2, 32)
    model = import_checkpoint(save_state(tmp_path / "dp.pth", net, prefix="module.")).model
    z = torch.randn(3, 2)
    with torch.no_grad():
        assert (model.decode(z).flatten(1) - net.decode(z)).abs().max().item() < 1e-4


def test_the_likelihood_is_the_originals_bernoulli_on_grey_values(tmp_path):
    net = examples_vae(2, 32)
    loaded = import_checkpoint(save_state(tmp_path / "vae.pth", net))
    model, x = loaded.model, mnist_like()
    z = torch.randn(len(x), 2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours = model.log_likelihood(to_levels(x, 256), z)
        theirs = -F.binary_cross_entropy(net.decode(z), x.flatten(1), reduction="none").sum(1)
        assert ours == pytest.approx(theirs, rel=1e-4)
        torch.manual_seed(0)
        bound = model.log_prob(x, samples=8)
    assert torch.isfinite(bound).all() and (bound < 0).all()
    note = loaded.meta["training"]["note"]
    assert "Bernoulli on grey values" in note and "bits/dim" in note


def test_saved_and_loaded_again_it_decodes_the_same(tmp_path):
    loaded = import_checkpoint(save_state(tmp_path / "vae.pth", examples_vae(2, 32)))
    out = tmp_path / "vae.safetensors"
    save_model(out, loaded.model, loaded.meta, reference=loaded.reference)
    again = load_model(out)
    assert again.model.config == loaded.model.config
    z = torch.randn(4, 2)
    with torch.no_grad():
        assert torch.equal(again.model.decode(z), loaded.model.decode(z))


@pytest.mark.parametrize("architecture", ["conv", "mlp"])
@pytest.mark.parametrize("likelihood", ["categorical", "bernoulli"])
def test_every_variant_samples_scores_and_round_trips(tmp_path, architecture, likelihood):
    torch.manual_seed(0)
    config = VAEConfig(
        latent_dim=3, hidden=4, dense=8, architecture=architecture, likelihood=likelihood
    )
    model = VAE(config).eval()
    x = torch.randint(0, 17, (4, 1, 8, 8)) / 16
    with torch.no_grad():
        images = model.sample(4)
        bound = model.log_prob(x, samples=4)
    assert images.shape == (4, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    assert bound.shape == (4,) and torch.isfinite(bound).all()
    path = tmp_path / "variant.safetensors"
    save_model(path, model, build_metadata(model, {"name": "digits"}, {}))
    assert load_model(path).model.config == config


def test_configs_and_files_from_before_the_variants_are_conv_and_categorical(tmp_path):
    values = config_to_dict(VAEConfig(latent_dim=3))
    del values["architecture"], values["likelihood"]
    assert config_from_dict(VAEConfig, values) == VAEConfig(latent_dim=3)
    path = write_tiny_vae(tmp_path / "new.safetensors")
    with safetensors.safe_open(path, "pt") as f:
        meta = json.loads(f.metadata()["latentlab"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iter)
    del meta["config"]["architecture"], meta["config"]["likelihood"]
    old = tmp_path / "old.safetensors"
    safetensors.torch.save_file(tensors, old, metadata={"latentlab": json.dumps(meta)})
    loaded, new = load_model(old), load_model(path)
    assert loaded.model.config == new.model.config
    assert (loaded.model.config.architecture, loaded.model.config.likelihood) == (
        "conv",
        "categorical",
    )
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded.model.encode(x), new.model.encode(x))
