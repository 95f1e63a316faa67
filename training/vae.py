"""Train a VAE and write a LatentLab model file.

    python -m training.vae --data digits --latent 2 --epochs 300 --out vae.safetensors
    torchrun --nproc_per_node=2 -m training.vae --preset smoke --out /tmp/smoke.safetensors

The loss is the negative ELBO in nats per image (categorical likelihood over the data's levels);
the test metric is the importance-weighted bound (IWAE, k samples) on the test split, computed
in chunks whose decoder outputs fit a fixed memory budget, with a progress bar. Its cost grows
with k x sub-pixels x levels, so k defaults by image size: 1000 for up to 256 sub-pixels (8x8
digits have 64), 64 for larger images (28x28 greyscale and up), which keeps the test metric of
a 28x28 run cheaper than a few of its training epochs.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import torch

from latentlab.models.vae import VAE, VAEConfig
from training.common import (
    Run,
    as_float_tensor,
    batched,
    finish,
    load_data,
    model_config,
    progress_bar,
    reference_set,
    run_main,
)
from training.config import GradientConfig, option, parse_config
from training.loop import fit, gradient_step

SMALL_IMAGE = 256  # most sub-pixels (C x H x W) of an image whose default k is IWAE_K_SMALL
IWAE_K_SMALL, IWAE_K_LARGE = 1000, 64


@dataclass(frozen=True, kw_only=True)
class VAETrainConfig(GradientConfig):
    iwae_k: int = option(
        0,
        "importance samples for the test bound; 0: by image size (1000 for up to 256 "
        "sub-pixels, 64 above)",
        group="evaluation",
        low=0,
        high=100_000,
    )


def parse(argv: list[str] | None) -> VAETrainConfig:
    return parse_config(
        VAETrainConfig,
        argv,
        model=VAEConfig,
        description=__doc__,
        # smaller networks than VAEConfig's defaults: enough for 8x8 digits
        defaults={"epochs": 600, "patience": 60, "hidden": 16, "dense": 64},
        smoke={"epochs": 2, "hidden": 4, "dense": 16, "iwae_k": 8},
        aliases={"latent_dim": ["--latent"]},
    )


def iwae_samples(config: VAETrainConfig, image_shape: tuple[int, int, int]) -> int:
    """``--iwae-k``, or when it is 0 the default for images of ``image_shape``."""
    if config.iwae_k:
        return config.iwae_k
    return IWAE_K_SMALL if math.prod(image_shape) <= SMALL_IMAGE else IWAE_K_LARGE


@torch.no_grad()
def mean_elbo(model: VAE, x: torch.Tensor) -> float:
    """Mean ELBO of images ``x``, nats per image, in chunks of the IWAE bound's memory budget."""
    return batched(model.elbo, x, batch=model.iwae_chunks(samples=1)[0]).mean().item()


@torch.no_grad()
def nll_bound(model: VAE, x: torch.Tensor, k: int) -> float:
    """Mean negative IWAE bound (k samples) of images ``x``, nats per image, with a progress
    bar."""
    with progress_bar(len(x), f"test IWAE k={k}") as bar:
        return -model.log_prob(x, samples=k, progress=bar.update).mean().item()


def train(run: Run, config: VAETrainConfig) -> None:
    split = load_data(config)
    model = VAE(model_config(config, VAEConfig, split.train))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)

    def loss_fn(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        rec, kl = module(x)
        return (kl - rec).mean()  # negative ELBO, nats per image

    validation = as_float_tensor(split.validation).to(run.device)
    state = fit(
        run,
        config,
        model,
        gradient_step(run, model, optimizer, loss_fn),
        train=as_float_tensor(split.train),
        validate=lambda m: -mean_elbo(m, validation),
        optimizers={"adam": optimizer},
    )
    if run.main:
        k = iwae_samples(config, model.image_shape)
        torch.manual_seed(config.seed)
        nll = nll_bound(model, as_float_tensor(split.test).to(run.device), k)
        metric = (f"test NLL bound, IWAE k={k} (nats)", nll)
        model = model.cpu()
        finish(run, config, model, state, split, metric, reference=reference_set(model, split.test))


def main(argv: list[str] | None = None) -> int:
    return run_main(parse, train, argv)


if __name__ == "__main__":
    sys.exit(main())
