"""Inference on a GPU beside the CPU: the decode the app runs at each step of a drag, and
sampling, for every bundled model and the two imported 64x64 formats, on the CPU and on
``--device``.

    python benchmarks/devices.py [--device auto] [--hz 60] [--decodes 120] [--quick]

Each model is loaded twice: one copy stays on the CPU, the other is placed on the device as
the app's model worker places it (``latentlab.device.place_model``). For each:

- agreement: the same 16 latents (the CPU copy's samples, seed 0) decoded by both copies; the
  largest difference of a pixel, images in [0, 1]. PixelRNN has no latent: its samples on the
  device are checked to be finite and in [0, 1].
- the decode of one latent as the app's worker runs it during a drag (``ops.decode``: the latent
  to the model's device, the decode, the image back to the CPU), one started every 1/hz s
  after three to warm up: median and p99 in ms. This is the decode's part of the drag's
  latency; ``interaction.py`` measures the whole window, which needs Qt.
- samples per second, batches of 64 (PixelRNN, which paints pixel by pixel: of 8).

The imported formats are randomly initialised at their default size (``decoding.py``): the
pytorch/examples DCGAN generator (3x64x64) and a rosinality Glow (4 blocks of 32 flows, 512
channels, 3x64x64), the models a GPU is for. CPU figures use torch's threads as found.
``--device cpu`` prints the CPU alone. ``--quick`` is a smoke run: two bundled models, 5
decodes each, batches of 4.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from decoding import IMPORTED, bare_decode_ms, imported_checkpoint

from latentlab.device import device_label, place_model, resolve_device
from latentlab.explore import ops
from latentlab.importers import import_checkpoint
from latentlab.modelfile import load_model
from latentlab.models import GenerativeModel
from latentlab.resources import bundled_models

AGREEMENT_LATENTS = 16
SAMPLE_SECONDS = 1.0  # sampling is repeated for about this long (at least once, after a warm-up)


def models(folder: Path, quick: bool) -> Iterator[tuple[str, GenerativeModel]]:
    """(name, model on the CPU) of the bundled models and of the imported formats."""
    paths = list(bundled_models().items())
    for name, path in paths[:2] if quick else paths:
        yield name, load_model(path).model
    if not quick:
        for kind in IMPORTED:
            path = imported_checkpoint(kind, folder)
            yield f"imported {kind} 64x64", import_checkpoint(path, reference_size=0).model


def twin(model: GenerativeModel) -> GenerativeModel:
    """A second copy of ``model``, with the same weights."""
    return copy.deepcopy(model).eval()


def decode_ms(model: GenerativeModel, z: np.ndarray, hz: float, decodes: int) -> list[float]:
    for _ in range(3):  # warm up: a GPU's first calls pick kernels and allocate
        ops.decode(model, z[None])
    return bare_decode_ms(model, z, 1 / hz, decodes, budget_s=15.0)


def samples_per_s(model: GenerativeModel, batch: int) -> float:
    ops.sample(model, batch, seed=1)  # warm up
    count, start = 0, time.perf_counter()
    while count == 0 or time.perf_counter() - start < SAMPLE_SECONDS:
        ops.sample(model, batch, seed=2 + count)  # back on the CPU: the device has finished
        count += 1
    return count * batch / (time.perf_counter() - start)


def figures(ms: list[float]) -> str:
    return f"{np.median(ms):7.2f} {np.percentile(ms, 99):7.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    parser.add_argument("--hz", type=float, default=60.0, help="decodes per second (%(default)s)")
    parser.add_argument("--decodes", type=int, default=120, help="timed per model and device")
    parser.add_argument("--quick", action="store_true", help="a smoke run: rough figures")
    args = parser.parse_args(argv)
    batch = 4 if args.quick else 64
    if args.quick:
        args.decodes = 5
    device = resolve_device(args.device)
    other = device.type != "cpu"
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, load average {load}; "
        f"device: {device_label(device)} (--device {args.device})"
    )
    print(f"decode: one latent every {1000 / args.hz:.1f} ms, {args.decodes} timed; median p99 ms")
    columns = "model                      image     CPU decode      samples/s"
    if other:
        columns += "    device decode   samples/s  max |pixel difference|"
    print(columns)
    with tempfile.TemporaryDirectory() as folder:
        for name, model in models(Path(folder), args.quick):
            shape = "x".join(map(str, model.image_shape))
            n = max(1, batch // 8) if model.latent_dim is None else batch
            row = f"{name:26s} {shape:9s}"
            if model.latent_dim is not None:
                z, _ = ops.sample(model, AGREEMENT_LATENTS, seed=0)
                assert z is not None
                row += f" {figures(decode_ms(model, z[0], args.hz, args.decodes))}"
            else:
                row += f" {'(no latent)':>15s}"
            row += f" {samples_per_s(model, n):9.1f}"
            if other:
                moved = twin(model)
                placed, notice = place_model(moved, device)
                if notice:
                    print(f"{row}  {notice}")
                    continue
                if model.latent_dim is not None:
                    times = decode_ms(moved, z[0], args.hz, args.decodes)
                    difference = np.abs(ops.decode(moved, z) - ops.decode(model, z)).max()
                    row += f"  {figures(times)}"
                else:
                    images = ops.sample(moved, n, seed=0)[1]
                    valid = np.isfinite(images).all() and 0 <= images.min() <= images.max() <= 1
                    difference = "samples finite, in [0, 1]" if valid else "INVALID samples"
                    row += f"  {'(no latent)':>15s}"
                row += f" {samples_per_s(moved, n):11.1f}  {difference}"
                del moved
                if placed.type == "cuda":
                    torch.cuda.empty_cache()
            print(row, flush=True)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
        print(f"peak memory allocated on {device_label(device)}: {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
