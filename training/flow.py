"""Train a normalizing flow (NICE, RealNVP or Glow) and write a LatentLab model file.

    python -m training.flow --arch glow --data synthfaces --out glow-faces.safetensors
    python -m training.flow --arch realnvp --data digits --out realnvp-digits.safetensors
    torchrun --nproc_per_node=2 -m training.flow --arch nice --preset smoke --out /tmp/s.safetensors

The loss is the negative log-likelihood of uniformly dequantized data in nats per image; the
test metric is bits per dimension on the test split at the data's number of levels
(REFERENCES §0.2). With attribute labels (synthetic faces) the model file also gets one
direction per attribute: the difference of mean latents with and without it (Glow §5.4), or
the normal of a linear classifier's boundary (InterFaceGAN) with --direction-method classifier.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from latentlab.explore.attributes import (
    binarize,
    classifier_direction,
    mean_difference_direction,
)
from latentlab.models import GenerativeModel
from latentlab.models.base import bits_per_dim
from latentlab.models.glow import Glow
from latentlab.models.nice import NICE
from latentlab.models.realnvp import RealNVP
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
    reference_set,
    setup,
)

ARCHS: dict[str, type[GenerativeModel]] = {"nice": NICE, "realnvp": RealNVP, "glow": Glow}
SMOKE = {  # tiny settings per arch for --preset smoke
    "nice": {"epochs": 2, "hidden": 16, "depth": 1},
    "realnvp": {"epochs": 2, "blocks": 1, "hidden": 8},
    "glow": {"epochs": 2, "steps": 2, "hidden": 8},
}


def parse_flow_args(argv: list[str] | None) -> tuple[argparse.Namespace, type[GenerativeModel]]:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--arch", choices=sorted(ARCHS), default="glow")
    arch = ARCHS[pre.parse_known_args(argv)[0].arch]
    parser = argparse.ArgumentParser(
        prog="python -m training.flow",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--arch",
        choices=sorted(ARCHS),
        default="glow",
        help="which flow (default: %(default)s); --help with --arch lists that flow's options",
    )
    parser.add_argument(
        "--reference-size",
        type=int,
        default=1000,
        help="test images encoded as the map's reference set; each costs "
        "a latent of C*H*W floats in the file (default: %(default)s)",
    )
    parser.add_argument(
        "--attribute-samples",
        type=int,
        default=10000,
        help="training images encoded to find attribute directions (default: %(default)s)",
    )
    parser.add_argument(
        "--direction-method",
        choices=sorted(DIRECTION_METHODS),
        default="mean-difference",
        help="attribute directions: the difference of mean latents (Glow) or "
        "a linear classifier's boundary normal (InterFaceGAN) "
        "(default: %(default)s)",
    )
    add_config_args(parser, arch.config_class)
    add_common_args(parser, epochs=100, batch_size=64, lr=1e-3, patience=10)
    return parse_args(parser, argv, smoke=SMOKE[arch.family]), arch


DIRECTION_METHODS = {
    "mean-difference": mean_difference_direction,
    "classifier": classifier_direction,
}


@torch.no_grad()
def attribute_directions(
    model: GenerativeModel, images: torch.Tensor, attributes: dict[str, np.ndarray], method: str
) -> dict[str, torch.Tensor]:
    """One direction per attribute from the latents of labelled images."""
    latents = torch.cat([model.encode(b) for b in images.split(256)]).double().numpy()
    find = DIRECTION_METHODS[method]
    return {
        name: torch.from_numpy(find(latents, binarize(values))).float()
        for name, values in attributes.items()
    }


def train(argv: list[str] | None = None) -> None:
    args, arch = parse_flow_args(argv)
    with setup(args) as run:
        split = load_data(args)
        model = arch(config_from_args(arch.config_class, args, split.train))
        train_images = as_float_tensor(split.train)
        with torch.no_grad():  # data-dependent init (ActNorm); the same batch on every rank
            model.initialize(train_images[: min(512, len(train_images))])
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

        def loss_fn(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
            return -module(x).mean()  # NLL of dequantized data, nats per image

        def validation_fn(m: GenerativeModel, x: torch.Tensor) -> float:
            return float(-torch.cat([m.log_prob(b) for b in x.split(256)]).mean())

        result = fit(
            run,
            args,
            model,
            train_images,
            as_float_tensor(split.validation),
            loss_fn,
            validation_fn,
            optimizer,
        )
        if run.main:
            model = result.model.cpu()
            torch.manual_seed(args.seed)
            test = as_float_tensor(split.test)
            with torch.no_grad():
                nats = -torch.cat([model.log_prob(b) for b in test.split(256)]).mean().item()
            bpd = bits_per_dim(nats, model.image_shape)
            directions = None
            if split.train.attributes:
                n = args.attribute_samples
                directions = attribute_directions(
                    model,
                    train_images[:n],
                    {k: v[:n] for k, v in split.train.attributes.items()},
                    args.direction_method,
                )
            finish(
                run,
                args,
                result,
                split,
                ("test bits/dim", bpd),
                reference=reference_set(model, split.test, args.reference_size),
                attributes=directions,
            )


def main(argv: list[str] | None = None) -> int:
    return main_wrapper(train, argv)


if __name__ == "__main__":
    sys.exit(main())
