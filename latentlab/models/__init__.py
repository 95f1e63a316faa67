"""Generative model families (pure torch: no Qt, no file I/O) and their registry."""

from __future__ import annotations

from latentlab.models.base import GenerativeModel
from latentlab.models.dcgan import DCGAN
from latentlab.models.glow import Glow
from latentlab.models.gmm import GMM
from latentlab.models.nice import NICE
from latentlab.models.pixelrnn import PixelRNN
from latentlab.models.realnvp import RealNVP
from latentlab.models.vae import VAE

__all__ = ["FAMILIES", "GenerativeModel", "get_family"]

#: family identifier (as in model files and the CLI) -> model class
FAMILIES: dict[str, type[GenerativeModel]] = {
    cls.family: cls for cls in (VAE, NICE, RealNVP, Glow, GMM, DCGAN, PixelRNN)
}


def get_family(name: str) -> type[GenerativeModel]:
    """The model class for a family identifier; ``KeyError`` names the known ones."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r} (known: {', '.join(FAMILIES)})") from None
