"""Train a DCGAN and write a LatentLab model file.

    python -m training.dcgan --data synthfaces --ngf 48 --ndf 48 --out dcgan-faces.safetensors
    python -m training.dcgan --data digits --latent-dim 16 --out dcgan-digits.safetensors
    torchrun --nproc_per_node=2 -m training.dcgan --preset smoke --out /tmp/s.safetensors

The loop follows Radford, Metz & Chintala (2016) as in REFERENCES §5.1: a discriminator step on
a real batch (label 1) and a generated batch G(z).detach() (label 0), then a generator step
with the non-saturating loss (label 1 on D(G(z)), Goodfellow et al. 2014 §3), binary
cross-entropy on logits, Adam with lr 2e-4 and betas (0.5, 0.999) for both networks.

A GAN has no likelihood (REFERENCES §5.2). After every epoch the generator's BatchNorm
statistics are recalibrated and the kernel MMD² between eval-mode samples from fixed latents and
the validation split selects the weights to keep (lower is better); ``--patience`` stops a run
that no longer improves it. The test metric is the same MMD² against the test split; the log
also shows the MMD² between the training and test images (what a perfect generator would get)
and a memorisation check: nearest-neighbour distances from samples to the training set,
against those of unseen test images. The reference set for the map is sampled latents with
their generated images: inverting hundreds of images would take minutes.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from latentlab.modelfile import Reference
from latentlab.models.dcgan import DCGAN, DCGANConfig
from training.common import (
    FitResult,
    Run,
    TrainingDiverged,
    add_common_args,
    add_config_args,
    as_float_tensor,
    config_from_args,
    epoch_batches,
    finish,
    load_checkpoint,
    load_data,
    main_wrapper,
    parse_args,
    save_checkpoint,
    setup,
)

SMOKE = {
    "epochs": 2,
    "latent_dim": 16,
    "ngf": 8,
    "ndf": 8,
    "reference_size": 32,
    "metric_samples": 64,
    "recalibrate_batches": 2,
}
D_WINS = 0.05  # an epoch's mean D loss below this: D wins and G gets almost no gradient


def parse_dcgan_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.dcgan",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--reference-size",
        type=int,
        default=300,
        help="sampled latents (with their images) stored as the map's "
        "reference set (default: %(default)s)",
    )
    parser.add_argument(
        "--metric-samples",
        type=int,
        default=1000,
        help="samples (and at most as many held-out images) for the MMD² "
        "metrics (default: %(default)s)",
    )
    parser.add_argument(
        "--recalibrate-batches",
        type=int,
        default=20,
        help="batches of generated images that re-estimate the generator's "
        "BatchNorm statistics (default: %(default)s)",
    )
    add_config_args(parser, DCGANConfig)
    add_common_args(parser, epochs=20, batch_size=64, lr=2e-4, patience=10)
    return parse_args(parser, argv, smoke=SMOKE)


# ---------------------------------------------------------------------------------- metrics


def median_distance(x: torch.Tensor) -> float:
    """Median pairwise Euclidean distance of images ``x`` (the kernel-width heuristic)."""
    d = torch.cdist(x.flatten(1).double(), x.flatten(1).double())
    return d[torch.triu_indices(len(x), len(x), offset=1).unbind()].median().item()


def mmd2(x: torch.Tensor, y: torch.Tensor, scale: float) -> float:
    """Unbiased estimate of the squared maximum mean discrepancy between the distributions of
    images ``x`` and ``y`` (Gretton et al., "A Kernel Two-Sample Test", JMLR 2012, eq. 3),
    with the sum of Gaussian kernels of widths scale/2, scale and 2*scale on raw pixels.
    0 in expectation when both come from one distribution; may then be slightly negative."""
    x, y = x.flatten(1).double(), y.flatten(1).double()

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d2 = torch.cdist(a, b).square()
        return sum(torch.exp(-d2 / (2 * (scale * f) ** 2)) for f in (0.5, 1.0, 2.0))

    def mean_off_diagonal(k: torch.Tensor) -> torch.Tensor:
        n = len(k)
        return (k.sum() - k.diagonal().sum()) / (n * (n - 1))

    value = (
        mean_off_diagonal(kernel(x, x)) + mean_off_diagonal(kernel(y, y)) - 2 * kernel(x, y).mean()
    )
    return value.item()


def nearest_distances(x: torch.Tensor, pool: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """Euclidean distance from each image of ``x`` to its nearest neighbour in ``pool``."""
    pool = pool.flatten(1)
    return torch.cat([torch.cdist(b.flatten(1), pool).min(dim=1).values for b in x.split(chunk)])


@torch.no_grad()
def eval_samples(model: DCGAN, n: int, args: argparse.Namespace, seed: int) -> torch.Tensor:
    """``n`` eval-mode samples from fixed latents (``seed``) after recalibrating BatchNorm."""
    model.recalibrate(args.recalibrate_batches, 128, torch.Generator().manual_seed(seed))
    z = model.sample_latent(n, generator=torch.Generator().manual_seed(seed + 1))
    return torch.cat([model.decode(b) for b in z.split(256)])


# ------------------------------------------------------------------------------ the GAN loop


class _Optimizers:
    """Both networks' optimisers, checkpointed as one (what ``save_checkpoint`` expects)."""

    def __init__(self, **optimizers: torch.optim.Optimizer) -> None:
        self.optimizers = optimizers

    def state_dict(self) -> dict:
        return {name: o.state_dict() for name, o in self.optimizers.items()}

    def load_state_dict(self, state: dict) -> None:
        for name, o in self.optimizers.items():
            o.load_state_dict(state[name])


def train_gan(
    run: Run, args: argparse.Namespace, model: DCGAN, train: torch.Tensor, validation: torch.Tensor
) -> FitResult:
    """Adversarial training on float images ``train`` (N,C,H,W in [0, 1]); keeps the weights
    with the lowest validation MMD². Checkpoints, ``--resume`` and the NaN guard work as in
    :func:`training.common.fit`."""
    checkpoint = args.out.with_suffix(".ckpt")
    model.to(run.device)
    betas = (0.5, 0.999)
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=args.lr, betas=betas)
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=args.lr, betas=betas)
    optimizers = _Optimizers(generator=opt_g, discriminator=opt_d)
    state = {"epoch": 0, "step": 0, "seconds": 0.0, "best": math.inf, "bad_epochs": 0}
    best_weights = copy.deepcopy(model.state_dict())
    if args.resume:
        state, best_weights = load_checkpoint(checkpoint, model, optimizers, run)
        run.log(f"resumed from {checkpoint} at epoch {state['epoch']}")
    g_net, d_net = model.generator, model.discriminator
    if run.distributed:  # each network averages its own gradients
        g_net = nn.parallel.DistributedDataParallel(g_net)
        d_net = nn.parallel.DistributedDataParallel(d_net)
    bce = nn.BCEWithLogitsLoss()
    train = train.to(run.device)
    validation = validation[: args.metric_samples].to(run.device)
    scale = median_distance(validation)
    bar = tqdm(
        total=args.epochs,
        initial=state["epoch"],
        disable=not run.main,
        unit="epoch",
        dynamic_ncols=True,
    )
    while state["epoch"] < args.epochs and state["bad_epochs"] < args.patience:
        epoch_start = time.perf_counter()
        # z depends on (seed, epoch, rank) only, so a resumed run draws what it would have.
        seed = np.random.SeedSequence([args.seed, state["epoch"], run.rank]).generate_state(1)
        noise = torch.Generator(run.device).manual_seed(int(seed[0]))
        model.train()
        stats = []  # per step: D loss, G loss, D(x), D(G(z))
        for index in epoch_batches(len(train), args.batch_size, state["epoch"], args.seed, run):
            real = train[index] * 2 - 1  # [0, 1] -> [-1, 1], the range of tanh
            z = torch.randn(len(real), model.latent_dim, generator=noise, device=run.device)
            fake = g_net(z)
            d_real, d_fake = d_net(real), d_net(fake.detach())
            d_loss = bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            # G step on the same fake batch, against the updated D: maximise log D(G(z)).
            model.discriminator.requires_grad_(False)  # no weight gradients for D here
            g_loss = bce(model.discriminator(fake), torch.ones_like(d_fake))
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            model.discriminator.requires_grad_(True)
            step = torch.stack(
                [
                    d_loss.detach(),
                    g_loss.detach(),
                    d_real.detach().sigmoid().mean(),
                    d_fake.detach().sigmoid().mean(),
                ]
            )
            step = run.all_mean(step)
            if not torch.isfinite(step).all():
                bar.close()
                raise TrainingDiverged(
                    f"training diverged at epoch {state['epoch'] + 1}, step {state['step']} "
                    f"(D loss {step[0].item()}, G loss {step[1].item()}); the last good "
                    f"checkpoint is kept at {checkpoint}; try a lower --lr"
                )
            stats.append(step)
            state["step"] += 1
        elapsed = time.perf_counter() - epoch_start
        state["seconds"] += elapsed
        state["epoch"] += 1
        samples = eval_samples(model, len(validation), args, args.seed)
        val = mmd2(samples, validation, scale)  # the same on every rank: same weights and z
        if val < state["best"]:
            state["best"], state["bad_epochs"] = val, 0
            best_weights = copy.deepcopy(model.state_dict())
        else:
            state["bad_epochs"] += 1
        d_loss, g_loss, d_x, d_g_z = torch.stack(stats).mean(0).tolist()
        bar.update(1)
        bar.set_postfix(
            D_loss=f"{d_loss:.3f}",
            G_loss=f"{g_loss:.2f}",
            D_x=f"{d_x:.2f}",
            D_G_z=f"{d_g_z:.2f}",
            val_mmd2=f"{val:.4f}",
            img_s=f"{len(stats) * args.batch_size / max(elapsed, 1e-9):.0f}",
        )
        if d_loss < D_WINS:
            run.log(
                f"epoch {state['epoch']}: the discriminator wins (D loss {d_loss:.3f}, "
                f"D(x) {d_x:.2f}, D(G(z)) {d_g_z:.2f}); the generator gets almost no "
                "gradient (REFERENCES §5.4)"
            )
        if run.main and (
            state["epoch"] % args.checkpoint_every == 0 or state["epoch"] == args.epochs
        ):
            save_checkpoint(checkpoint, model, optimizers, state, best_weights, args)
    bar.close()
    if state["bad_epochs"] >= args.patience:
        run.log(
            f"stopped early after {state['epoch']} epochs: no better validation MMD² in "
            f"{args.patience} epochs"
        )
    model.load_state_dict(best_weights)
    model.eval()
    return FitResult(model, state["epoch"], state["step"], state["seconds"], state["best"])


# ------------------------------------------------------------------------------------- main


def train(argv: list[str] | None = None) -> None:
    args = parse_dcgan_args(argv)
    with setup(args) as run:
        split = load_data(args)
        model = DCGAN(config_from_args(DCGANConfig, args, split.train))
        result = train_gan(
            run, args, model, as_float_tensor(split.train), as_float_tensor(split.validation)
        )
        if not run.main:
            return
        model = result.model.cpu()
        train_images = as_float_tensor(split.train)
        test = as_float_tensor(split.test)[: args.metric_samples]
        samples = eval_samples(model, len(test), args, args.seed + 2)  # recalibrated: final
        scale = median_distance(test)
        metric = mmd2(samples, test, scale)
        floor = mmd2(train_images[: len(test)], test, scale)
        to_sample = nearest_distances(samples, train_images).median().item()
        to_test = nearest_distances(test, train_images).median().item()
        run.log(
            f"test MMD² {metric:.5f} (training images against the test images: "
            f"{floor:.5f}); median distance to the nearest training image: samples "
            f"{to_sample:.3f}, unseen test images {to_test:.3f} (much smaller for samples "
            "means memorisation)"
        )
        with torch.no_grad():
            z = model.sample_latent(
                args.reference_size, generator=torch.Generator().manual_seed(args.seed + 3)
            )
            thumbnails = (model.decode(z) * 255).round().to(torch.uint8)
        finish(
            run,
            args,
            result,
            split,
            ("test MMD² vs samples (pixel Gaussian kernels)", metric),
            reference=Reference(z, thumbnails),
        )


def main(argv: list[str] | None = None) -> int:
    return main_wrapper(train, argv)


if __name__ == "__main__":
    sys.exit(main())
