"""Training a convolution to few channels as a transposed one (``flow_layers.conv3x3``).

    python benchmarks/thin_conv.py [--steps 100] [--repeats 20] [--quick]

oneDNN's backward pass of a 3x3 convolution to a handful of channels (the last layer of a
coupling network: RealNVP's s/t networks, Glow's zero convolutions) is slow; the equal
transposed convolution (kernel flipped, channel axes swapped) computes the same outputs and
gradients with forward-shaped convolutions. Two parts, one torch thread:

1. Forward and backward of single convolutions at batch 64, channels-last as the flows store
   them: ``F.conv2d`` against the transposed form, for the shapes of the 28x28 trainers'
   last layers and a sweep of output channels (median milliseconds of ``--repeats``).
2. Training steps of RealNVP and Glow as ``python -m training.flow --data fashion`` builds
   them (the trainer's defaults, batch and fused Adam; random images on the level grid): two
   copies with the same weights take one step each in turn, one with ``conv3x3``'s transposed
   path switched off, ``--steps`` each; median step time of each and their ratio. In turns,
   because this machine's speed drifts by more than the difference.

``--quick`` runs a few repeats and steps (a smoke run: the figures mean nothing).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows import GREY_28, median_ms  # a sibling benchmark: this folder is on the path

from latentlab.models import flow_layers
from latentlab.models.base import config_from_dict
from latentlab.models.flow import FlowModel
from training import flow
from training.common import Run
from training.loop import LoopState, gradient_step

CPU = Run(torch.device("cpu"))  # oneDNN's convolutions are what this measures

BATCH = 64
# in channels, out channels, height, width: the 28x28 trainers' last layers (RealNVP's packed
# checkerboard at 28x14, its channel couplings at 14x14, its final scale 14x7; Glow's two
# levels), then a sweep of output channels
SHAPES = [
    (16, 2, 28, 14),
    (16, 4, 14, 14),
    (32, 4, 14, 7),
    (64, 4, 14, 14),
    (64, 8, 7, 7),
    *((64, out, 14, 14) for out in (2, 8, 12, 16, 32)),
]


@contextlib.contextmanager
def transposed_up_to(channels: int) -> Iterator[None]:
    """``conv3x3`` trains convolutions to at most ``channels`` channels transposed (0: none)."""
    limit = flow_layers.THIN_OUTPUT
    flow_layers.THIN_OUTPUT = channels
    try:
        yield
    finally:
        flow_layers.THIN_OUTPUT = limit


def convolution_ms(shape: tuple[int, int, int, int], transposed: bool, repeats: int) -> float:
    """Median forward + backward milliseconds of ``conv3x3`` on random channels-last tensors,
    plain or transposed."""
    cin, cout, height, width = shape
    last = torch.channels_last
    x = torch.randn(BATCH, cin, height, width).to(memory_format=last).requires_grad_()
    weight = torch.randn(cout, cin, 3, 3).to(memory_format=last).requires_grad_()
    bias = torch.randn(cout, requires_grad=True)
    grad = torch.randn(BATCH, cout, height, width)
    with transposed_up_to(cout if transposed else 0):
        return median_ms(lambda: flow_layers.conv3x3(x, weight, bias).backward(grad), repeats)


def paired_steps(arch: str, steps: int) -> tuple[float, float]:
    """Median step milliseconds of ``arch`` trained plainly and with transposed thin layers,
    two copies with the same weights stepping in turn."""
    config = flow.parse(["--arch", arch, "--data", "fashion", "--out", "unused.safetensors"])
    cls = flow.ARCHS[arch]
    generator = torch.Generator().manual_seed(config.seed)
    levels = torch.randint(0, 256, (BATCH, 1, 28, 28), generator=generator)
    x = levels.float() / 255
    step_fns = []
    for _ in range(2):
        torch.manual_seed(config.seed)
        model = cls(config_from_dict(cls.config_class, {**config.model, **GREY_28})).train()
        assert isinstance(model, FlowModel)
        model.initialize(x)
        adam = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
        step_fns.append(gradient_step(CPU, model, adam, lambda m, b: -m.log_prob(b).mean()))
    times: list[list[float]] = [[], []]
    for i in range(steps + 1):  # the first step of each warms up
        for which in (0, 1) if i % 2 else (1, 0):
            with transposed_up_to(flow_layers.THIN_OUTPUT if which else 0):
                start = time.perf_counter()
                step_fns[which](x, LoopState())
            if i:
                times[which].append(time.perf_counter() - start)
    plain_ms, transposed_ms = (1000 * float(np.median(t)) for t in times)
    return plain_ms, transposed_ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=100, help="per copy (%(default)s)")
    parser.add_argument("--repeats", type=int, default=20, help="per convolution (%(default)s)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: rough figures")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.repeats = 2, 2
    torch.set_num_threads(1)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"torch {torch.__version__}, 1 thread, load average {load}, batch {BATCH}")
    print("3x3 convolution, forward + backward, channels-last (in -> out channels, HxW):")
    for shape in SHAPES:
        cin, cout, height, width = shape
        a = convolution_ms(shape, False, args.repeats)
        b = convolution_ms(shape, True, args.repeats)
        print(
            f"  {cin:3d} -> {cout:2d} at {height:2d}x{width:<2d}  conv2d {a:7.2f} ms   "
            f"transposed {b:7.2f} ms   {a / b:.2f}x"
        )
    print(f"training steps at 1x28x28, 256 levels, {args.steps} each, in turns:")
    for arch in ("realnvp", "glow"):
        a, b = paired_steps(arch, args.steps)
        print(f"  {arch:8s} plain {a:7.1f} ms   thin layers transposed {b:7.1f} ms   {a / b:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
