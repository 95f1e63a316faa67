"""Train a PixelRNN (Row LSTM) and write a LatentLab model file.

    python -m training.pixelrnn --data digits --out pixelrnn-digits.safetensors
    python -m training.pixelrnn --data mnist:PATH --hidden 32 --out pixelrnn-mnist.safetensors
    torchrun --nproc_per_node=2 -m training.pixelrnn --preset smoke --out /tmp/s.safetensors

Teacher forcing: the whole image goes through in one pass and the loss is the exact negative
log-likelihood in nats per image, a softmax over the data's levels for every sub-pixel (van den
Oord et al. 2016, §2). The test metric is the exact NLL of the test split in bits/dim; no
dequantization is involved, so it compares directly with the flows' bound (REFERENCES §0.2).

Optimiser: Adam, not the paper's RMSProp: with bias-corrected moments it needs no warm-up or
learning-rate tuning at this scale and matches the other LatentLab trainers, so one --lr
default means the same thing everywhere. A PixelRNN has no latent space, so the model file has
no reference set and no attribute directions.
"""

from __future__ import annotations

import argparse
import math
import sys

import torch
import torch.nn.functional as F

from latentlab.models.base import bits_per_dim, to_levels
from latentlab.models.pixelrnn import PixelRNN, PixelRNNConfig
from training.common import (
    add_common_args,
    add_config_args,
    as_float_tensor,
    config_from_args,
    finish,
    fit,
    load_data,
    main_wrapper,
    parse_args,
    setup,
)

SMOKE = {"epochs": 2, "hidden": 6, "layers": 1, "first_kernel": 3}


def parse_pixelrnn_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.pixelrnn",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(parser, PixelRNNConfig)
    parser.add_argument(
        "--weight-decay",
        type=float,
        default=0.0,
        help="decoupled weight decay (AdamW); 0 is plain Adam (default: %(default)s)",
    )
    add_common_args(parser, epochs=300, batch_size=32, lr=1e-3, patience=30)
    return parse_args(parser, argv, smoke=SMOKE)


def nll_nats(model: PixelRNN, x: torch.Tensor, batch: int = 256) -> float:
    """Mean exact negative log-likelihood of images ``x``, nats per image."""
    with torch.no_grad():
        return -torch.cat([model.log_prob(b) for b in x.split(batch)]).double().mean().item()


def train(argv: list[str] | None = None) -> None:
    args = parse_pixelrnn_args(argv)
    with setup(args) as run:
        split = load_data(args)
        model = PixelRNN(config_from_args(PixelRNNConfig, args, split.train))
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=args.lr, weight_decay=args.weight_decay
        )

        def loss_fn(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
            logits = module(x)  # N, C, L, H, W; through the DDP wrapper when there is one
            nll = F.cross_entropy(
                logits.transpose(1, 2), to_levels(x, model.levels), reduction="none"
            )  # N, C, H, W
            return nll.sum(dim=(1, 2, 3)).mean()  # nats per image

        result = fit(
            run,
            args,
            model,
            as_float_tensor(split.train),
            as_float_tensor(split.validation),
            loss_fn,
            nll_nats,
            optimizer,
        )
        if run.main:
            model = result.model.cpu()
            nats = nll_nats(model, as_float_tensor(split.test))
            bpd = bits_per_dim(nats, model.image_shape)
            run.log(
                f"test NLL: {nats:.2f} nats per image, {bpd:.4f} bits/dim "
                f"(uniform: {math.log2(model.levels):.3f} bits/dim)"
            )
            finish(run, args, result, split, ("test bits/dim", bpd))


def main(argv: list[str] | None = None) -> int:
    return main_wrapper(train, argv)


if __name__ == "__main__":
    sys.exit(main())
