from __future__ import annotations

import math

import pytest
import torch

from latentlab.data import load_digits_split
from latentlab.models.base import bits_per_dim
from latentlab.models.vae import VAE, VAEConfig


@pytest.fixture(scope="module")
def digits():
    split = load_digits_split()
    return torch.from_numpy(split.train.as_float()[:64])


def test_the_prior_scales_with_temperature():
    model = VAE(VAEConfig(latent_dim=16, hidden=8, dense=32)).eval()
    assert model.sample_latent(1000, 0.5).std().item() == pytest.approx(0.5, rel=0.1)


def test_untrained_likelihood_is_near_uniform(digits):
    """A fresh decoder predicts nearly uniform levels: about log(17) nats per sub-pixel."""
    model = VAE(VAEConfig(hidden=8, dense=32)).eval()
    torch.manual_seed(0)
    nll = -model.log_prob(digits, samples=16).mean().item()
    assert bits_per_dim(nll, model.image_shape) == pytest.approx(math.log2(17), rel=0.05)


def test_iwae_bound_is_tighter_than_elbo_and_k1_is_the_elbo(digits):
    torch.manual_seed(0)
    model = VAE(VAEConfig(hidden=8, dense=32))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):  # a little training so q and p differ from their init
        rec, kl = model(digits)
        loss = (kl - rec).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        torch.manual_seed(1)
        elbo = torch.stack([model.elbo(digits) for _ in range(200)]).mean(0)
        torch.manual_seed(1)
        k1 = torch.stack([model.log_prob(digits, samples=1) for _ in range(200)]).mean(0)
        k64 = model.log_prob(digits, samples=64)
    assert k1.mean().item() == pytest.approx(elbo.mean().item(), abs=0.5)
    assert (k64.mean() > elbo.mean()).item()
    assert torch.isfinite(k64).all()


def test_kl_is_closed_form():
    model = VAE(VAEConfig(hidden=4, dense=8))
    x = torch.rand(3, 1, 8, 8)
    mu, logvar = model.posterior(x)
    _, kl = model.elbo_terms(x)
    var = logvar.exp()
    expected = 0.5 * (mu**2 + var - torch.log(var) - 1).sum(1)
    torch.testing.assert_close(kl, expected)


def test_config_rejects_sizes_the_architecture_cannot_take():
    from latentlab.models.base import ConfigError, config_from_dict, config_to_dict

    values = config_to_dict(VAEConfig())
    values["height"] = 10
    with pytest.raises(ConfigError, match="multiples of 4"):
        config_from_dict(VAEConfig, values)
