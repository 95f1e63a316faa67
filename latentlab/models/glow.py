"""Glow: generative flow with invertible 1x1 convolutions.

Kingma & Dhariwal, "Glow: Generative Flow with Invertible 1x1 Convolutions" (NeurIPS 2018),
following its code (openai/glow ``model.py``) where the two differ (docs/families.md, Flows).

L levels (Fig. 2b), each: squeeze -> K steps of flow -> split, except the last, which has no
split. A step of flow (Fig. 2a, Table 1) is ActNorm -> invertible 1x1 conv (LU-decomposed by
default; a full matrix, or the fixed "reverse"/"shuffle" permutations of the paper's ablation,
on request) -> coupling on channel halves, affine with scale sigmoid(raw + 2) as in the code
(the paper writes exp) or additive. The coupling network is conv3x3 -> ReLU -> conv1x1 -> ReLU
-> zero-initialised conv3x3 with a learned per-channel gain (openai ``conv2d_zeros``).
Each split whitens the factored-out half under a conditional Gaussian N(mu, sigma) from a
zero-initialised conv of the kept half; the top has a learned constant mean and log-sd per
position and channel (``learntop``) or N(0, I).

Imported models (rosinality/glow-pytorch, :mod:`latentlab.importers.glow`) pad the input of
every zero-initialised convolution with ones instead of zeros (``zero_padding``).

Input: x~ - 1/2 for the dequantized x~ in [0, 1) (openai/glow ``preprocess``).
Latent: eps = (h - mu) / sigma for each level's factored-out half (finest first), then the
top, each flattened in C,H,W order. Its prior is exactly N(0, I), so sampling at temperature
T (Glow §5: z = mu + T sigma eps) is decode(T * randn).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from latentlab.models.base import ConfigError, ImageConfig, bounded, imported_variant
from latentlab.models.flow import FlowModel, MultiScale
from latentlab.models.flow_layers import (
    ActNorm,
    Centre,
    Coupling,
    DiagonalAffine,
    FlowChain,
    FlowLayer,
    FullPrecisionConv2d,
    InvConv1x1,
    Permute,
    Split,
    Squeeze,
    ZeroConv2d,
    conv3x3,
    store_channels_last,
)

__all__ = ["Glow", "GlowConfig", "OnePaddedZeroConv2d"]

ACTNORM_LOGSCALE_FACTOR = 3.0  # openai/glow actnorm stores log s / 3
ZERO_PADDINGS = ("zeros", "ones")


@dataclass
class GlowConfig(ImageConfig):
    scales: int = bounded(2, 1, 5, "levels L: squeeze, K steps of flow, split (not the last)")
    steps: int = bounded(8, 1, 32, "steps of flow K per level")
    hidden: int = bounded(64, 4, 512, "width of the coupling networks (the paper: 512)")
    coupling: str = field(
        default="affine", metadata={"choices": ("affine", "additive"), "doc": "coupling transform"}
    )
    permutation: str = field(
        default="lu",
        metadata={
            "choices": ("lu", "plain", "reverse", "shuffle"),
            "doc": "1x1 conv (LU or full matrix) or a fixed channel permutation",
        },
    )
    learn_top: bool = field(
        default=True, metadata={"doc": "learned top prior (learntop) instead of N(0, I)"}
    )
    zero_padding: str = imported_variant(
        "zeros",
        ZERO_PADDINGS,
        "what the zero-initialised convolutions pad their input with: zeros, or ones as "
        "rosinality/glow-pytorch does",
    )

    def check(self) -> None:
        size = 2**self.scales
        if self.height % size or self.width % size:
            raise ConfigError(
                f"Glow with {self.scales} level(s) needs image height and width divisible by {size}"
            )


class OnePaddedZeroConv2d(ZeroConv2d):
    """:class:`ZeroConv2d` whose input is padded with ones instead of zeros, as
    rosinality/glow-pytorch's ``ZeroConv2d`` does (``F.pad(x, [1, 1, 1, 1], value=1)``, then an
    unpadded 3x3 convolution): its outputs at the border differ from the inside even for a
    constant input. Same parameters and state-dict names as :class:`ZeroConv2d`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv3x3(F.pad(x, [1, 1, 1, 1], value=1.0), *self.scaled(), padding=0)


def zero_conv(in_channels: int, out_channels: int, padding: str = "zeros") -> ZeroConv2d:
    """Glow's zero-initialised convolution, its input padded with ``padding`` (zeros, ones)."""
    if padding == "ones":
        return OnePaddedZeroConv2d(in_channels, out_channels)
    return ZeroConv2d(in_channels, out_channels)


class CouplingNet(nn.Module):
    """NN() of Glow's coupling (§3.3): conv3x3 -> ReLU -> conv1x1 -> ReLU -> ZeroConv2d."""

    def __init__(
        self, in_channels: int, out_channels: int, hidden: int, zero_padding: str = "zeros"
    ) -> None:
        super().__init__()
        self.net = nn.Sequential(
            FullPrecisionConv2d(in_channels, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 1),
            nn.ReLU(),
            zero_conv(hidden, out_channels, zero_padding),
        )
        store_channels_last(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net(x.contiguous(memory_format=torch.channels_last))
        return h.contiguous()  # back to NCHW for the coupling


class Glow(FlowModel):
    """Glow (Kingma & Dhariwal 2018) for images whose sides divide by 2**scales; e.g. 3x32x32
    with L=3 or 1x8x8 digits with L=2."""

    family = "glow"
    config_class = GlowConfig
    default_temperature = 0.7  # the paper's samples use T = 0.7 (§5, Fig. 8): fewer artefacts

    @classmethod
    def tiny_config(cls) -> GlowConfig:
        return GlowConfig(channels=3, height=4, width=4, scales=2, steps=1, hidden=4)

    def __init__(self, config: GlowConfig) -> None:
        super().__init__(config)
        c = config
        ch, h, w = c.channels, c.height, c.width
        blocks, splits, shapes = [], [], []
        for level in range(c.scales):
            ch, h, w = 4 * ch, h // 2, w // 2  # squeeze: C,H,W -> 4C,H/2,W/2
            blocks.append(FlowChain([Squeeze(), *(self._step(ch) for _ in range(c.steps))]))
            if level < c.scales - 1:
                split = Split(ch, learned=True)
                if c.zero_padding != "zeros":
                    split.prior = zero_conv(split.keep, 2 * (ch - split.keep), c.zero_padding)
                splits.append(split)
                shapes.append((ch - ch // 2, h, w))  # the factored-out half
                ch = ch // 2
        shapes.append((ch, h, w))  # the top
        top = DiagonalAffine((ch, h, w), shift=True) if c.learn_top else None
        self.flow = MultiScale(Centre(), blocks, splits, shapes, top)

    def _step(self, ch: int) -> FlowChain:
        """One step of flow (Glow Table 1): actnorm -> 1x1 conv -> coupling."""
        c = self.config
        if c.permutation in ("lu", "plain"):
            mix: FlowLayer = InvConv1x1(ch, lu=c.permutation == "lu")
        else:
            mix = Permute(ch, c.permutation)
        changed = ch - ch // 2
        pad = c.zero_padding
        if c.coupling == "additive":
            coupling = Coupling(CouplingNet(ch // 2, changed, c.hidden, pad), "additive", ch)
        else:
            net = CouplingNet(ch // 2, 2 * changed, c.hidden, pad)
            coupling = Coupling(net, "affine-sigmoid", ch)
        return FlowChain([ActNorm(ch, ACTNORM_LOGSCALE_FACTOR), mix, coupling])
