"""The model protocol (docs/architecture.md) as checks, one function each, run on any family:
LatentLab's suite (tests/models/test_protocol.py) runs them on every built-in family, and a
plugin's author runs :func:`check_family` on theirs. Needs torch only (no Qt, no pytest).

Each check raises :class:`ConformanceError` (an ``AssertionError``) saying what is wrong.
Models are called under ``torch.inference_mode()`` as the app's worker calls them; the caller
of a single check sets that up (``check_family`` does).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from latentlab.models.base import (
    CAPABILITIES,
    GenerativeModel,
    ImageConfig,
    config_from_dict,
    config_to_dict,
)

__all__ = [
    "ConformanceError",
    "N",
    "build_model",
    "check_class_attributes",
    "check_complete",
    "check_family",
    "check_flat_latents",
    "check_images",
    "check_log_prob",
    "check_meta_build",
    "check_refusals",
    "check_sample_steps",
    "check_samples",
    "check_sampling_is_deterministic",
    "check_tiny_config",
    "level_images",
    "seeded",
]

N = 3  # images per batch in the checks


class ConformanceError(AssertionError):
    """A family does not follow the model protocol; the message says how."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceError(message)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def level_images(model: GenerativeModel, n: int = N, seed: int = 0) -> torch.Tensor:
    """``n`` random images on the model's level grid: N,C,H,W float32 in [0, 1]."""
    k = torch.randint(0, model.levels, (n, *model.image_shape), generator=seeded(seed))
    return k.float() / (model.levels - 1)


def check_images(x: torch.Tensor, model: GenerativeModel, n: int = N) -> None:
    """``x`` is a batch of ``n`` float images of the model's shape with values in [0, 1]."""
    _require(
        tuple(x.shape) == (n, *model.image_shape) and x.is_floating_point(),
        f"{model.family}: expected float images of shape {(n, *model.image_shape)}, "
        f"got {x.dtype} {tuple(x.shape)}",
    )
    _require(
        x.min().item() >= 0 and x.max().item() <= 1,
        f"{model.family}: image values must lie in [0, 1], got "
        f"[{x.min().item():.4g}, {x.max().item():.4g}]",
    )


def build_model(cls: type[GenerativeModel], config: Any) -> GenerativeModel:
    """The family's model on ``config``, seeded, in eval mode, built outside inference mode as
    the app loads models."""
    torch.manual_seed(0)
    with torch.inference_mode(False):
        return cls.from_config(config).eval()


def check_class_attributes(cls: type[GenerativeModel]) -> None:
    """The class declares what the app needs: ``family``, ``capabilities`` (with ``sample``,
    within :data:`~latentlab.models.base.CAPABILITIES`), ``metric_name`` and a
    ``config_class`` dataclass extending ``ImageConfig`` whose numbers are all bounded."""
    _require(
        isinstance(cls, type) and issubclass(cls, GenerativeModel),
        f"{cls!r} is not a GenerativeModel subclass",
    )
    _require(isinstance(getattr(cls, "family", None), str), f"{cls.__name__} has no family")
    capabilities = getattr(cls, "capabilities", None)
    _require(
        isinstance(capabilities, frozenset),
        f"{cls.family}: capabilities must be a frozenset",
    )
    _require(
        "sample" in cls.capabilities and cls.capabilities <= CAPABILITIES,
        f"{cls.family}: capabilities {sorted(cls.capabilities)} must include 'sample' and lie "
        f"within {sorted(CAPABILITIES)}",
    )
    _require(isinstance(getattr(cls, "metric_name", None), str), f"{cls.family}: no metric_name")
    config_class = getattr(cls, "config_class", None)
    _require(
        isinstance(config_class, type)
        and dataclasses.is_dataclass(config_class)
        and issubclass(config_class, ImageConfig),
        f"{cls.family}: config_class must be a dataclass extending ImageConfig",
    )
    for f in dataclasses.fields(cls.config_class):
        if f.type in (int, float, "int", "float"):
            _require(
                f.metadata.get("low") is not None and f.metadata.get("high") is not None,
                f"{cls.family}: config value {f.name} has no bounds (declare it with bounded())",
            )


def check_tiny_config(cls: type[GenerativeModel], config: Any) -> None:
    """The tiny config is a config of the family that survives the trip through plain values
    (as a model file stores it) unchanged."""
    _require(
        isinstance(config, cls.config_class),
        f"{cls.family}: the tiny config is a {type(config).__name__}, "
        f"not a {cls.config_class.__name__}",
    )
    again = config_from_dict(cls.config_class, config_to_dict(config))
    _require(again == config, f"{cls.family}: the config changes through config_from_dict")


def check_meta_build(cls: type[GenerativeModel], config: Any, model: GenerativeModel) -> None:
    """Model files are checked against a model built on the meta device (no memory, no work):
    it must have every tensor, of the same shape, as the real one."""
    with torch.inference_mode(False), torch.device("meta"):
        empty = cls.from_config(config)
    _require(
        all(p.device.type == "meta" for p in empty.parameters()),
        f"{cls.family}: building on the meta device made tensors elsewhere (create parameters "
        "without an explicit device)",
    )
    shapes = {name: t.shape for name, t in empty.state_dict().items()}
    _require(
        shapes == {name: t.shape for name, t in model.state_dict().items()},
        f"{cls.family}: the model built on the meta device has other tensors than the real one",
    )


def check_samples(model: GenerativeModel) -> None:
    """Samples are images in the unit range."""
    check_images(model.sample(N, generator=seeded(1)), model)


def check_sampling_is_deterministic(model: GenerativeModel) -> None:
    """The same seeded generator gives the same samples; another seed, others."""
    first = model.sample(N, 0.8, seeded(1))
    _require(
        torch.equal(model.sample(N, 0.8, seeded(1)), first),
        f"{model.family}: sampling twice with the same seeded generator differs",
    )
    if model.latent_dim is None:
        _require(  # the generator is used
            not torch.equal(model.sample(N, 0.8, seeded(2)), first),
            f"{model.family}: samples do not depend on the generator",
        )
        return
    z = model.sample_latent(N, 0.8, seeded(1))  # an untrained DCGAN's images do not vary yet
    _require(
        torch.equal(model.sample_latent(N, 0.8, seeded(1)), z),
        f"{model.family}: sample_latent twice with the same seeded generator differs",
    )
    _require(
        not torch.equal(model.sample_latent(N, 0.8, seeded(2)), z),
        f"{model.family}: sample_latent does not depend on the generator",
    )


def check_sample_steps(model: GenerativeModel) -> None:
    """``sample_steps`` yields fractions that grow to 1 and draws what ``sample`` draws."""
    steps = model.sample_steps(N, 0.8, seeded(1))
    fractions = []
    while True:
        try:
            fractions.append(next(steps))
        except StopIteration as end:
            images = end.value
            break
    _require(
        bool(fractions) and fractions == sorted(fractions) and 0 < fractions[-1] <= 1,
        f"{model.family}: sample_steps yields {fractions[:5]}..., not fractions growing to 1",
    )
    _require(
        torch.equal(images, model.sample(N, 0.8, seeded(1))),
        f"{model.family}: sample_steps draws other images than sample from the same generator",
    )


def check_flat_latents(model: GenerativeModel) -> None:
    """Latents are flat ``N, latent_dim``, split into ``latent_groups``; a family that cannot
    decode has none."""
    if "decode" not in model.capabilities:
        _require(
            model.latent_dim is None and model.latent_groups() == [],
            f"{model.family}: a family without 'decode' must have latent_dim None",
        )
        return
    _require(
        model.latent_dim is not None
        and sum(size or 0 for _, size in model.latent_groups()) == model.latent_dim,
        f"{model.family}: latent_groups must add up to latent_dim",
    )
    z = model.sample_latent(N, 1.0, seeded(0))
    _require(
        tuple(z.shape) == (N, model.latent_dim),
        f"{model.family}: sample_latent gave shape {tuple(z.shape)}, expected "
        f"{(N, model.latent_dim)}",
    )
    check_images(model.decode(z), model)
    if "encode" in model.capabilities:
        shape = tuple(model.encode(level_images(model)).shape)
        _require(
            shape == (N, model.latent_dim),
            f"{model.family}: encode gave shape {shape}, expected {(N, model.latent_dim)}",
        )


def check_log_prob(model: GenerativeModel) -> None:
    """``log_prob`` gives finite nats, one per image."""
    log_p = model.log_prob(level_images(model))
    _require(
        tuple(log_p.shape) == (N,) and bool(torch.isfinite(log_p).all()),
        f"{model.family}: log_prob must give {N} finite values, got {log_p}",
    )


def check_complete(model: GenerativeModel) -> None:
    """``complete`` fills only the masked pixels, deterministically under a seeded generator."""
    x = torch.rand(N, *model.image_shape, generator=seeded(0))  # off the level grid: kept as is
    mask = torch.rand(x.shape, generator=seeded(1)) < 0.5
    out = model.complete(x, mask, seeded(2))
    check_images(out, model)
    _require(torch.equal(out[~mask], x[~mask]), f"{model.family}: complete changed unmasked pixels")
    _require(
        torch.equal(model.complete(x, mask, seeded(2)), out),
        f"{model.family}: complete twice with the same seeded generator differs",
    )


def check_refusals(model: GenerativeModel) -> None:
    """The app offers only the declared capabilities; the rest must not half-work: they raise
    ``NotImplementedError``."""
    x = level_images(model)
    calls: dict[str, Callable[[], object]] = {
        "decode": lambda: model.decode(torch.zeros(N, model.latent_dim or 1)),
        "encode": lambda: model.encode(x),
        "log_prob": lambda: model.log_prob(x),
        "complete": lambda: model.complete(x, torch.ones_like(x, dtype=torch.bool)),
    }
    for capability in sorted(set(calls) - model.capabilities):
        try:
            calls[capability]()
        except NotImplementedError:
            continue
        raise ConformanceError(
            f"{model.family}: {capability} is not declared in capabilities but does not raise "
            "NotImplementedError"
        )


def check_family(cls: type[GenerativeModel], tiny_config: Any = None) -> None:
    """Run every protocol check on family ``cls`` with ``tiny_config`` (default: the family's
    own ``tiny_config()``); raises :class:`ConformanceError` at the first failure."""
    check_class_attributes(cls)
    config = cls.tiny_config() if tiny_config is None else tiny_config
    check_tiny_config(cls, config)
    model = build_model(cls, config)
    check_meta_build(cls, config, model)
    with torch.inference_mode():  # as the app's worker calls models
        check_samples(model)
        check_sampling_is_deterministic(model)
        check_sample_steps(model)
        check_flat_latents(model)
        if "log_prob" in cls.capabilities:
            check_log_prob(model)
        if "complete" in cls.capabilities:
            check_complete(model)
        check_refusals(model)
