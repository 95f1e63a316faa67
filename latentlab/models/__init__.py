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

__all__ = ["FAMILIES", "GenerativeModel", "get_family", "registered_families"]

#: family identifier (as in model files and the CLI) -> model class, of the built-in families
FAMILIES: dict[str, type[GenerativeModel]] = {
    cls.family: cls for cls in (VAE, NICE, RealNVP, Glow, GMM, DCGAN, PixelRNN)
}


def registered_families() -> dict[str, type[GenerativeModel]]:
    """Every family a model file may name: the built-in ones, then those of the installed
    plugins (the ``latentlab.families`` entry points, read on the first call: latentlab.plugins).
    """
    from latentlab.plugins import plugin_families  # imported here: plugins import models

    return {**FAMILIES, **plugin_families()}


def get_family(name: str) -> type[GenerativeModel]:
    """The model class for a family identifier, built in or of a plugin; ``KeyError`` names
    the known ones."""
    families = registered_families()
    try:
        return families[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r} (known: {', '.join(families)})") from None
