"""The VAE of pytorch/examples (``vae/main.py``), imported into LatentLab's VAE family as its
``mlp`` architecture with the ``bernoulli`` likelihood.

Its layers are ``fc1`` (784 -> H), ``fc21`` and ``fc22`` (H -> D: the posterior's mean and
log-variance), ``fc3`` (D -> H) and ``fc4`` (H -> 784): the encoder is ``h = relu(fc1(x))``,
``mu = fc21(h)``, ``logvar = fc22(h)`` on the 28x28 grey pixels in [0, 1]; the decoder is
``sigmoid(fc4(relu(fc3(z))))``, the means of a Bernoulli per pixel. LatentLab's encoder has one
output layer for both: ``fc21`` and ``fc22`` are stacked into it.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import torch

from latentlab.importers import VAE_PYTORCH_EXAMPLES
from latentlab.importers.formats import (
    Converted,
    Format,
    check_dims,
    check_shapes,
    checked_config,
    has_layout,
)
from latentlab.models.vae import VAE, VAEConfig

__all__ = ["FORMAT"]

SIDE = 28
PIXELS = SIDE * SIDE
LEVELS = 256  # 8-bit MNIST
_LAYERS = ("fc1", "fc21", "fc22", "fc3", "fc4")
_NAMES = {f"{layer}.{p}" for layer in _LAYERS for p in ("weight", "bias")}


def _is_vae(names: Collection[str]) -> bool:
    return has_layout(names, _NAMES)


def _expected(hidden: int, latent: int) -> dict[str, tuple[int, ...]]:
    """The tensor shapes of a VAE with ``hidden`` units and a latent of size ``latent``."""
    sizes = {"fc1": (hidden, PIXELS), "fc21": (latent, hidden), "fc22": (latent, hidden)}
    sizes |= {"fc3": (hidden, latent), "fc4": (PIXELS, hidden)}
    return {
        f"{layer}.{p}": shape if p == "weight" else shape[:1]
        for layer, shape in sizes.items()
        for p in ("weight", "bias")
    }


def _convert(path: Path, tensors: dict[str, torch.Tensor]) -> Converted:
    check_dims(path, tensors, {"fc1.weight": 2, "fc21.weight": 2})
    hidden, latent = tensors["fc1.weight"].shape[0], tensors["fc21.weight"].shape[0]
    what = f"a VAE of 28x28 images with {hidden} hidden units and a latent of {latent}"
    check_shapes(path, tensors, _expected(hidden, latent), what)
    config = VAEConfig(
        channels=1,
        height=SIDE,
        width=SIDE,
        levels=LEVELS,
        latent_dim=latent,
        dense=hidden,
        architecture="mlp",
        likelihood="bernoulli",
    )
    model = VAE(checked_config(path, config, what))
    state = {
        "encoder.dense.1.weight": tensors["fc1.weight"],
        "encoder.dense.1.bias": tensors["fc1.bias"],
        "encoder.out.weight": torch.cat([tensors["fc21.weight"], tensors["fc22.weight"]]),
        "encoder.out.bias": torch.cat([tensors["fc21.bias"], tensors["fc22.bias"]]),
        "decoder.dense.0.weight": tensors["fc3.weight"],
        "decoder.dense.0.bias": tensors["fc3.bias"],
        "decoder.dense.2.weight": tensors["fc4.weight"],
        "decoder.dense.2.bias": tensors["fc4.bias"],
    }
    model.load_state_dict(state, strict=True)
    return Converted(
        model.eval(),
        "its likelihood is a Bernoulli on grey values in [0, 1], as it was trained: its ELBO "
        "and IWAE bound are not bounds on a likelihood of the 256 levels and do not compare "
        "with the nats or bits/dim of other models",
    )


FORMAT = Format(
    name=VAE_PYTORCH_EXAMPLES,
    title="the VAE of pytorch/examples",
    matches=_is_vae,
    convert=_convert,
)
