"""The ellipses of q(z|x) on the map's plane."""

from __future__ import annotations

import numpy as np
import torch
from helpers import make_tiny_vae

from latentlab.explore.plane import LatentPlane
from latentlab.explore.posterior_ellipse import ellipse_outlines, posterior_ellipses


def test_on_a_2d_latent_the_extremes_are_the_mean_plus_and_minus_sigma():
    model = make_tiny_vae(latent_dim=2, seed=2)
    images = np.random.default_rng(0).integers(0, 17, size=(3, 1, 8, 8)) / 16
    ellipses = posterior_ellipses(model, images, LatentPlane.axes(2))
    with torch.no_grad():
        mu, logvar = model.posterior(torch.as_tensor(images, dtype=torch.float32))
    m, sigma = mu.double().numpy(), (logvar / 2).exp().double().numpy()
    np.testing.assert_allclose(ellipses.centres, m, rtol=1e-6)
    one, two = ellipses.outlines[1.0], ellipses.outlines[2.0]
    assert one.shape == (3, 65, 2)
    np.testing.assert_allclose(one.max(axis=1), m + sigma, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(one.min(axis=1), m - sigma, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(two - m[:, None], 2 * (one - m[:, None]), atol=1e-9)  # 2σ = 2 x 1σ
    np.testing.assert_allclose(one[:, 0], one[:, -1])  # closed


def test_an_axis_aligned_plane_of_a_larger_latent_takes_its_two_sigmas():
    means = np.array([[0.5, -1.0, 2.0, 0.3]])
    stds = np.array([[0.1, 0.7, 0.4, 3.0]])
    plane = LatentPlane.axes(4, 2, 1)  # z2 across, z1 up
    ellipses = ellipse_outlines(plane, means, stds)
    np.testing.assert_allclose(ellipses.covariances[0], np.diag([0.4**2, 0.7**2]), atol=1e-12)
    one = ellipses.outlines[1.0][0]
    np.testing.assert_allclose(one.max(axis=0), [2.4, -0.3], atol=1e-3)
    np.testing.assert_allclose(one.min(axis=0), [1.6, -1.7], atol=1e-3)


def test_a_tilted_plane_projects_the_covariance():
    """Every outline point lies at Mahalanobis distance k from the centre under U^T S U."""
    rng = np.random.default_rng(1)
    plane = LatentPlane.through(rng.normal(size=5), rng.normal(size=5), rng.normal(size=5), "t")
    means, stds = rng.normal(size=(2, 5)), rng.uniform(0.1, 2.0, size=(2, 5))
    ellipses = ellipse_outlines(plane, means, stds)
    basis = np.stack([plane.u, plane.v], axis=1)
    for n in range(2):
        cov = basis.T @ np.diag(stds[n] ** 2) @ basis
        np.testing.assert_allclose(ellipses.covariances[n], cov, atol=1e-12)
        for k, outline in ellipses.outlines.items():
            d = outline[n] - ellipses.centres[n]
            distances = np.einsum("pi,ij,pj->p", d, np.linalg.inv(cov), d)
            np.testing.assert_allclose(distances, k**2, rtol=1e-9)


def test_no_images_no_ellipses():
    ellipses = posterior_ellipses(make_tiny_vae(), np.zeros((0, 1, 8, 8)), LatentPlane.axes(2))
    assert ellipses.outlines[1.0].shape == (0, 65, 2) and ellipses.centres.shape == (0, 2)
