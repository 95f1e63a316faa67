"""Flow speed on this machine: encode and decode time of the default Glow at batch 1 and 64,
training throughput (forward + backward + Adam step) of each flow architecture, and training
throughput of every gradient-trained family on 28x28 greyscale images.

    python benchmarks/flows.py [--model FILE] [--repeats 20] [--batch 64] [--device cpu]
                               [--quick]

Training throughput uses the bundled configurations (Glow 3x32x32 on faces, RealNVP and NICE
1x8x8 on digits) with random images on the level grid; data loading is not included. The
28x28 section times the training step of NICE, RealNVP, Glow, the VAE, DCGAN and PixelRNN as
``python -m training.X --data fashion`` builds it for Fashion-MNIST's 1x28x28 images with 256
levels: the trainer's default options, batch size, optimiser, loss and gradient clipping
(DCGAN's step updates both networks) and precision (``--precision auto``), on random images;
where bfloat16 is native (a CUDA GPU, or a processor with AVX512-BF16 or AMX), in the other
precision too. ``--device`` times all of it there (``auto`` takes a GPU if there is one), each
time until the device has finished.
``--quick`` times each once at batch 8 (a smoke run: the figures are rough).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from latentlab.device import device_label, resolve_device
from latentlab.modelfile import load_model
from latentlab.models import FAMILIES, GenerativeModel
from latentlab.models.base import config_from_dict, to_levels
from latentlab.models.flow import FlowModel
from latentlab.resources import bundled_models, default_model_path
from training import dcgan, flow, pixelrnn, vae
from training.common import Run, autocast_dtype, bfloat16_is_native
from training.config import GradientConfig
from training.loop import LoopState, gradient_step

GREY_28 = {"channels": 1, "height": 28, "width": 28, "levels": 256}  # Fashion-MNIST's images
DEVICE = torch.device("cpu")  # --device


def finished(device: torch.device) -> None:
    """Wait for ``device``'s queued work (a GPU's runs ahead of Python)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn, repeats: int) -> float:
    fn()  # warm up
    finished(DEVICE)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        finished(DEVICE)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def random_images(model: GenerativeModel, n: int) -> torch.Tensor:
    levels = torch.randint(0, model.levels, (n, *model.image_shape))
    return (levels.float() / (model.levels - 1)).to(DEVICE)


@torch.inference_mode()
def encode_decode(model: GenerativeModel, repeats: int, large_batch: int) -> None:
    for batch in (1, large_batch):
        x = random_images(model, batch)
        z = model.encode(x)
        enc = median_ms(lambda x=x: model.encode(x), repeats) / batch
        dec = median_ms(lambda z=z: model.decode(z), repeats) / batch
        print(f"  batch {batch:2d}: encode {enc:7.2f} ms/image   decode {dec:7.2f} ms/image")


def training_throughput(model: GenerativeModel, repeats: int, batch: int = 64) -> float:
    model = model.train().to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5, fused=True)
    x = random_images(model, batch)

    def step() -> None:
        loss = -model(x).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return batch / (median_ms(step, repeats) / 1000)


def flow_loss(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return -module(x).mean()  # as in training/flow.py


def vae_loss(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    rec, kl = module(x)
    return (kl - rec).mean()  # as in training/vae.py


def pixelrnn_loss(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    logits = module(x)  # N, C, L, H, W; as in training/pixelrnn.py
    levels = to_levels(x, GREY_28["levels"])
    return F.cross_entropy(logits.transpose(1, 2), levels, reduction="none").sum((1, 2, 3)).mean()


LOSSES = {"nice": flow_loss, "realnvp": flow_loss, "glow": flow_loss, "vae": vae_loss}


def trainer_config(family: str) -> GradientConfig:
    """The config that ``python -m training.X --data fashion`` resolves to for ``family``."""
    argv = ["--data", "fashion", "--out", "unused.safetensors"]
    if family in ("nice", "realnvp", "glow"):
        return flow.parse(["--arch", family, *argv])
    parse = {"vae": vae.parse, "dcgan": dcgan.parse, "pixelrnn": pixelrnn.parse}[family]
    return parse(argv)


def training_step(
    family: str, config: GradientConfig, model: GenerativeModel, run: Run
) -> Callable[[torch.Tensor], object]:
    """One update on a batch as ``family``'s trainer makes it."""
    if isinstance(config, dcgan.DCGANTrainConfig):
        step = dcgan.adversarial_step(run, config, model)[0]
    elif isinstance(config, pixelrnn.PixelRNNTrainConfig):
        adamw = torch.optim.AdamW(
            model.parameters(), config.lr, weight_decay=config.weight_decay, fused=True
        )
        step = gradient_step(run, model, adamw, pixelrnn_loss)
    else:  # fused, as the trainers make them
        adam = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
        step = gradient_step(run, model, adam, LOSSES[family])
    return lambda x: step(x, LoopState())


def grey_28_throughput(
    family: str, repeats: int, batch: int | None, dtype: torch.dtype | None, default: bool
) -> str:
    """A line: training images/s of ``family`` at its trainer's 28x28 configuration, at the
    trainer's batch size unless ``batch`` is given, with its networks' products in ``dtype``
    (bfloat16, or None for float32; ``default``: the trainer's own on this device), and that
    configuration."""
    config = trainer_config(family)
    cls = FAMILIES[family]
    model = cls(config_from_dict(cls.config_class, {**config.model, **GREY_28})).train()
    model.to(DEVICE)
    batch = batch or config.batch_size
    x = random_images(model, batch)
    run = Run(DEVICE, autocast_dtype=dtype)
    if isinstance(model, FlowModel):
        model.initialize(x)  # ActNorm's data-dependent init, as the trainer does first
        model.train_networks_in(run.autocast_dtype)  # as training/flow.py
    step = training_step(family, config, model, run)
    rate = batch / (median_ms(lambda: step(x), repeats) / 1000)
    how = run.precision + ("" if default else " (not the default)")
    options = " ".join(f"{k}={v}" for k, v in config.model.items())
    return f"  {family:9s} {rate:8.1f} images/s   batch {batch:3d}, {how}, {options}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64, help="the larger batch size")
    parser.add_argument("--device", default="cpu", help="auto | cpu | cuda | cuda:N (cpu)")
    parser.add_argument("--quick", action="store_true", help="one repeat at batch 8")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.batch = 1, 8
    global DEVICE
    DEVICE = resolve_device(args.device)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {load}; "
        f"on {device_label(DEVICE)}"
    )
    loaded = load_model(args.model)
    loaded.model.to(DEVICE)
    print(f"{loaded.name} ({loaded.model.family}, {'x'.join(map(str, loaded.model.image_shape))}):")
    encode_decode(loaded.model, args.repeats, args.batch)
    print(f"training throughput, batch {args.batch}:")
    for name, path in bundled_models().items():
        model = load_model(path).model
        if model.family in ("nice", "realnvp", "glow"):
            print(
                f"  {name:28s} {training_throughput(model, args.repeats, args.batch):8.0f} images/s"
            )
    print("training throughput at 1x28x28, 256 levels (python -m training.X --data fashion):")
    for family in ("nice", "realnvp", "glow", "vae", "dcgan", "pixelrnn"):
        batch = args.batch if args.quick else None
        default = autocast_dtype(trainer_config(family), DEVICE)
        dtypes = [default]
        if bfloat16_is_native(DEVICE):  # the other precision too
            dtypes.append(None if default else torch.bfloat16)
        for dtype in dtypes:
            line = grey_28_throughput(family, args.repeats, batch, dtype, dtype is dtypes[0])
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
