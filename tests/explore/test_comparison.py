"""The mixture beside the VAE: K prototypes against a continuous grid of decodes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import make_tiny_vae

from latentlab.explore.comparison import compare_with_mixture, manifold_grid, mixture_for
from latentlab.modelfile import load_model
from latentlab.resources import bundled_models

MODELS = bundled_models()


@pytest.mark.parametrize("name", ["vae-digits-latent2", "vae-digits-latent16"])
def test_the_bundled_mixture_beside_the_bundled_vae(name):
    vae = load_model(MODELS[name])
    path = mixture_for(vae, MODELS)
    assert path == MODELS["gmm-digits"]
    comparison = compare_with_mixture(vae.model, path, 5, vae.reference.latents.numpy())
    mixture = load_model(path).model
    k = mixture.config.components
    assert comparison.prototypes.shape == (k, 1, 8, 8)
    assert comparison.manifold.shape == (25, 1, 8, 8) and comparison.rows == 5
    assert comparison.weights.sum() == pytest.approx(1.0, abs=1e-5)
    assert (np.diff(comparison.weights) <= 0).all()  # largest first
    with torch.no_grad():
        means = mixture.component_images().numpy()
    first = int(np.argmax(mixture.log_weights.numpy()))
    np.testing.assert_allclose(comparison.prototypes[0], means[first])
    assert ((comparison.manifold >= 0) & (comparison.manifold <= 1)).all()


def test_the_grid_of_a_2d_vae_is_its_own_plane_top_row_highest():
    model = make_tiny_vae(latent_dim=2, seed=1)
    images, name = manifold_grid(model, 3)
    assert images.shape == (9, 1, 8, 8) and name == "latent axes z0, z1"
    q = torch.special.ndtri(torch.tensor([0.05, 0.5, 0.95], dtype=torch.float64)).numpy()
    z = np.array([[a, b] for b in q[::-1] for a in q], dtype=np.float32)
    with torch.no_grad():
        expected = model.decode(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(images, expected, atol=1e-6)


def test_no_mixture_for_a_dataset_without_one(tmp_path):
    from helpers import write_tiny_vae

    vae = load_model(write_tiny_vae(tmp_path / "v.safetensors"))
    vae.meta["dataset"]["name"] = "synthfaces"
    assert mixture_for(vae, MODELS) is None


def test_a_mixture_of_other_images_is_refused():
    model = make_tiny_vae()
    with pytest.raises(ValueError, match="not a mixture of 1x8x8"):
        compare_with_mixture(model, MODELS["gmm-fashion"], 3)
