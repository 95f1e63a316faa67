"""Which format a foreign checkpoint is, its conversion into a loaded model, and the one way
the command line and the app open a file that may be either a model file or such a checkpoint."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import torch

from latentlab.importers import dcgan, glow, vae
from latentlab.importers.formats import Converted, Format
from latentlab.importers.reading import (
    describe_tensors,
    is_torch_checkpoint,
    read_file,
    read_tensors,
    refuse,
)
from latentlab.modelfile import LoadedModel, Reference, build_metadata, load_model
from latentlab.models import GenerativeModel

__all__ = ["FORMATS", "REFERENCE_SIZE", "import_checkpoint", "load_any"]

#: in the order of FORMAT_NAMES, the names the command line offers without loading torch
FORMATS: dict[str, Format] = {f.name: f for f in (dcgan.FORMAT, vae.FORMAT, glow.FORMAT)}
REFERENCE_SIZE = 32  # sampled latents and their images: the map's reference set


def import_checkpoint(
    path: str | os.PathLike[str],
    format: str = "auto",
    *,
    reference_size: int = REFERENCE_SIZE,
    image_size: int | None = None,
    bits: int | None = None,
) -> LoadedModel:
    """The model in the foreign checkpoint ``path``, of the named format or (``auto``) the one
    its tensor names show, with metadata saying where it came from and a reference set of
    ``reference_size`` samples (none for 0); raises :class:`ModelFileError` in one line.

    ``image_size`` and ``bits`` (bits per sub-pixel, 2**bits levels) say what a format's file
    does not (glow-rosinality: 64 and 5 if not given); a format whose files fix them refuses
    them."""
    path = Path(path)
    given = {"image_size": image_size, "bits": bits}
    options = {name: value for name, value in given.items() if value is not None}
    return _import(path, read_file(path), format, reference_size, options)[0]


def load_any(path: str | os.PathLike[str]) -> tuple[LoadedModel, str]:
    """A LatentLab model file as :func:`load_model` reads it, or a PyTorch checkpoint converted
    as :func:`import_checkpoint` does; with a notice saying what was converted ("" for a model
    file). Another file, or one named ``.safetensors``, gets the model file's error."""
    path = Path(path)
    # a file named .safetensors is meant as a model file: its error is the answer
    if path.suffix.lower() != ".safetensors" and _begins_as_torch_checkpoint(path):
        return _import(path, read_file(path), "auto", REFERENCE_SIZE, {})
    return load_model(path), ""


def _begins_as_torch_checkpoint(path: Path) -> bool:
    """Whether the regular file ``path`` begins as ``torch.save`` writes (its first bytes
    only: the whole file is read once, by whichever reader it needs)."""
    try:
        if not path.is_file():  # never open a pipe or a device here
            return False
        with path.open("rb") as file:
            return is_torch_checkpoint(file.read(9))
    except OSError:
        return False


def _import(
    path: Path, data: bytes, format: str, reference_size: int, options: dict[str, int]
) -> tuple[LoadedModel, str]:
    if format != "auto" and format not in FORMATS:
        raise ValueError(f"unknown format {format!r} (known: auto, {', '.join(FORMATS)})")
    tensors = read_tensors(path, data)
    for known in FORMATS.values():
        for matches, why in known.decoys:
            if matches(tensors.keys()):
                raise refuse(path, why)
    candidates = list(FORMATS.values()) if format == "auto" else [FORMATS[format]]
    chosen = next((f for f in candidates if f.matches(tensors.keys())), None)
    if chosen is None:
        raise refuse(path, _unknown(tensors, format))
    unknown = sorted(set(options) - set(chosen.options))
    if unknown:
        named = " and ".join("--" + name.replace("_", "-") for name in unknown)
        fixed = "its files fix the image size and levels"
        raise refuse(path, f"{chosen.title} ({chosen.name}) takes no {named}: {fixed}")
    options = {**chosen.options, **options}
    converted = chosen.convert(path, tensors, **options)
    loaded = _loaded(path, chosen, converted, reference_size, options)
    notice = (
        f"{path.name}: {chosen.title}, converted to a LatentLab {converted.model.family} model; "
        f"{converted.note}"
    )
    return loaded, notice


def _unknown(tensors: dict[str, torch.Tensor], format: str) -> str:
    if format != "auto":
        return f"not {FORMATS[format].title} ({format}): it holds {describe_tensors(tensors)}"
    return (
        f"a state dict of an unknown architecture: {describe_tensors(tensors)}; LatentLab "
        f"imports {', '.join(list(FORMATS)[:-1])} and {list(FORMATS)[-1]} checkpoints"
    )


def _loaded(
    path: Path,
    chosen: Format,
    converted: Converted,
    reference_size: int,
    options: dict[str, int],
) -> LoadedModel:
    model = converted.model
    command = f"latentlab import {shlex.quote(path.name)} --format {chosen.name}"
    command += "".join(f" --{k.replace('_', '-')} {v}" for k, v in options.items())
    meta = build_metadata(
        model,
        dataset={"name": "unknown (trained elsewhere)"},
        training={
            "command": command,
            "imported_from": path.name,
            "format": chosen.name,
            "note": converted.note,
        },
    )
    reference = _sampled_reference(model, reference_size) if reference_size else None
    return LoadedModel(model, meta, path, reference=reference)


@torch.no_grad()
def _sampled_reference(model: GenerativeModel, n: int) -> Reference:
    """``n`` latents from the prior (always the same ones) and their 8-bit images."""
    z = model.sample_latent(n, generator=torch.Generator().manual_seed(0))
    return Reference(z, (model.decode(z) * 255).round().to(torch.uint8))
