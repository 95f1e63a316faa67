"""Linear previews of a decoder, from one decode and its slopes along the map's axes."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import make_tiny_vae

from latentlab.explore import ops
from latentlab.explore.preview import STEP, along_axes, linearise


@pytest.fixture(scope="module")
def model():
    return make_tiny_vae(latent_dim=4).eval()


@pytest.fixture(scope="module")
def axes():
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 2)))
    return q.T  # 2, 4: orthonormal rows


@pytest.fixture(scope="module")
def preview(model, axes):
    z = np.array([0.3, -0.2, 0.1, 0.5])
    return linearise(model, z, ops.decode(model, z[None])[0], axes)


def test_exact_where_it_was_decoded(preview):
    np.testing.assert_array_equal(preview.at(preview.z), np.clip(preview.image, 0, 1))


def test_the_slopes_are_forward_differences_along_the_axes(model, axes, preview):
    stepped = ops.decode(model, preview.z[None] + STEP * axes)
    np.testing.assert_allclose(preview.at(preview.z + STEP * axes[1]), stepped[1], atol=1e-5)
    np.testing.assert_allclose(preview.slopes[0], (stepped[0] - preview.image) / STEP, atol=1e-4)


def test_near_the_decoded_point_it_follows_the_decoder(model, axes, preview):
    z = preview.z + 0.3 * axes[0] - 0.2 * axes[1]
    exact = ops.decode(model, z[None])[0]
    error = np.abs(preview.at(z) - exact).max()
    assert error < 0.5 * np.abs(preview.image - exact).max()  # better than the last decode
    assert preview.at(z).min() >= 0 and preview.at(z).max() <= 1


def test_a_move_off_the_axes_has_no_preview(axes, preview):
    off = np.array([1.0, 0.0, 0.0, 0.0]) - (axes @ np.array([1.0, 0.0, 0.0, 0.0])) @ axes
    assert preview.at(preview.z + 0.1 * off) is None
    assert along_axes(0.7 * axes[0] - 2 * axes[1], axes)
    assert not along_axes(0.1 * off, axes)
