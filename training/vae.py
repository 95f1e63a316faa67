"""Train a VAE and write a LatentLab model file.

    python -m training.vae --data digits --latent 2 --epochs 300 --out vae.safetensors
    torchrun --nproc_per_node=2 -m training.vae --preset smoke --out /tmp/smoke.safetensors

The loss is the negative ELBO in nats per image (categorical likelihood over the data's levels);
the test metric is the importance-weighted bound (IWAE, k samples) on the test split.
"""

from __future__ import annotations

import argparse
import sys

import torch

from latentlab.models.vae import VAE, VAEConfig
from training.common import (
    add_common_args,
    as_float_tensor,
    finish,
    fit,
    image_config,
    load_data,
    main_wrapper,
    parse_args,
    reference_set,
    setup,
)


def parse_vae_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.vae",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--latent", type=int, default=2, help="latent size (default: %(default)s)")
    parser.add_argument(
        "--hidden", type=int, default=16, help="first conv layer's channels (default: %(default)s)"
    )
    parser.add_argument(
        "--dense", type=int, default=64, help="fully connected width (default: %(default)s)"
    )
    parser.add_argument(
        "--iwae-k",
        type=int,
        default=1000,
        help="importance samples for the test bound (default: %(default)s)",
    )
    add_common_args(parser, epochs=600, batch_size=64, lr=1e-3, patience=60)
    return parse_args(parser, argv, smoke={"epochs": 2, "hidden": 4, "dense": 16, "iwae_k": 8})


def train(argv: list[str] | None = None) -> None:
    args = parse_vae_args(argv)
    with setup(args) as run:
        split = load_data(args)
        model = VAE(
            VAEConfig(
                **image_config(split.train),
                latent_dim=args.latent,
                hidden=args.hidden,
                dense=args.dense,
            )
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

        def loss_fn(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
            rec, kl = module(x)
            return (kl - rec).mean()  # negative ELBO, nats per image

        def validation_fn(m: VAE, x: torch.Tensor) -> float:
            return float(-m.elbo(x).mean())

        result = fit(
            run,
            args,
            model,
            as_float_tensor(split.train),
            as_float_tensor(split.validation),
            loss_fn,
            validation_fn,
            optimizer,
        )
        if run.main:
            model = result.model.cpu()
            torch.manual_seed(args.seed)
            with torch.no_grad():
                test = as_float_tensor(split.test)
                nll = -model.log_prob(test, samples=args.iwae_k).mean().item()
            metric = (f"test NLL bound, IWAE k={args.iwae_k} (nats)", nll)
            finish(run, args, result, split, metric, reference=reference_set(model, split.test))


def main(argv: list[str] | None = None) -> int:
    return main_wrapper(train, argv)


if __name__ == "__main__":
    sys.exit(main())
