"""Train a VAE and write a LatentLab model file.

    python -m training.vae --data digits --latent 2 --epochs 300 --out vae.safetensors
    torchrun --nproc_per_node=2 -m training.vae --preset smoke --out /tmp/smoke.safetensors

The loss is the negative ELBO in nats per image (categorical likelihood over the data's levels);
the test metric is the importance-weighted bound (IWAE, k samples) on the test split.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch

from latentlab.models.vae import VAE, VAEConfig
from training.common import (
    Run,
    as_float_tensor,
    finish,
    load_data,
    model_config,
    reference_set,
    run_main,
)
from training.config import GradientConfig, option, parse_config
from training.loop import fit, gradient_step


@dataclass(frozen=True, kw_only=True)
class VAETrainConfig(GradientConfig):
    iwae_k: int = option(
        1000, "importance samples for the test bound", group="evaluation", low=1, high=100_000
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


def train(run: Run, config: VAETrainConfig) -> None:
    split = load_data(config)
    model = VAE(model_config(config, VAEConfig, split.train))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)

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
        validate=lambda m: float(-m.elbo(validation).mean()),
        optimizers={"adam": optimizer},
    )
    if run.main:
        model = model.cpu()
        torch.manual_seed(config.seed)
        with torch.no_grad():
            test = as_float_tensor(split.test)
            nll = -model.log_prob(test, samples=config.iwae_k).mean().item()
        metric = (f"test NLL bound, IWAE k={config.iwae_k} (nats)", nll)
        finish(run, config, model, state, split, metric, reference=reference_set(model, split.test))


def main(argv: list[str] | None = None) -> int:
    return run_main(parse, train, argv)


if __name__ == "__main__":
    sys.exit(main())
