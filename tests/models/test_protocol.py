"""The model protocol of docs/architecture.md, checked once for every registered family.

Each family runs on its own ``tiny_config()``, so a family joins these tests by its registry
line alone, and one without a tiny config fails them. Family-specific behaviour (exact round
trips, likelihoods by hand, samplers) is tested in the family's own test module.
"""

from __future__ import annotations

import pytest
import torch

from latentlab.models import FAMILIES
from latentlab.models.base import (
    CAPABILITIES,
    GenerativeModel,
    config_from_dict,
    config_to_dict,
)

N = 3


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def level_images(model: GenerativeModel, n: int = N, seed: int = 0) -> torch.Tensor:
    """``n`` random images on the model's level grid: N,C,H,W float32 in [0, 1]."""
    k = torch.randint(0, model.levels, (n, *model.image_shape), generator=seeded(seed))
    return k.float() / (model.levels - 1)


def check_images(x: torch.Tensor, model: GenerativeModel, n: int = N) -> None:
    assert x.shape == (n, *model.image_shape) and x.is_floating_point()
    assert x.min().item() >= 0 and x.max().item() <= 1


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
    torch.manual_seed(0)
    with torch.inference_mode(False):  # built outside inference mode, as the app loads models
        return family.from_config(family.tiny_config()).eval()


def test_the_registry_names_each_family_by_its_identifier(family):
    assert FAMILIES[family.family] is family
    assert "sample" in family.capabilities and family.capabilities <= CAPABILITIES


def test_the_tiny_config_is_a_valid_config(family):
    config = family.tiny_config()
    assert isinstance(config, family.config_class)
    assert config_from_dict(family.config_class, config_to_dict(config)) == config


def test_the_model_builds_on_the_meta_device(family, model):
    """Model files are checked against a model built on the meta device (no memory, no work):
    it must have every tensor, of the same shape, as the real one."""
    with torch.device("meta"):
        empty = family.from_config(family.tiny_config())
    assert all(p.device.type == "meta" for p in empty.parameters())
    shapes = {name: t.shape for name, t in empty.state_dict().items()}
    assert shapes == {name: t.shape for name, t in model.state_dict().items()}


def test_samples_are_images_in_the_unit_range(model):
    check_images(model.sample(N, generator=seeded(1)), model)


def test_sampling_is_deterministic_under_a_seeded_generator(model):
    first = model.sample(N, 0.8, seeded(1))
    assert torch.equal(model.sample(N, 0.8, seeded(1)), first)
    if model.latent_dim is None:
        assert not torch.equal(model.sample(N, 0.8, seeded(2)), first)  # the generator is used
        return
    z = model.sample_latent(N, 0.8, seeded(1))  # an untrained DCGAN's images do not vary yet
    assert torch.equal(model.sample_latent(N, 0.8, seeded(1)), z)
    assert not torch.equal(model.sample_latent(N, 0.8, seeded(2)), z)


def test_latents_are_flat(model):
    if "decode" not in model.capabilities:
        assert model.latent_dim is None and model.latent_groups() == []
        return
    assert sum(size for _, size in model.latent_groups()) == model.latent_dim
    z = model.sample_latent(N, 1.0, seeded(0))
    assert z.shape == (N, model.latent_dim)
    check_images(model.decode(z), model)
    if "encode" in model.capabilities:
        assert model.encode(level_images(model)).shape == (N, model.latent_dim)


@pytest.mark.parametrize("family", offering("log_prob"), indirect=True)
def test_log_prob_is_finite_nats_per_image(model):
    log_p = model.log_prob(level_images(model))
    assert log_p.shape == (N,) and torch.isfinite(log_p).all()


@pytest.mark.parametrize("family", offering("complete"), indirect=True)
def test_complete_leaves_unmasked_pixels_untouched(model):
    x = torch.rand(N, *model.image_shape, generator=seeded(0))  # off the level grid: kept as is
    mask = torch.rand(x.shape, generator=seeded(1)) < 0.5
    out = model.complete(x, mask, seeded(2))
    check_images(out, model)
    assert torch.equal(out[~mask], x[~mask])
    assert torch.equal(model.complete(x, mask, seeded(2)), out)


def test_what_a_family_does_not_declare_it_refuses(model):
    """The app offers only the declared capabilities; the rest must not half-work."""
    x = level_images(model)
    calls = {
        "decode": lambda: model.decode(torch.zeros(N, model.latent_dim or 1)),
        "encode": lambda: model.encode(x),
        "log_prob": lambda: model.log_prob(x),
        "complete": lambda: model.complete(x, torch.ones_like(x, dtype=torch.bool)),
    }
    for capability in sorted(set(calls) - model.capabilities):
        with pytest.raises(NotImplementedError):
            calls[capability]()
