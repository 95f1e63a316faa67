"""Train a normalizing flow (NICE, RealNVP or Glow) and write a LatentLab model file.

    python -m training.flow --arch glow --data synthfaces --out glow-faces.safetensors
    python -m training.flow --arch realnvp --data digits --out realnvp-digits.safetensors
    torchrun --nproc_per_node=2 -m training.flow --arch nice --preset smoke --out /tmp/s.safetensors

The loss is the negative log-likelihood of uniformly dequantized data in nats per image; the
test metric is bits per dimension on the test split at the data's number of levels
(docs/families.md). With ``--precision bfloat16`` (``auto`` takes it for RealNVP and Glow on a
processor that multiplies bfloat16 natively) the coupling networks' convolutions run in
bfloat16, but for the first layer of each, which reads the data, while the flow's bijections
and log-dets stay float32. With attribute labels
(synthetic faces) the model file also gets one direction per attribute: the difference of mean
latents with and without it (Glow §5.4), or the normal of a linear classifier's boundary
(InterFaceGAN) with --direction-method classifier. Data with class labels and no attributes
(Fashion-MNIST, class folders) gets one direction per class versus the rest, such as
``trouser``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np
import torch

from latentlab.explore.attributes import (
    binarize,
    classifier_direction,
    mean_difference_direction,
)
from latentlab.models import GenerativeModel
from latentlab.models.glow import Glow
from latentlab.models.nice import NICE
from latentlab.models.realnvp import RealNVP
from training.common import (
    Run,
    as_float_tensor,
    batched,
    evaluate_bits_per_dim,
    finish,
    load_data,
    mean_nll,
    model_config,
    progress_bar,
    reference_set,
    run_main,
)
from training.config import GradientConfig, option, parse_config
from training.loop import fit, gradient_step

ARCHS: dict[str, type[GenerativeModel]] = {"nice": NICE, "realnvp": RealNVP, "glow": Glow}
SMOKE = {  # tiny settings per arch for --preset smoke
    "nice": {"epochs": 2, "hidden": 16, "depth": 1},
    "realnvp": {"epochs": 2, "blocks": 1, "hidden": 8},
    "glow": {"epochs": 2, "steps": 2, "hidden": 8},
}
DIRECTION_METHODS = {
    "mean-difference": mean_difference_direction,
    "classifier": classifier_direction,
}


@dataclass(frozen=True, kw_only=True)
class FlowTrainConfig(GradientConfig):
    arch: str = option(
        "glow",
        "which flow; --help with --arch lists that flow's options",
        group="model",
        choices=sorted(ARCHS),
    )
    reference_size: int = option(
        1000,
        "test images encoded as the map's reference set; each costs a latent of C*H*W floats "
        "in the file",
        group="output",
        low=1,
        high=20_000,
    )
    attribute_samples: int = option(
        10_000,
        "training images encoded to find attribute directions",
        group="attributes",
        low=1,
        high=10**6,
    )
    direction_method: str = option(
        "mean-difference",
        "attribute directions: the difference of mean latents (Glow) or a linear classifier's "
        "boundary normal (InterFaceGAN)",
        group="attributes",
        choices=sorted(DIRECTION_METHODS),
    )

    def bfloat16_pays_on_cpu(self) -> bool:
        # RealNVP and Glow on Fashion-MNIST (docs/performance.md, "Training in bfloat16"):
        # 1.2-1.3x the images/s, level or ahead per minute; NICE's small products were slower
        return self.arch in ("realnvp", "glow")


def parse(argv: list[str] | None) -> FlowTrainConfig:
    """The options of the flow named by ``--arch`` (its model options differ)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--arch", choices=sorted(ARCHS), default="glow")
    arch = pre.parse_known_args(argv)[0].arch
    return parse_config(
        FlowTrainConfig,
        argv,
        model=ARCHS[arch].config_class,
        description=__doc__,
        defaults={"patience": 10},
        smoke=SMOKE[arch],
    )


@torch.no_grad()
def attribute_directions(
    model: GenerativeModel, images: torch.Tensor, attributes: dict[str, np.ndarray], method: str
) -> dict[str, torch.Tensor]:
    """One direction per attribute from the latents of labelled images, with progress bars
    (Glow on 10,000 faces: minutes to encode, and the classifier seconds per attribute)."""
    latents = batched(model.encode, images, "attribute latents").double().numpy()
    find = DIRECTION_METHODS[method]
    directions = {}
    with progress_bar(len(attributes), "attribute directions", unit="attribute") as bar:
        for name, values in attributes.items():
            directions[name] = torch.from_numpy(find(latents, binarize(values))).float()
            bar.update(1)
    return directions


def train(run: Run, config: FlowTrainConfig) -> None:
    split = load_data(config)
    arch = ARCHS[config.arch]
    model = arch(model_config(config, arch.config_class, split.train))
    train_images = as_float_tensor(split.train)
    with torch.no_grad():  # data-dependent init (ActNorm); the same batch on every rank
        model.initialize(train_images[: min(512, len(train_images))])
    # the precision's autocast reaches only the coupling networks: the flow keeps its own
    # arithmetic in float32, so that each step's log-det matches what it computed
    model.train_networks_in(run.autocast_dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)

    def loss_fn(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        return -module(x).mean()  # NLL of dequantized data, nats per image

    validation = as_float_tensor(split.validation).to(run.device)
    state = fit(
        run,
        config,
        model,
        gradient_step(run, model, optimizer, loss_fn),
        train=train_images,
        validate=lambda m: mean_nll(m, validation),
        optimizers={"adam": optimizer},
    )
    if not run.main:
        return
    model = model.cpu()
    torch.manual_seed(config.seed)
    bpd = evaluate_bits_per_dim(run, model, as_float_tensor(split.test))
    directions = None
    n = config.attribute_samples
    labelled = split.train.subset(slice(0, n))
    attributes = labelled.attributes or labelled.class_attributes()
    if attributes:
        directions = attribute_directions(
            model, train_images[:n], attributes, config.direction_method
        )
    finish(
        run,
        config,
        model,
        state,
        split,
        ("test bits/dim", bpd),
        reference=reference_set(model, split.test, config.reference_size),
        attributes=directions,
    )


def main(argv: list[str] | None = None) -> int:
    return run_main(parse, train, argv)


if __name__ == "__main__":
    sys.exit(main())
