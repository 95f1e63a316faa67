"""Live EM fitting and component sampling, headless."""

from __future__ import annotations

import itertools
import math

import pytest
from helpers import run_to_end

from latentlab.data import DataError
from latentlab.explore.gmm import component_samples, fit_gmm
from latentlab.modelfile import load_model
from latentlab.models.em import EMConvergenceWarning
from latentlab.resources import bundled_models


@pytest.fixture(scope="module")
def loaded():
    return load_model(bundled_models()["gmm-digits"])


def test_fit_yields_every_iteration_and_returns_a_usable_model(loaded):
    steps = fit_gmm(loaded.model, loaded, 3, "diag", max_iter=50)
    seen = []
    while True:
        try:
            fraction, progress = next(steps)
        except StopIteration as stop:
            fitted = stop.value
            break
        seen.append(progress)
        assert 0 <= fraction <= 1
        assert progress.means.shape == (3, 1, 8, 8) and progress.weights.sum() == pytest.approx(1)
    assert [p.iteration for p in seen] == list(range(len(seen)))
    values = [p.log_likelihood for p in seen]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(values))
    assert fitted.model.config.components == 3 and fitted.path is None
    assert fitted.reference.latents.shape == (len(loaded.reference.images), 3 + 64)
    assert fitted.meta["dataset"] == loaded.meta["dataset"]
    assert fitted.model.log_prob(loaded.reference.images.float() / 255).isfinite().all()


def test_a_paced_fit_yields_none_while_it_pauses(loaded):
    """The pauses that let a person watch the fit leave the worker to other work."""
    with pytest.warns(EMConvergenceWarning):  # three iterations are not enough, and need not be
        yielded, fitted = run_to_end(
            fit_gmm(loaded.model, loaded, 3, "diag", max_iter=3, pace=0.05)
        )
    progress = [y for y in yielded if y is not None]
    assert yielded[0] is not None and len(progress) >= 2
    assert yielded.count(None) >= 2 * len(progress)  # every pause, in slices of 20 ms
    assert fitted.model.config.components == 3


def test_fit_refuses_what_it_cannot_do(loaded):
    other = {**loaded.meta, "dataset": {**loaded.meta["dataset"], "name": "my-folder"}}
    with pytest.raises(DataError, match="only digits, synthfaces and fashion"):
        next(fit_gmm(loaded.model, type(loaded)(loaded.model, other), 3, "diag"))
    with pytest.raises(ValueError, match="at least as many"):
        next(fit_gmm(loaded.model, loaded, 5000, "diag"))


def test_a_fashion_mixture_refits_on_the_first_2000_training_images():
    fashion = load_model(bundled_models()["gmm-fashion"])
    steps = fit_gmm(fashion.model, fashion, 3, "diag", max_iter=2)
    fraction, progress = next(steps)
    assert 0 <= fraction < 1 and math.isfinite(progress.log_likelihood)
    assert progress.means.shape == (3, 1, 28, 28)


def test_component_samples_use_the_chosen_component(loaded):
    latents, images = component_samples(loaded.model, 4, 6, seed=3)
    assert (latents[:, :20].argmax(1) == 4).all() and images.shape == (6, 1, 8, 8)
    with pytest.raises(ValueError, match="does not exist"):
        component_samples(loaded.model, 20, 1)
