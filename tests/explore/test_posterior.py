"""The VAE's ELBO split and the KL of each latent dimension."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import make_tiny_vae, run_to_end

from latentlab.explore.posterior import (
    IN_USE_KL_NATS,
    posterior_report,
    reference_kl_per_dim,
)
from latentlab.models.base import bits_per_dim


def report_with_reference(model, image, images):
    _, kl = run_to_end(reference_kl_per_dim(model, images))
    return posterior_report(model, image, kl)


def test_the_report_adds_up_and_follows_its_seed():
    model = make_tiny_vae(latent_dim=4, seed=3).eval()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 17, size=(10, 1, 8, 8)) / 16
    report = report_with_reference(model, images[0], images)
    x = torch.from_numpy(images[:1]).float()
    with torch.no_grad():
        mu, logvar = model.posterior(x)
        closed_form_kl = model.elbo_terms(x)[1].item()  # its KL does not depend on the draw
    assert report.kl == pytest.approx(closed_form_kl, rel=1e-5)
    assert report.kl == pytest.approx(report.kl_per_dim.sum(), rel=1e-6)
    np.testing.assert_allclose(report.mean, mu[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(report.std, (0.5 * logvar[0]).exp().numpy(), rtol=1e-6)
    assert report.reference_kl_per_dim.shape == (4,) and (report.reference_kl_per_dim >= 0).all()
    again = posterior_report(model, images[0])
    assert again.reconstruction == report.reconstruction  # the same draws for the same seed
    assert posterior_report(model, images[0], seed=1).reconstruction != report.reconstruction
    with torch.no_grad():  # Monte Carlo ELBO close to a 4096-draw estimate of it
        many = np.mean([model.elbo(x).item() for _ in range(4096)])
    assert report.elbo == pytest.approx(many, abs=0.05 * abs(many))
    assert posterior_report(model, images[0]).reference_kl_per_dim is None


def test_the_reference_kl_is_the_mean_kl_of_the_reference_images_found_in_chunks():
    model = make_tiny_vae(latent_dim=4, seed=3).eval()
    images = np.random.default_rng(0).integers(0, 17, size=(10, 1, 8, 8)) / 16
    fractions, kl = run_to_end(reference_kl_per_dim(model, images, chunk=4))
    assert fractions == [0.4, 0.8, 1.0]  # one step per chunk: a cancel waits for one at most
    each = [posterior_report(model, image).kl_per_dim for image in images]
    np.testing.assert_allclose(kl, np.mean(each, axis=0), rtol=1e-5)
    with pytest.raises(ValueError, match="empty"):
        run_to_end(reference_kl_per_dim(model, images[:0]))


def test_bits_per_dim_and_the_dimensions_in_use():
    model = make_tiny_vae(latent_dim=4, seed=3).eval()
    images = np.random.default_rng(0).integers(0, 17, size=(10, 1, 8, 8)) / 16
    report = report_with_reference(model, images[0], images)
    assert report.bits_per_dim == bits_per_dim(-report.elbo, (1, 8, 8))
    report.reference_kl_per_dim = np.array([0.0, IN_USE_KL_NATS, 2 * IN_USE_KL_NATS, 5.0])
    assert report.dimensions_in_use == 2  # above the threshold, not at it
    assert posterior_report(model, images[0]).dimensions_in_use is None


def test_draws_are_the_reparameterisation_of_the_posterior():
    from latentlab.explore.posterior import posterior_draws

    model = make_tiny_vae(latent_dim=3, seed=1).eval()
    image = np.random.default_rng(2).integers(0, 17, size=(1, 8, 8)) / 16
    draws = posterior_draws(model, image, n=6, seed=4)
    with torch.no_grad():
        mu, logvar = model.posterior(torch.as_tensor(image, dtype=torch.float32)[None])
        sigma = torch.exp(logvar / 2)
        e = torch.randn(6, 3, generator=torch.Generator().manual_seed(4))
        decoded = model.decode((mu + sigma * e).float()).numpy()
    report = posterior_report(model, image)
    np.testing.assert_allclose(report.std, sigma[0].numpy(), rtol=1e-6)  # sigma = exp(logvar/2)
    np.testing.assert_allclose(draws.noise, e.numpy())
    np.testing.assert_allclose(draws.latents, report.mean + report.std * draws.noise, rtol=1e-5)
    assert draws.images.shape == (6, 1, 8, 8)
    np.testing.assert_allclose(draws.images, decoded, atol=1e-6)
    again = posterior_draws(model, image, n=6, seed=4)
    np.testing.assert_array_equal(again.latents, draws.latents)
    assert not np.allclose(posterior_draws(model, image, n=6, seed=5).latents, draws.latents)
