"""Train a PixelRNN (Row LSTM) and write a LatentLab model file.

    python -m training.pixelrnn --data digits --out pixelrnn-digits.safetensors
    python -m training.pixelrnn --data mnist:PATH --hidden 32 --out pixelrnn-mnist.safetensors
    torchrun --nproc_per_node=2 -m training.pixelrnn --preset smoke --out /tmp/s.safetensors

Teacher forcing: the whole image goes through in one pass and the loss is the exact negative
log-likelihood in nats per image, a softmax over the data's levels for every sub-pixel (van den
Oord et al. 2016, §2). The test metric is the exact NLL of the test split in bits/dim; no
dequantization is involved, so it compares directly with the flows' bound (docs/families.md).

Optimiser: Adam, not the paper's RMSProp: with bias-corrected moments it needs no warm-up or
learning-rate tuning at this scale and matches the other LatentLab trainers, so one --lr
default means the same thing everywhere. A PixelRNN has no latent space, so the model file has
no reference set and no attribute directions.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from latentlab.models.base import bits_per_dim, to_levels
from latentlab.models.pixelrnn import PixelRNN, PixelRNNConfig
from training.common import (
    Run,
    as_float_tensor,
    evaluate_bits_per_dim,
    finish,
    load_data,
    mean_nll,
    model_config,
    run_main,
)
from training.config import GradientConfig, option, parse_config
from training.loop import fit, gradient_step


@dataclass(frozen=True, kw_only=True)
class PixelRNNTrainConfig(GradientConfig):
    weight_decay: float = option(
        0.0,
        "decoupled weight decay (AdamW); 0 is plain Adam",
        group="optimisation",
        low=0.0,
        high=10.0,
    )


def parse(argv: list[str] | None) -> PixelRNNTrainConfig:
    return parse_config(
        PixelRNNTrainConfig,
        argv,
        model=PixelRNNConfig,
        description=__doc__,
        defaults={"epochs": 300, "batch_size": 32, "patience": 30},
        smoke={"epochs": 2, "hidden": 6, "layers": 1, "first_kernel": 3},
    )


def train(run: Run, config: PixelRNNTrainConfig) -> None:
    split = load_data(config)
    model = PixelRNN(model_config(config, PixelRNNConfig, split.train))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True
    )

    def loss_fn(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        logits = module(x)  # N, C, L, H, W
        nll = F.cross_entropy(
            logits.transpose(1, 2), to_levels(x, model.levels), reduction="none"
        )  # N, C, H, W
        return nll.sum(dim=(1, 2, 3)).mean()  # nats per image

    validation = as_float_tensor(split.validation).to(run.device)
    state = fit(
        run,
        config,
        model,
        gradient_step(run, model, optimizer, loss_fn),
        train=as_float_tensor(split.train),
        validate=lambda m: mean_nll(m, validation),
        optimizers={"adamw": optimizer},
    )
    if run.main:
        model = model.cpu()
        bpd = evaluate_bits_per_dim(run, model, as_float_tensor(split.test))
        nats = bpd / bits_per_dim(1.0, model.image_shape)
        run.log(
            f"test NLL: {nats:.2f} nats per image, {bpd:.4f} bits/dim "
            f"(uniform: {math.log2(model.levels):.3f} bits/dim)"
        )
        finish(run, config, model, state, split, ("test bits/dim", bpd))


def main(argv: list[str] | None = None) -> int:
    return run_main(parse, train, argv)


if __name__ == "__main__":
    sys.exit(main())
