"""Model operations the app's worker and the CLI run: numpy in, numpy out, no Qt.

Each function takes the model first; all run under ``torch.inference_mode()``. Inputs go to
the model's device (the app's model worker may have moved it to a GPU); results come back on the
CPU.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from latentlab.data import DataError
from latentlab.data.images import load_image
from latentlab.models import GenerativeModel
from latentlab.models.base import run_to_end

__all__ = [
    "EncodedImages",
    "decode",
    "decode_path",
    "encode",
    "encode_files",
    "encode_steps",
    "model_device",
    "model_generator",
    "model_input",
    "read_image",
    "sample",
    "sample_steps",
    "to_numpy",
]

T = TypeVar("T")


def model_device(model: GenerativeModel) -> torch.device:
    """The device the model's weights are on (the CPU for a model without any)."""
    first = next(chain(model.parameters(), model.buffers()), None)
    return torch.device("cpu") if first is None else first.device


def model_input(
    model: GenerativeModel, array: np.ndarray, dtype: torch.dtype | None = torch.float32
) -> torch.Tensor:
    """``array`` as a tensor on the model's device (``dtype`` None keeps the array's)."""
    return torch.as_tensor(array, dtype=dtype, device=model_device(model))


def model_generator(model: GenerativeModel, seed: int) -> torch.Generator:
    """A generator seeded ``seed`` on the model's device (draw with ``device=g.device``)."""
    return torch.Generator(model_device(model)).manual_seed(seed)


def to_numpy(tensor: torch.Tensor, double: bool = False) -> np.ndarray:
    """A model's output as numpy on the CPU, float64 if ``double``."""
    tensor = tensor.detach().cpu()  # a no-op on the CPU; first, as MPS has no float64
    return (tensor.double() if double else tensor).numpy()


@torch.inference_mode()
def decode(model: GenerativeModel, z: np.ndarray) -> np.ndarray:
    """Images ``N,C,H,W`` float32 in [0, 1] for flat latents ``N, D``."""
    return to_numpy(model.decode(model_input(model, np.atleast_2d(z))).clamp(0, 1))


@torch.inference_mode()
def encode(model: GenerativeModel, images: np.ndarray) -> np.ndarray:
    """Flat latents ``N, D`` (float64) for float images ``N,C,H,W`` in [0, 1]."""
    return to_numpy(model.encode(model_input(model, images)), double=True)


@torch.inference_mode()
def encode_steps(model: GenerativeModel, images: np.ndarray) -> Generator[float, None, np.ndarray]:
    """:func:`encode` as a long job: yields the fraction done (see ``encode_steps`` of the
    model)."""
    z = yield from model.encode_steps(model_input(model, images))
    return to_numpy(z, double=True)


def sample(
    model: GenerativeModel, n: int, temperature: float = 1.0, seed: int = 0
) -> tuple[np.ndarray | None, np.ndarray]:
    """``n`` samples as (flat latents or None, images); deterministic for a seed on one
    device (a GPU draws other numbers than the CPU from the same seed)."""
    return run_to_end(sample_steps(model, n, temperature, seed))


def sample_steps(
    model: GenerativeModel, n: int, temperature: float = 1.0, seed: int = 0
) -> Generator[float, None, tuple[np.ndarray | None, np.ndarray]]:
    """:func:`sample` as a long job: yields the fraction done, so that a model that samples
    slowly (pixel by pixel) can be cancelled on the way."""
    # the models draw on their own device, which needs a generator of that device
    generator = model_generator(model, seed)
    if model.latent_dim is None:
        images = yield from _inference_steps(model.sample_steps(n, temperature, generator))
        return None, to_numpy(images.clamp(0, 1))
    with torch.inference_mode():
        z = model.sample_latent(n, temperature, generator)
        images = model.decode(z).clamp(0, 1)
    yield 1.0
    return to_numpy(z, double=True), to_numpy(images)


def _inference_steps(steps: Generator[float, None, T]) -> Generator[float, None, T]:
    """A long job's steps, each run under inference mode: the mode must not stay on between
    them, as the worker runs other work there."""
    while True:
        with torch.inference_mode():
            try:
                fraction = next(steps)
            except StopIteration as end:
                return end.value
        yield fraction


def read_image(model: GenerativeModel, path: Path) -> tuple[np.ndarray, list[str]]:
    """An image file converted to the model's shape and levels (``C,H,W`` in [0, 1]), and
    notices of what the conversion changed."""
    return load_image(path, model.image_shape, model.levels)


@dataclass
class EncodedImages:
    """Images read from files and encoded: ``images`` as the model sees them (N,C,H,W in
    [0, 1]), their flat ``latents``, and what was noticed or went wrong per file."""

    names: list[str]
    images: np.ndarray
    latents: np.ndarray
    notices: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def encode_files(
    model: GenerativeModel, paths: list[Path], batch: int = 8
) -> Generator[float, None, EncodedImages]:
    """A long job: read each image file, convert it to the model's shape and levels, encode
    them ``batch`` at a time (some models encode by optimisation, seconds per image).

    A file that cannot be read is reported in ``errors`` and skipped; the others go on.
    """
    names, images, notices, errors = [], [], [], []
    for i, path in enumerate(paths):
        try:
            image, noticed = load_image(path, model.image_shape, model.levels)
        except DataError as exc:
            errors.append(str(exc))
        else:
            names.append(Path(path).name)
            images.append(image)
            notices += [f"{Path(path).name}: {n}" for n in noticed]
        yield 0.2 * (i + 1) / len(paths)
    if not images:
        assert model.latent_dim is not None  # only a model with a latent encodes images
        empty = np.zeros((0, *model.image_shape), dtype=np.float32)
        return EncodedImages(names, empty, np.zeros((0, model.latent_dim)), notices, errors)
    stacked = np.stack(images)
    latents = []
    for start in range(0, len(stacked), batch):
        steps = encode_steps(model, stacked[start : start + batch])
        while True:  # step by step: a model that encodes by optimisation can be cancelled
            try:
                fraction = next(steps)
            except StopIteration as done:
                latents.append(done.value)
                break
            yield 0.2 + 0.8 * min(1.0, (start + fraction * batch) / len(stacked))
    return EncodedImages(names, stacked, np.concatenate(latents), notices, errors)


def decode_path(
    model: GenerativeModel, latents: np.ndarray, batch: int = 16
) -> Generator[float, None, np.ndarray]:
    """A long job: decode latents ``N, D`` in batches, yielding progress."""
    out = []
    for start in range(0, len(latents), batch):
        out.append(decode(model, latents[start : start + batch]))
        yield min(1.0, (start + batch) / len(latents))
    return np.concatenate(out)
