"""Image-flow training throughput beside a peer: RealNVP and Glow, ours as ``python -m
training.flow --arch X --data fashion`` builds them, side by side with the normflows library
at equal depth, width and batch, each trained for the same wall-clock time in nine
alternating turns (the development machine's speed drifts over minutes: a model trained
wholly after the other would meet another machine).

    python benchmarks/flows_peer.py [--seconds 60] [--threads 1] [--test-images 1000]
                                    [--device cpu] [--compile] [--quick]

normflows is optional and only for this benchmark (it is no dependency of LatentLab):
``.venv/bin/pip install normflows -c constraints.txt``. Without it, ours is printed alone.

Data: Fashion-MNIST 1x28x28 with 256 levels (digits 1x8x8 with 17 levels if Fashion-MNIST is
not installed). Both models see the same minibatches (uniform draws from the training split,
seeded), the same uniform dequantization x~ = (k + u) / levels, u ~ U[0, 1) (ours draws it
inside ``FlowModel.log_prob``, theirs gets it from the same function), the same loss (the
NLL of x~ in nats + D ln(levels) per image), the same update (``training.loop.gradient_step``:
Adam at the trainer's learning rate, gradient norm clipped at 100) and the same torch threads.
Before training, each model sees the same 512 training images once: both libraries' ActNorm
initialises from the first batch it sees (ours as ``FlowModel.initialize`` does in the trainer).
Each then takes one untimed training step.

Bits/dim = (NLL of x~ in nats + D ln(levels)) / (D ln 2) on the first ``--test-images`` test
images, after the budget, with the same dequantization noise for both (seeded).

normflows' counterparts, from its documented blocks:
- RealNVP: per scale, 3 ``AffineCouplingBlock``s with alternating checkerboard splits, a
  ``Squeeze``, 3 with alternating channel splits, a ``Merge`` factoring out half the channels;
  4 checkerboard couplings at the final scale; ``transforms.Logit`` with our alpha; fixed
  ``DiagGaussian`` bases. Each coupling network is a ``nets.ConvNet2d`` with as many 3x3
  convolutions as our ResNet (2 * blocks + 2) at the same width, without its residual
  connections (normflows has no convolutional ResNet). Both checkerboard splits hand the
  coupling network half-width images (ours with ``--checkerboard packed``, the trainer's
  default; normflows also alternates the checkerboard across channels); its scale is
  exp(raw), ours scale * tanh(raw) (RealNVP §4.1).
- Glow: per level, ``Squeeze`` and K ``GlowBlock``s (ActNorm, LU 1x1 convolution, affine
  coupling with sigmoid(raw + 2) scale, conv3x3 -> ReLU -> conv1x1 -> ReLU -> zero conv3x3 at
  the same width), ``Merge`` between levels, ``transforms.Shift`` (x~ - 1/2, as ours) and
  ``GlowBase`` bases (a learned mean and scale per channel). Differences: our split prior is
  conditional on the kept half and our top prior is learned per position and channel.
The parameter counts of both are printed.

Ours trains as the trainer does by default (``--precision auto``): on a processor with native
bfloat16 products (AVX512-BF16 or AMX) the coupling networks' products in bfloat16 (autocast)
but for their first layers, the rest of the flow in float32; elsewhere all in float32. On such
a processor ours also trains in float32 (``--precision float32``) from the same weights, a
third contender in the same turns.

``--compile`` adds ours once more, from the same weights at the default precision, its training
pass compiled with ``torch.compile`` (the trainers do not compile): a measurement of what
compiling would gain; the compilation happens in the untimed step.

``--device`` trains all of them on a GPU instead (``auto`` takes one if there is one), with the
data on it; each turn ends when the device has finished its queued steps. There ours trains in
float32 by default (``--precision auto``), and in bfloat16 as the third contender.

Target (issue 14): ours at least 1.2x their images/s at equal or better bits/dim (within
``BPD_TOLERANCE``). ``--quick`` trains each for half a second and tests on 64 images (a smoke run:
the figures mean nothing).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows import finished  # a sibling benchmark: this folder is on the path

from latentlab.data.dataset import DataError, Split
from latentlab.data.digits import load_digits_split
from latentlab.data.fashion import load_fashion_split
from latentlab.device import device_label, resolve_device
from latentlab.models.base import bits_per_dim, dequantize
from latentlab.models.flow import FlowModel
from latentlab.models.glow import GlowConfig
from latentlab.models.realnvp import ALPHA, MAX_HIDDEN, RealNVPConfig
from training import flow
from training.common import (
    Run,
    as_float_tensor,
    autocast_dtype,
    bfloat16_is_native,
    model_config,
)
from training.loop import LoopState, gradient_step

TARGET_RATIO = 1.2  # ours / theirs images/s
BPD_TOLERANCE = 0.02  # bits/dim ours may be above theirs and still count as equal
INIT_IMAGES = 512  # ActNorm's data-dependent init, as training.flow does
SLICES = 9  # turns each model trains for, alternating
COMPILED = "ours compiled"  # the contender of --compile
TEST_SEED = 1234  # the dequantization noise of the test evaluation, the same for both
EVAL_BATCH = 256

LogProb = Callable[[torch.Tensor], torch.Tensor]


def load_images() -> tuple[Split, str]:
    """Fashion-MNIST, or digits when it is not installed; with a description."""
    try:
        return load_fashion_split(), "Fashion-MNIST"
    except DataError as exc:
        print(f"Fashion-MNIST unavailable ({exc}); using digits instead")
        return load_digits_split(), "digits"


def build_ours(arch: str, split: Split, data: str) -> tuple[FlowModel, flow.FlowTrainConfig]:
    """Our model and its trainer config, as ``python -m training.flow --arch arch`` builds
    them for this data."""
    config = flow.parse(["--arch", arch, "--data", data, "--out", "unused.safetensors"])
    cls = flow.ARCHS[arch]
    torch.manual_seed(config.seed)
    model = cls(model_config(config, cls.config_class, split.train))
    assert isinstance(model, FlowModel)
    return model, config


def their_realnvp(config: RealNVPConfig) -> nn.Module:
    import normflows as nf

    def coupling(channels: int, hidden: int, split_mode: str) -> nn.Module:
        kept = channels if "checkerboard" in split_mode else channels // 2
        widths = (kept, *(hidden,) * (2 * config.blocks + 1), 2 * kept)
        net = nf.nets.ConvNet2d(widths, (3,) * (2 * config.blocks + 2), init_zeros=True)
        return nf.flows.AffineCouplingBlock(net, scale_map="exp", split_mode=split_mode)

    def alternating(kind: str, n: int, channels: int, hidden: int) -> list[nn.Module]:
        return [coupling(channels, hidden, kind + ("_inv" if i % 2 else "")) for i in range(n)]

    c, h, w = config.channels, config.height, config.width
    levels, shapes = [], []  # finest first; each level's layers in the data -> latent order
    for scale in range(config.scales):
        hidden = min(config.hidden * 2**scale, MAX_HIDDEN)
        layers = [*alternating("checkerboard", 3, c, hidden), nf.flows.Squeeze()]
        c, h, w = 4 * c, h // 2, w // 2
        levels.append(layers + alternating("channel", 3, c, hidden))
        shapes.append((c - c // 2, h, w))  # factored out by the Merge below this level
        c //= 2
    hidden = min(config.hidden * 2**config.scales, MAX_HIDDEN)
    levels.append(alternating("checkerboard", 4, c, hidden))
    shapes.append((c, h, w))
    # normflows lists levels coarsest first, each in the latent -> data order
    return nf.MultiscaleFlow(
        [nf.distributions.DiagGaussian(s, trainable=False) for s in reversed(shapes)],
        [list(reversed(layers)) for layers in reversed(levels)],
        [nf.flows.Merge() for _ in range(config.scales)],
        transform=nf.transforms.Logit(alpha=ALPHA),
        class_cond=False,
    )


def their_glow(config: GlowConfig) -> nn.Module:
    import normflows as nf

    c, h, w = config.channels, config.height, config.width
    levels, shapes = [], []  # finest first; each level's layers in the data -> latent order
    for level in range(config.scales):
        c, h, w = 4 * c, h // 2, w // 2
        steps = [nf.flows.GlowBlock(c, config.hidden, scale=True) for _ in range(config.steps)]
        levels.append([nf.flows.Squeeze(), *steps])
        if level < config.scales - 1:
            shapes.append((c - c // 2, h, w))
            c //= 2
    shapes.append((c, h, w))
    return nf.MultiscaleFlow(
        [nf.distributions.GlowBase(s) for s in reversed(shapes)],
        [list(reversed(layers)) for layers in reversed(levels)],
        [nf.flows.Merge() for _ in range(config.scales - 1)],
        transform=nf.transforms.Shift(),
        class_cond=False,
    )


def their_log_prob(model: nn.Module, levels: int) -> LogProb:
    """normflows' model under our bound: log p(x~) - D ln(levels), nats per image."""

    def log_prob(x: torch.Tensor) -> torch.Tensor:
        x_tilde = dequantize(x, levels)  # a fresh tensor: normflows' Shift works in place
        return model.log_prob(x_tilde, None) - x[0].numel() * math.log(levels)

    return log_prob


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def trainer(
    model: nn.Module,
    log_prob: LogProb,
    lr: float,
    train: torch.Tensor,
    batch: int,
    seed: int,
    compiled: bool = False,
) -> Callable[[float], tuple[int, float]]:
    """A function that trains ``model`` (on the device ``train`` is on) for about the seconds it
    is given, from where its last call stopped, and returns the (images, seconds) of training
    so far, all its calls together. Its first call first takes one untimed step, in which a
    ``compiled`` model (``torch.compile`` of ``log_prob``) compiles its training pass."""
    run = Run(train.device)
    model.to(run.device)
    with torch.no_grad():  # data-dependent init, the same images for both
        log_prob(train[:INIT_IMAGES])
    # compiled after the init, so that ActNorm's first-batch branch is not traced
    loss_of = torch.compile(log_prob) if compiled else log_prob
    adam = torch.optim.Adam(model.parameters(), lr=lr, fused=True)  # as the trainers
    step = gradient_step(run, model, adam, lambda _, x: -loss_of(x).mean())
    generator = torch.Generator().manual_seed(seed)
    images, elapsed, warm = 0, 0.0, False

    def train_for(seconds: float) -> tuple[int, float]:
        nonlocal images, elapsed, warm
        if not warm:  # the untimed step
            warm = True
            drawn = torch.randint(len(train), (batch,), generator=generator)
            step(train[drawn.to(run.device)], LoopState())
            finished(run.device)
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            drawn = torch.randint(len(train), (batch,), generator=generator)
            step(train[drawn.to(run.device)], LoopState())
            images += batch
        finished(run.device)
        elapsed += time.perf_counter() - start
        return images, elapsed

    return train_for


@torch.no_grad()
def test_bits_per_dim(log_prob: LogProb, test: torch.Tensor) -> float:
    torch.manual_seed(TEST_SEED)
    nats = -torch.cat([log_prob(part) for part in test.split(EVAL_BATCH)]).double().mean()
    c, h, w = test.shape[1:]
    return bits_per_dim(nats.item(), (c, h, w))


def compare(
    arch: str,
    split: Split,
    data: str,
    train: torch.Tensor,
    test: torch.Tensor,
    have_normflows: bool,
    seconds: float,
    slices: int,
    compiled: bool = False,
) -> None:
    ours, config = build_ours(arch, split, data)
    options = " ".join(f"{k}={v}" for k, v in config.model.items())
    print(f"\n{arch}: {options}; batch {config.batch_size}, Adam lr {config.lr:g}")
    # ours with --precision auto and, where this processor multiplies bfloat16 natively, with
    # the other precision too
    default = autocast_dtype(config, train.device)
    precisions = {"ours": default}
    contenders: list[tuple[str, FlowModel | nn.Module, LogProb]] = [("ours", ours, ours.log_prob)]
    if bfloat16_is_native(train.device):  # the same weights to start from
        other = build_ours(arch, split, data)[0]
        dtype = None if default else torch.bfloat16
        name = f"ours {'bf16' if dtype else 'fp32'}"
        contenders.append((name, other, other.log_prob))
        precisions[name] = dtype
    if compiled:  # ours at the default precision, its training pass compiled
        other = build_ours(arch, split, data)[0]
        contenders.append((COMPILED, other, other.log_prob))
        precisions[COMPILED] = default
    if have_normflows:
        build = their_glow if arch == "glow" else their_realnvp
        torch.manual_seed(config.seed)
        theirs = build(ours.config)
        contenders.append(("normflows", theirs, their_log_prob(theirs, ours.levels)))
    for _, model, _ in contenders:
        model.train()
    trainers = {
        name: trainer(
            model, log_prob, config.lr, train, config.batch_size, config.seed, name == COMPILED
        )
        for name, model, log_prob in contenders
    }
    for name, model, _ in contenders:
        if isinstance(model, FlowModel):  # after the init pass, as training/flow.py
            model.train_networks_in(precisions[name])
    # in turns, so that all meet the same load: the machine's speed drifts over minutes
    for _ in range(slices):
        trained = {name: train_for(seconds / slices) for name, train_for in trainers.items()}
    rates, bpds = {}, {}
    for name, model, log_prob in contenders:
        model.eval()
        images, elapsed = trained[name]
        rates[name], bpds[name] = images / elapsed, test_bits_per_dim(log_prob, test)
        print(
            f"  {name:13s} {parameters(model):9,d} parameters {rates[name]:8.1f} images/s "
            f"({images // config.batch_size} steps in {elapsed:.1f} s)   "
            f"test bits/dim {bpds[name]:.4f}"
        )
    if not have_normflows:
        return
    for name, dtype in precisions.items():
        ratio = rates[name] / rates["normflows"]
        met = ratio >= TARGET_RATIO and bpds[name] <= bpds["normflows"] + BPD_TOLERANCE
        precision = "bfloat16" if dtype else "float32"
        how = {
            "ours": "the trainer's default",
            COMPILED: "the trainer's default, compiled",
        }.get(name, f"--precision {precision}")
        print(
            f"  {name}/normflows {ratio:.2f}x images/s, bits/dim difference "
            f"{bpds[name] - bpds['normflows']:+.4f} ({precision} "
            f"coupling networks, {how}); target (>= {TARGET_RATIO}x and bits/dim <= theirs + "
            f"{BPD_TOLERANCE}): {'met' if met else 'missed'}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="per model (%(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (%(default)s)")
    parser.add_argument("--test-images", type=int, default=1000, help="(%(default)s)")
    parser.add_argument("--device", default="cpu", help="auto | cpu | cuda | cuda:N (cpu)")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also ours with its training pass compiled (torch.compile), at the default precision",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: rough figures")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    if args.quick:
        args.seconds, args.test_images = 0.5, 64
    torch.set_num_threads(args.threads)
    try:
        import normflows  # noqa: F401

        have_normflows = True
    except ImportError:
        have_normflows = False
    split, name = load_images()
    data = "fashion" if name == "Fashion-MNIST" else "digits"
    train = as_float_tensor(split.train).to(device)
    test = as_float_tensor(split.test)[: args.test_images].to(device)
    levels = split.train.levels
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"{name} {'x'.join(map(str, split.train.image_shape))}, {levels} levels: "
        f"{len(split.train)} training images, test bits/dim on the first {len(test)} test images"
    )
    print(
        f"both: x~ = (k + u) / {levels}, u ~ U[0, 1); bits/dim = (NLL of x~ in nats + "
        f"D ln {levels}) / (D ln 2); {args.seconds:g} s of training each; torch "
        f"{torch.__version__}, {torch.get_num_threads()} thread(s), load average {load}; on "
        f"{device_label(device)}"
    )
    for arch in ("realnvp", "glow"):
        slices = 1 if args.quick else SLICES
        compare(arch, split, data, train, test, have_normflows, args.seconds, slices, args.compile)
    if not have_normflows:
        print(
            "\nnormflows is not installed: only ours was measured "
            "(.venv/bin/pip install normflows -c constraints.txt)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
