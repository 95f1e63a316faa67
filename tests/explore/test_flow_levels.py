"""Redrawing one level of a multi-scale flow keeps the others."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from latentlab.explore.flow_levels import flow_levels, resample_level, resample_levels
from latentlab.modelfile import load_model
from latentlab.resources import bundled_models


@pytest.fixture(scope="module", params=["glow-synthfaces", "realnvp-digits"])
def loaded(request):
    return load_model(bundled_models()[request.param])


def test_the_levels_tile_the_flat_latent(loaded):
    model = loaded.model
    levels = flow_levels(model)
    assert len(levels) == len(model.flow.shapes) >= 2
    assert levels[0].start == 0 and levels[-1].stop == model.latent_dim
    for level, following in itertools.pairwise(levels):
        assert level.stop == following.start
    for level in levels:
        assert level.stop - level.start == np.prod(level.shape)
    assert levels[-1].name.endswith("(top)")


def test_a_single_scale_flow_has_no_levels():
    model = load_model(bundled_models()["nice-digits"]).model
    assert flow_levels(model) == []
    with pytest.raises(ValueError, match="single scale"):
        resample_levels(model, np.full((1, 8, 8), 0.5))


def test_redrawing_one_level_keeps_the_others_in_the_image(loaded):
    model = loaded.model
    image = loaded.reference.images[0].float().numpy() / 255
    result = resample_levels(model, image, count=3, temperature=0.7, seed=5)
    levels = result.levels
    assert result.latents.shape == (len(levels), 3, model.latent_dim)
    assert result.images.shape == (len(levels), 3, *model.image_shape)
    assert 0 <= result.images.min() <= result.images.max() <= 1
    for i, _level in enumerate(levels):
        latents = torch.as_tensor(result.latents[i], dtype=torch.float32)
        with torch.no_grad():  # through the continuous flow: encoding the decoded x~
            again = model.flow(model.flow.inverse(latents)[0])[0].double()
        for j, other in enumerate(levels):
            part = slice(other.start, other.stop)
            if j == i:  # redrawn: differs from the image's own, and between draws
                assert not np.allclose(result.latents[i, 0, part], result.latent[part])
                assert not np.allclose(result.latents[i, 0, part], result.latents[i, 1, part])
            else:
                np.testing.assert_array_equal(
                    result.latents[i, :, part], result.latent[None, part].repeat(3, 0)
                )
            np.testing.assert_allclose(
                again[:, part].numpy(), result.latents[i, :, part], atol=2e-3
            )


def test_temperature_zero_gives_the_levels_prior_mean(loaded):
    model = loaded.model
    level = flow_levels(model)[0]
    z = np.random.default_rng(0).standard_normal(model.latent_dim)
    latents = resample_level(z, level, count=2, temperature=0.0, seed=1)
    assert (latents[:, level.start : level.stop] == 0).all()  # the mean of the whitened part
    np.testing.assert_array_equal(latents[:, level.stop :], z[None, level.stop :].repeat(2, 0))


def test_the_same_seed_redraws_the_same_images(loaded):
    model = loaded.model
    image = loaded.reference.images[1].float().numpy() / 255
    first = resample_levels(model, image, count=2, seed=3)
    again = resample_levels(model, image, count=2, seed=3)
    other = resample_levels(model, image, count=2, seed=4)
    np.testing.assert_array_equal(first.latents, again.latents)
    np.testing.assert_array_equal(first.images, again.images)
    assert not np.array_equal(first.latents, other.latents)
