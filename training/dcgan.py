"""Train a DCGAN and write a LatentLab model file.

    python -m training.dcgan --data synthfaces --ngf 48 --ndf 48 --out dcgan-faces.safetensors
    python -m training.dcgan --data digits --latent-dim 16 --out dcgan-digits.safetensors
    torchrun --nproc_per_node=2 -m training.dcgan --preset smoke --out /tmp/s.safetensors

The loop follows Radford, Metz & Chintala (2016; docs/families.md, DCGAN): a discriminator step on
a real batch (label 1) and a generated batch G(z).detach() (label 0), then a generator step
with the non-saturating loss (label 1 on D(G(z)), Goodfellow et al. 2014 §3), binary
cross-entropy on logits, Adam with lr 2e-4 and betas (0.5, 0.999) for both networks.

A GAN has no likelihood (docs/families.md, DCGAN). After every epoch the generator's BatchNorm
statistics are recalibrated and the kernel MMD² between eval-mode samples from fixed latents and
the validation split selects the weights to keep (lower is better); ``--patience`` stops a run
that no longer improves it. The test metric is the same MMD² against the test split; the log
also shows the MMD² between the training and test images (what a perfect generator would get)
and a memorisation check: nearest-neighbour distances from samples to the training set,
against those of unseen test images. The reference set for the map is sampled latents with
their generated images: inverting hundreds of images would take minutes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from latentlab.explore.ops import model_generator
from latentlab.metrics.mmd import median_distance, mmd2
from latentlab.modelfile import Reference
from latentlab.models.dcgan import DCGAN, DCGANConfig, init_weights
from training.common import (
    Run,
    as_float_tensor,
    batched,
    finish,
    load_data,
    model_config,
    run_main,
)
from training.config import GradientConfig, option, parse_config
from training.loop import LoopState, StepFn, fit

D_WINS = 0.05  # an epoch's mean D loss below this: D wins and G gets almost no gradient


@dataclass(frozen=True, kw_only=True)
class DCGANTrainConfig(GradientConfig):
    reference_size: int = option(
        300,
        "sampled latents (with their images) stored as the map's reference set",
        group="output",
        low=1,
        high=20_000,
    )
    metric_samples: int = option(
        1000,
        "samples (and at most as many held-out images) for the MMD² metrics",
        group="evaluation",
        low=2,
        high=100_000,
    )
    recalibrate_batches: int = option(
        20,
        "batches of generated images that re-estimate the generator's BatchNorm statistics",
        group="evaluation",
        low=1,
        high=10_000,
    )


def parse(argv: list[str] | None) -> DCGANTrainConfig:
    return parse_config(
        DCGANTrainConfig,
        argv,
        model=DCGANConfig,
        description=__doc__,
        defaults={"epochs": 20, "lr": 2e-4, "patience": 10},
        smoke={
            "epochs": 2,
            "latent_dim": 16,
            "ngf": 8,
            "ndf": 8,
            "reference_size": 32,
            "metric_samples": 64,
            "recalibrate_batches": 2,
        },
    )


# ---------------------------------------------------------------------------------- metrics


def nearest_distances(
    x: torch.Tensor, pool: torch.Tensor, desc: str, chunk: int = 256
) -> torch.Tensor:
    """Euclidean distance from each image of ``x`` to its nearest neighbour in ``pool``, with a
    progress bar titled ``desc`` (2,000 images against Fashion-MNIST's 55,000 training images
    take seconds)."""
    pool = pool.flatten(1)
    return batched(lambda b: torch.cdist(b.flatten(1), pool).min(dim=1).values, x, desc, chunk)


@torch.no_grad()
def eval_samples(model: DCGAN, n: int, config: DCGANTrainConfig, seed: int) -> torch.Tensor:
    """``n`` eval-mode samples from fixed latents (``seed``) after recalibrating BatchNorm."""
    model.recalibrate(config.recalibrate_batches, 128, model_generator(model, seed))
    z = model.sample_latent(n, generator=model_generator(model, seed + 1))
    return torch.cat([model.decode(b) for b in z.split(256)])


# ------------------------------------------------------------------------------ the GAN step


def adversarial_step(
    run: Run, config: DCGANTrainConfig, model: DCGAN
) -> tuple[StepFn, dict[str, torch.optim.Optimizer]]:
    """One discriminator and one generator update per batch, and the two optimisers (Adam,
    betas (0.5, 0.999), as in the paper). The statistics are the losses, D(x) and D(G(z))."""
    betas = (0.5, 0.999)
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=config.lr, betas=betas, fused=True)
    opt_d = torch.optim.Adam(
        model.discriminator.parameters(), lr=config.lr, betas=betas, fused=True
    )
    g_net, d_net = run.wrap(model.generator), run.wrap(model.discriminator)  # each averages its own
    bce = nn.BCEWithLogitsLoss()

    def step(batch: torch.Tensor, state: LoopState) -> dict[str, torch.Tensor]:
        # z depends on (seed, step, rank) only, so a resumed run draws what it would have.
        seed = np.random.SeedSequence([config.seed, state.step, run.rank]).generate_state(1)
        noise = torch.Generator(run.device).manual_seed(int(seed[0]))
        real = batch * 2 - 1  # [0, 1] -> [-1, 1], the range of tanh
        z = torch.randn(len(real), model.latent_dim, generator=noise, device=run.device)
        with run.autocast():
            fake = g_net(z)
            d_real, d_fake = d_net(real), d_net(fake.detach())
            d_loss = bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        # G step on the same fake batch, against the updated D: maximise log D(G(z)).
        model.discriminator.requires_grad_(False)  # no weight gradients for D here
        with run.autocast():
            g_loss = bce(model.discriminator(fake), torch.ones_like(d_fake))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        model.discriminator.requires_grad_(True)
        return {
            "D_loss": d_loss.detach(),
            "G_loss": g_loss.detach(),
            "D_x": d_real.detach().sigmoid().mean(),
            "D_G_z": d_fake.detach().sigmoid().mean(),
        }

    return step, {"generator": opt_g, "discriminator": opt_d}


def warn_when_d_wins(run: Run) -> Callable[[LoopState, dict[str, float]], None]:
    def on_epoch(state: LoopState, means: dict[str, float]) -> None:
        if means["D_loss"] < D_WINS:
            run.log(
                f"epoch {state.epoch}: the discriminator wins (D loss {means['D_loss']:.3f}, "
                f"D(x) {means['D_x']:.2f}, D(G(z)) {means['D_G_z']:.2f}); the generator gets "
                "almost no gradient (see docs/families.md, DCGAN)"
            )

    return on_epoch


# ------------------------------------------------------------------------------------- main


def train(run: Run, config: DCGANTrainConfig) -> None:
    split = load_data(config)
    model = DCGAN(model_config(config, DCGANConfig, split.train))
    model.apply(init_weights)
    step, optimizers = adversarial_step(run, config, model)
    validation = as_float_tensor(split.validation)[: config.metric_samples].to(run.device)
    scale = median_distance(validation)
    # The validation MMD² is the same on every rank: same weights, same latents.
    state = fit(
        run,
        config,
        model,
        step,
        train=as_float_tensor(split.train),
        validate=lambda m: mmd2(
            eval_samples(m, len(validation), config, config.seed), validation, scale
        ),
        optimizers=optimizers,
        score_name="validation MMD²",
        on_epoch=warn_when_d_wins(run),
    )
    if not run.main:
        return
    model = model.cpu()
    train_images = as_float_tensor(split.train)
    test = as_float_tensor(split.test)[: config.metric_samples]
    samples = eval_samples(model, len(test), config, config.seed + 2)  # recalibrated: final
    scale = median_distance(test)
    metric = mmd2(samples, test, scale)
    floor = mmd2(train_images[: len(test)], test, scale)
    nearest = nearest_distances(torch.cat([samples, test]), train_images, "nearest training images")
    to_sample, to_test = (d.median().item() for d in nearest.split(len(test)))
    run.log(
        f"test MMD² {metric:.5f} (training images against the test images: "
        f"{floor:.5f}); median distance to the nearest training image: samples "
        f"{to_sample:.3f}, unseen test images {to_test:.3f} (much smaller for samples "
        "means memorisation)"
    )
    with torch.no_grad():
        z = model.sample_latent(
            config.reference_size, generator=model_generator(model, config.seed + 3)
        )
        thumbnails = (model.decode(z) * 255).round().to(torch.uint8)
    finish(
        run,
        config,
        model,
        state,
        split,
        ("test MMD² vs samples (pixel Gaussian kernels)", metric),
        reference=Reference(z, thumbnails),
    )


def main(argv: list[str] | None = None) -> int:
    return run_main(parse, train, argv)


if __name__ == "__main__":
    sys.exit(main())
