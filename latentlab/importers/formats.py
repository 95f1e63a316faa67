"""What a foreign format is to the dispatcher, and the checks every format makes before it
builds a model: the tensor names, every shape, and the config's bounds."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from latentlab.importers.reading import refuse
from latentlab.models import GenerativeModel
from latentlab.models.base import ConfigError, config_from_dict, config_to_dict

__all__ = ["Converted", "Format", "check_dims", "check_shapes", "checked_config", "has_layout"]

#: tensor names -> whether they are the layout of a format (or of a decoy)
Matcher = Callable[[Collection[str]], bool]


@dataclass(frozen=True)
class Converted:
    """A model of one of LatentLab's families holding a foreign checkpoint's weights, in eval
    mode, and what a user should know of the conversion (what was not imported, how its
    numbers compare), in a sentence."""

    model: GenerativeModel
    note: str


@dataclass(frozen=True)
class Format:
    """A foreign format: ``matches`` recognises its tensor names; ``convert`` checks the
    tensors of a file ``path`` whose names match and builds the model, or raises the
    :func:`refuse` error; ``decoys`` are layouts of files that come with this format but hold
    nothing to import, each with the sentence that says so. ``options`` are what the file does
    not say but the conversion needs (e.g. the image size), with their defaults: ``convert``
    takes them as keyword arguments, and formats without them take none."""

    name: str
    title: str  # e.g. "the generator of the pytorch/examples DCGAN"
    matches: Matcher
    convert: Callable[..., Converted]  # (path, tensors, **options)
    decoys: tuple[tuple[Matcher, str], ...] = ()
    options: Mapping[str, int] = field(default_factory=dict)


def has_layout(
    names: Collection[str], required: Collection[str], optional: Collection[str] = ()
) -> bool:
    """Whether ``names`` hold every ``required`` name and nothing beyond ``optional`` ones."""
    return set(required) <= set(names) <= set(required) | set(optional)


def check_shapes(
    path: Path,
    tensors: Mapping[str, torch.Tensor],
    expected: Mapping[str, tuple[int, ...]],
    what: str,
) -> None:
    """Every tensor has the shape ``expected`` gives its name (of ``what``, for the message)."""
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != expected[name]:
            raise refuse(
                path,
                f"tensor {name!r} has shape {list(tensor.shape)}, expected "
                f"{list(expected[name])} for {what}",
            )


def check_dims(path: Path, tensors: Mapping[str, torch.Tensor], dims: Mapping[str, int]) -> None:
    """The tensors that a format reads its sizes from have the number of dimensions they need."""
    for name, dim in dims.items():
        if tensors[name].dim() != dim:
            raise refuse(
                path, f"tensor {name!r} has shape {list(tensors[name].shape)}, not {dim}-D"
            )


def checked_config(path: Path, config: Any, what: str) -> Any:
    """``config`` if it lies within its family's bounds (as a model file's must), else the
    refusal naming ``what`` was found."""
    try:
        return config_from_dict(type(config), config_to_dict(config))
    except ConfigError as exc:
        raise refuse(path, f"LatentLab cannot take {what}: {exc}") from None
