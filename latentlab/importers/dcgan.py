"""The generator of the pytorch/examples DCGAN (``dcgan/main.py``, saved as
``netG_epoch_N.pth``), imported into LatentLab's DCGAN family.

Its ``netG`` is ``main = Sequential(ConvTranspose2d(nz, 8 ngf, 4, 1, 0), BatchNorm2d, ReLU,``
then three ``ConvTranspose2d(4, 2, 1), BatchNorm2d, ReLU`` halving the channels, then
``ConvTranspose2d(ngf, nc, 4, 2, 1), Tanh)``, all without biases: 64x64 images. LatentLab's
DCGAN generator at 64x64 is that same stack, layer for layer, in ``generator.net``, so the
import is a renaming. The file holds no discriminator: the model's keeps the weights it was
built with, and nothing in LatentLab outside training uses it (inversion uses the generator).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import torch

from latentlab.importers import DCGAN_PYTORCH_EXAMPLES
from latentlab.importers.formats import (
    Converted,
    Format,
    check_dims,
    check_shapes,
    checked_config,
    has_layout,
)
from latentlab.models.dcgan import DCGAN, DCGANConfig

__all__ = ["FORMAT"]

SIDE = 64
LEVELS = 256  # 8-bit images
_NORM = ("weight", "bias", "running_mean", "running_var")
_COUNTER = "num_batches_tracked"  # absent from files written before PyTorch 0.4.1


def _layout(convs: tuple[int, ...], norms: tuple[int, ...]) -> tuple[set[str], set[str]]:
    """The required and optional tensor names of a ``main`` Sequential of bias-free
    convolutions at ``convs`` and BatchNorms at ``norms``."""
    required = {f"main.{i}.weight" for i in convs} | {f"main.{i}.{p}" for i in norms for p in _NORM}
    return required, {f"main.{i}.{_COUNTER}" for i in norms}


_GENERATOR = _layout((0, 3, 6, 9, 12), (1, 4, 7, 10))
_DISCRIMINATOR = _layout((0, 2, 5, 8, 11), (3, 6, 9))


def _is_generator(names: Collection[str]) -> bool:
    return has_layout(names, *_GENERATOR)


def _is_discriminator(names: Collection[str]) -> bool:
    return has_layout(names, *_DISCRIMINATOR)


def _convert(path: Path, tensors: dict[str, torch.Tensor]) -> Converted:
    check_dims(path, tensors, {"main.0.weight": 4, "main.12.weight": 4})
    nz = tensors["main.0.weight"].shape[0]
    ngf, nc = tensors["main.12.weight"].shape[:2]
    what = f"a DCGAN generator with nz={nz}, ngf={ngf}, nc={nc}"
    # the discriminator is not imported: it gets the generator's width
    config = DCGANConfig(
        channels=nc, height=SIDE, width=SIDE, levels=LEVELS, latent_dim=nz, ngf=ngf, ndf=ngf
    )
    config = checked_config(path, config, what)
    with torch.device("meta"):  # shapes only: nothing is allocated
        skeleton = DCGAN(config).generator.net.state_dict()
    check_shapes(path, tensors, {f"main.{k}": tuple(v.shape) for k, v in skeleton.items()}, what)
    model = DCGAN(config)
    state = model.generator.net.state_dict()
    state.update({name.removeprefix("main."): t for name, t in tensors.items()})
    model.generator.net.load_state_dict(state, strict=True)
    return Converted(
        model.eval(),
        "the file holds the generator only: the discriminator was not imported (the model's "
        "keeps its initial weights; LatentLab uses it only to train)",
    )


FORMAT = Format(
    name=DCGAN_PYTORCH_EXAMPLES,
    title="the generator of the pytorch/examples DCGAN",
    matches=_is_generator,
    convert=_convert,
    decoys=(
        (
            _is_discriminator,
            "this is the discriminator of a pytorch/examples DCGAN (netD_*.pth); LatentLab "
            "imports the generator, the netG_*.pth file saved beside it",
        ),
    ),
)
