"""The model protocol of docs/architecture.md, checked once for every registered family.

Each family runs on its own ``tiny_config()``, so a family joins these tests by its registry
line alone, and one without a tiny config fails them. The checks themselves live in
``latentlab.testing.conformance``, which plugin authors run on their families through
``check_family``: one piece of code serves both. Family-specific behaviour (exact round
trips, likelihoods by hand, samplers) is tested in the family's own test module.
"""

from __future__ import annotations

import pytest
import torch

from latentlab.models import FAMILIES
from latentlab.models.base import CAPABILITIES, GenerativeModel
from latentlab.testing import conformance
from latentlab.testing.conformance import build_model, check_family


def offering(capability: str) -> list[str]:
    """The registered families that declare ``capability``."""
    return [name for name in sorted(FAMILIES) if capability in FAMILIES[name].capabilities]


@pytest.fixture(autouse=True)
def inference_mode():
    """The app's worker calls models under inference mode (docs/architecture.md, Threads)."""
    with torch.inference_mode():
        yield


@pytest.fixture(params=sorted(FAMILIES))
def family(request) -> type[GenerativeModel]:
    return FAMILIES[request.param]


@pytest.fixture
def model(family) -> GenerativeModel:
    return build_model(family, family.tiny_config())  # outside inference mode, as the app does


def test_the_registry_names_each_family_by_its_identifier(family):
    assert FAMILIES[family.family] is family
    assert "sample" in family.capabilities and family.capabilities <= CAPABILITIES
    conformance.check_class_attributes(family)


def test_the_tiny_config_is_a_valid_config(family):
    conformance.check_tiny_config(family, family.tiny_config())


def test_the_model_builds_on_the_meta_device(family, model):
    conformance.check_meta_build(family, family.tiny_config(), model)


def test_samples_are_images_in_the_unit_range(model):
    conformance.check_samples(model)


def test_sampling_is_deterministic_under_a_seeded_generator(model):
    conformance.check_sampling_is_deterministic(model)


def test_sampling_step_by_step_draws_the_same_samples(model):
    conformance.check_sample_steps(model)


def test_latents_are_flat(model):
    conformance.check_flat_latents(model)


@pytest.mark.parametrize("family", offering("log_prob"), indirect=True)
def test_log_prob_is_finite_nats_per_image(model):
    conformance.check_log_prob(model)


@pytest.mark.parametrize("family", offering("complete"), indirect=True)
def test_complete_leaves_unmasked_pixels_untouched(model):
    conformance.check_complete(model)


def test_what_a_family_does_not_declare_it_refuses(model):
    """The app offers only the declared capabilities; the rest must not half-work."""
    conformance.check_refusals(model)


def test_check_family_passes_on_every_built_in_family(family):
    """What a plugin's author runs on their family (docs/plugins.md), passing on LatentLab's."""
    check_family(family)


@pytest.mark.parametrize("name", offering("decode"))  # a latent to encode to
def test_check_family_says_what_a_family_gets_wrong(name):
    family = FAMILIES[name]

    class Leaky(family):  # declares nothing more but implements encode anyway
        capabilities = family.capabilities - {"encode", "log_prob", "complete"}

        def encode(self, x):
            return torch.zeros(len(x), self.latent_dim or 1)

    with pytest.raises(conformance.ConformanceError, match="encode is not declared"):
        check_family(Leaky)
