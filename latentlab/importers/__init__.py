"""Models trained elsewhere, converted into LatentLab's families without running their code.

A foreign checkpoint is read as tensors only (``torch.load(..., weights_only=True)`` or
safetensors), recognised by its tensor names, checked shape by shape against the layout its
format implies, and only then copied into a model of one of LatentLab's own families. Anything
else is refused with one :class:`~latentlab.modelfile.ModelFileError` line, as a bad model file
is. One module per format (:mod:`.dcgan`, :mod:`.vae`, :mod:`.glow`); :mod:`.dispatch` chooses
among them.

This package module imports no torch, so that the command line can name the formats in its
``--help``; :func:`import_checkpoint` and :func:`load_any` load :mod:`.dispatch` when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from latentlab.importers.dispatch import import_checkpoint, load_any

__all__ = [
    "DCGAN_PYTORCH_EXAMPLES",
    "FORMAT_NAMES",
    "GLOW_ROSINALITY",
    "VAE_PYTORCH_EXAMPLES",
    "import_checkpoint",
    "load_any",
]

DCGAN_PYTORCH_EXAMPLES = "dcgan-pytorch-examples"
VAE_PYTORCH_EXAMPLES = "vae-pytorch-examples"
GLOW_ROSINALITY = "glow-rosinality"
FORMAT_NAMES = (DCGAN_PYTORCH_EXAMPLES, VAE_PYTORCH_EXAMPLES, GLOW_ROSINALITY)


def __getattr__(name: str) -> Any:
    if name in ("import_checkpoint", "load_any"):
        from latentlab.importers import dispatch

        return getattr(dispatch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
