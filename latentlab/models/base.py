"""The protocol every generative model implements, and typed, bounded configs.

Images cross every boundary as float tensors ``N,C,H,W`` in [0, 1]. A model declares what it
can do in ``capabilities`` so that the app and the CLI offer only what it supports. Latent
families expose a flat latent ``N, latent_dim`` whatever their internal layout.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from latentlab.untrusted import is_finite_number, short_repr, shorten

__all__ = [
    "CAPABILITIES",
    "ConfigError",
    "GenerativeModel",
    "ImageConfig",
    "bits_per_dim",
    "bounded",
    "config_from_dict",
    "config_to_dict",
    "dequantize",
    "imported_variant",
    "later_variant",
    "later_variant_defaults",
    "level_bins",
    "run_to_end",
    "to_levels",
]

T = TypeVar("T")

CAPABILITIES = frozenset({"sample", "decode", "encode", "log_prob", "complete"})


class ConfigError(ValueError):
    """A config value is missing, of the wrong type or out of its bounds."""


def bounded(default: Any, low: float, high: float, doc: str = "") -> Any:
    """A dataclass field with inclusive bounds, checked by :func:`config_from_dict`."""
    return field(default=default, metadata={"low": low, "high": high, "doc": doc})


def imported_variant(default: str, choices: tuple[str, ...], doc: str) -> Any:
    """A dataclass field choosing an architecture variant that imported models need
    (latentlab.importers), added after model files were written without it: ``optional``, so
    such files take ``default`` (:func:`config_from_dict`), and trainers, which train the
    family's own architecture, do not offer it (training.config)."""
    return field(default=default, metadata={"choices": choices, "optional": True, "doc": doc})


def later_variant(earlier: str, newer: str, choices: tuple[str, ...], doc: str) -> Any:
    """A dataclass field choosing a variant of the family's own architecture, added after
    model files were written without it: ``optional``, so such files take ``earlier``
    (:func:`config_from_dict`), while trainers offer it with ``newer`` as their default
    (training.config)."""
    metadata = {"choices": choices, "optional": True, "trained": newer, "doc": doc}
    return field(default=earlier, metadata=metadata)


def later_variant_defaults(config_class: type) -> dict[str, Any]:
    """The values that files written before each :func:`later_variant` of ``config_class``
    existed stand for."""
    return {f.name: f.default for f in dataclasses.fields(config_class) if "trained" in f.metadata}


@dataclass
class ImageConfig:
    """The image shape and number of discrete levels per sub-pixel; every family has these."""

    channels: int = bounded(1, 1, 4, "colour channels")
    height: int = bounded(8, 4, 128, "image height in pixels")
    width: int = bounded(8, 4, 128, "image width in pixels")
    levels: int = bounded(17, 2, 256, "discrete levels per sub-pixel (17 for digits)")


def config_from_dict(cls: type, values: Any) -> Any:
    """Build config dataclass ``cls`` from plain values, checking names, types and bounds.

    Every field must be present (a model file states its whole config) except one marked
    ``optional`` in its metadata, added after model files were written without it, which then
    takes its default; no unknown field is accepted, ints must be ints (not bools), and each
    value must lie within its field's bounds.
    """
    if not isinstance(values, dict):
        raise ConfigError("config must be a JSON object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {**{n: f.default for n, f in fields.items() if f.metadata.get("optional")}, **values}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown config value(s): {shorten(', '.join(unknown), 60)}")
    missing = sorted(set(fields) - set(values))
    if missing:
        raise ConfigError(f"missing config value(s): {', '.join(missing)}")
    kwargs = {}
    for name, f in fields.items():
        value = values[name]
        expected = (
            f.type
            if isinstance(f.type, type)
            else {"int": int, "float": float, "bool": bool, "str": str}.get(f.type)
        )
        if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"config value {name} must be an integer, got {short_repr(value)}")
        if expected is float:
            if not is_finite_number(value):
                raise ConfigError(
                    f"config value {name} must be a finite number, got {short_repr(value)}"
                )
            value = float(value)
        if expected is bool and not isinstance(value, bool):
            raise ConfigError(f"config value {name} must be true or false, got {short_repr(value)}")
        if expected is str:
            choices = f.metadata.get("choices")
            if not isinstance(value, str) or (choices and value not in choices):
                raise ConfigError(
                    f"config value {name} must be one of {choices}, got {short_repr(value)}"
                )
        low, high = f.metadata.get("low"), f.metadata.get("high")
        if (
            low is not None
            and high is not None  # bounded() sets both
            and not (isinstance(value, (int, float)) and low <= value <= high)
        ):
            raise ConfigError(f"config value {name}={short_repr(value)} is outside [{low}, {high}]")
        kwargs[name] = value
    config = cls(**kwargs)
    check = getattr(config, "check", None)
    if check is not None:
        check()
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def run_to_end(steps: Generator[Any, None, T]) -> T:
    """Run a long job (a generator of progress) to the end and return its result."""
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value


def bits_per_dim(nats_per_image: float, image_shape: tuple[int, int, int]) -> float:
    """Convert a negative log-likelihood in nats per image to bits per sub-pixel."""
    return nats_per_image / (math.prod(image_shape) * math.log(2))


def to_levels(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Map images in [0, 1] to integer levels 0..levels-1 (int64)."""
    return torch.round(x.clamp(0, 1) * (levels - 1)).long()


def dequantize(
    x: torch.Tensor,
    levels: int,
    noise: bool = True,
    dtype: torch.dtype = torch.float32,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Images on the level grid -> x~ = (k + u) / levels in [0, 1), same shape, with
    u ~ U[0, 1) drawn afresh, or u = 1/2 (the bin centre) when ``noise`` is False
    (uniform dequantization, docs/families.md)."""
    k = to_levels(x, levels).to(dtype)
    u = torch.rand(k.shape, generator=generator, dtype=dtype, device=k.device) if noise else 0.5
    return (k + u) / levels


def level_bins(x_tilde: torch.Tensor, levels: int) -> torch.Tensor:
    """The level (as a float) of the bin each value of continuous x~ falls in: the inverse of
    :func:`dequantize`. Far from the data a model's inverse can overflow; such values are
    saturated rather than let NaN reach an image."""
    x_tilde = torch.nan_to_num(x_tilde, nan=0.0, posinf=1.0, neginf=0.0)
    return torch.floor(x_tilde * levels).clamp(0, levels - 1)


class GenerativeModel(nn.Module):
    """Base class of every family. Subclasses set the class attributes and implement the
    methods named in ``capabilities``; the rest raise ``NotImplementedError``."""

    family: ClassVar[str]
    config_class: ClassVar[type]
    capabilities: ClassVar[frozenset[str]]
    metric_name: ClassVar[str]  # what log_prob measures, e.g. "IWAE bound"
    default_temperature: ClassVar[float] = 1.0  # the app samples at this temperature at first

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config

    @classmethod
    def from_config(cls, config: Any) -> GenerativeModel:
        return cls(config)

    @classmethod
    def tiny_config(cls) -> Any:
        """The family's smallest sensible config, built in milliseconds: the shared protocol
        tests (tests/models/test_protocol.py) run every registered family on it, so a family
        without one fails them."""
        raise NotImplementedError(f"{cls.family} has no tiny config")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c = self.config
        return (c.channels, c.height, c.width)

    @property
    def levels(self) -> int:
        return self.config.levels

    @property
    def latent_dim(self) -> int | None:
        """Size of the flat latent, or None for families without one."""
        return None

    def latent_groups(self) -> list[tuple[str, int]]:
        """Named consecutive parts of the flat latent, e.g. the scales of a multi-scale flow,
        so an edit can touch only some of them."""
        return [("latent", self.latent_dim)] if self.latent_dim is not None else []

    def sample_latent(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Draw ``n`` flat latents from the prior at ``temperature``."""
        raise NotImplementedError(f"{self.family} has no latent space")

    def sample(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return self.decode(self.sample_latent(n, temperature, generator))

    def sample_steps(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> Generator[float, None, torch.Tensor]:
        """:meth:`sample` as a long job: yields the fraction done, returns the images. A family
        that samples slowly (pixel by pixel) yields as it goes, so that sampling can be
        cancelled."""
        images = self.sample(n, temperature, generator)
        yield 1.0
        return images

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.family} cannot decode")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.family} cannot encode")

    def encode_steps(self, x: torch.Tensor) -> Generator[float, None, torch.Tensor]:
        """:meth:`encode` as a long job: yields the fraction done, returns the latents. A family
        that encodes by optimisation yields at each step, so that encoding can be cancelled."""
        z = self.encode(x)
        yield 1.0
        return z

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.family} has no likelihood")

    def complete(
        self, x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        raise NotImplementedError(f"{self.family} cannot complete images")
