"""RealNVP: real-valued non-volume preserving transformations.

Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP" (ICLR 2017).

Affine couplings y = x * exp(s(x_kept)) + t(x_kept) (§3.3) with checkerboard and channel masks
(§3.4, Fig. 3), a squeeze (§3.6) and the multi-scale architecture (§3.6, Fig. 4): per scale,
3 checkerboard couplings -> squeeze -> 3 channel couplings -> factor out half the channels,
whose prior is N(0, I); the final scale has 4 checkerboard couplings. The masks alternate so
that every unit is updated. s = scale * tanh(raw) with a learned per-channel scale (§4.1); the
s/t networks are ResNets whose width doubles at each coarser scale (§4.1).

Simplifications, for a model that decodes single latents on a CPU: no batch normalisation,
neither in the s/t networks nor on the coupling outputs (its statistics would make a decode
depend on the batch), and no weight normalisation; the last conv of each s/t net is
zero-initialised instead, so each coupling starts as the identity.

Preprocessing (§4.1): the dequantized x~ in [0, 1) is mapped to logit(alpha + (1 - 2 alpha) x~)
with alpha = 0.05, and its log-det is part of the likelihood (see ``flow_layers.Logit``).
Latent: the factored-out halves (finest scale first), then the final scale, flattened; the
prior on it is N(0, I).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from latentlab.models.base import ConfigError, ImageConfig, bounded, later_variant
from latentlab.models.flow import FlowModel, MultiScale
from latentlab.models.flow_layers import (
    Coupling,
    FlowChain,
    FlowLayer,
    FullPrecisionConv2d,
    Logit,
    Split,
    Squeeze,
    conv3x3,
    mask_tensor,
    store_channels_last,
)

__all__ = ["RealNVP", "RealNVPConfig"]

MAX_HIDDEN = 256  # the doubling per scale stops here, so that no config asks for gigabytes
ALPHA = 0.05  # logit preprocessing (RealNVP §4.1)


@dataclass
class RealNVPConfig(ImageConfig):
    scales: int = bounded(1, 0, 3, "squeeze + factor-out stages before the final scale")
    blocks: int = bounded(2, 1, 8, "residual blocks in each s/t network")
    hidden: int = bounded(
        16,
        4,
        64,
        "feature maps of the s/t networks at the first scale, "
        f"doubled at each coarser scale up to {MAX_HIDDEN}",
    )
    checkerboard: str = later_variant(
        "masked",
        "packed",
        ("masked", "packed"),
        "how a checkerboard coupling hands the copied half to its s/t network: the masked "
        "image (RealNVP §3.4), or the copied pixels of each row packed side by side (the "
        "same split and depth for half the convolution work)",
    )
    channel_split: str = later_variant(
        "masked",
        "halves",
        ("masked", "halves"),
        "how a channel coupling hands the copied half to its s/t network: every channel, the "
        "changed ones zeroed (RealNVP §3.4), or the copied channels alone, the network "
        "returning the changed channels' scale and shift only (the same split, no convolution "
        "of zeros)",
    )

    def check(self) -> None:
        size = 2**self.scales
        if self.height % size or self.width % size:
            raise ConfigError(
                f"RealNVP with {self.scales} scale(s) needs image height and "
                f"width divisible by {size}"
            )
        if self.height // size < 2 or self.width // size < 2:
            raise ConfigError(
                "RealNVP's final scale needs at least 2x2 pixels for its "
                "checkerboard; use fewer scales"
            )


class ResNet(nn.Module):
    """The s/t network: conv3x3 -> residual blocks (ReLU, conv3x3, ReLU, conv3x3) -> ReLU ->
    zero-initialised conv3x3 with ``out_channels`` = raw scale and shift stacked."""

    def __init__(self, in_channels: int, out_channels: int, hidden: int, blocks: int) -> None:
        super().__init__()
        self.inp = FullPrecisionConv2d(in_channels, hidden, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.ReLU(),
                nn.Conv2d(hidden, hidden, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(hidden, hidden, 3, padding=1),
            )
            for _ in range(blocks)
        )
        self.out = nn.Conv2d(hidden, out_channels, 3, padding=1)
        assert self.out.bias is not None  # nn.Conv2d has a bias unless bias=False
        nn.init.zeros_(self.out.weight)  # s = t = 0: the coupling starts as the identity
        nn.init.zeros_(self.out.bias)
        store_channels_last(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x.contiguous(memory_format=torch.channels_last))
        for block in self.blocks:
            h = block(h).add_(h)  # in place: a convolution's backward needs no output of it
        h = conv3x3(torch.relu(h), self.out.weight, self.out.bias)
        return h.contiguous()  # back to NCHW for the coupling


class RealNVP(FlowModel):
    """RealNVP (Dinh, Sohl-Dickstein & Bengio 2017) for images whose sides divide by
    2**scales; e.g. 1x8x8 digits with 1 scale (squeeze to 4x4x4) or 3x32x32 with 1 to 3."""

    family = "realnvp"
    config_class = RealNVPConfig

    @classmethod
    def tiny_config(cls) -> RealNVPConfig:
        return RealNVPConfig(
            height=4,
            width=4,
            scales=1,
            blocks=1,
            hidden=4,
            checkerboard="packed",
            channel_split="halves",
        )

    def __init__(self, config: RealNVPConfig) -> None:
        super().__init__(config)
        c = config
        ch, h, w = c.channels, c.height, c.width
        blocks, splits, shapes = [], [], []
        for scale in range(c.scales):
            hidden = min(c.hidden * 2**scale, MAX_HIDDEN)
            layers: list[FlowLayer] = [
                self._coupling("checkerboard", ch, h, w, i % 2, hidden) for i in range(3)
            ]
            layers.append(Squeeze())
            ch, h, w = 4 * ch, h // 2, w // 2  # C,H,W -> 4C,H/2,W/2
            layers += [self._coupling("channel", ch, h, w, i % 2, hidden) for i in range(3)]
            blocks.append(FlowChain(layers))
            splits.append(Split(ch, learned=False))  # factor out half: prior N(0, I)
            shapes.append((ch - ch // 2, h, w))
            ch = ch // 2  # 4C -> 2C channels go on
        hidden = min(c.hidden * 2**c.scales, MAX_HIDDEN)
        blocks.append(
            FlowChain([self._coupling("checkerboard", ch, h, w, i % 2, hidden) for i in range(4)])
        )
        shapes.append((ch, h, w))
        self.flow = MultiScale(Logit(ALPHA), blocks, splits, shapes)

    def _coupling(self, kind: str, ch: int, h: int, w: int, parity: int, hidden: int) -> Coupling:
        if kind == "channel" and self.config.channel_split == "halves":
            # parity 0 keeps the first ch // 2 channels (Coupling's split by halves)
            kept = ch // 2 if parity == 0 else ch - ch // 2
            net = ResNet(kept, 2 * (ch - kept), hidden, self.config.blocks)
            return Coupling(net, "affine-tanh", ch, parity=parity)
        # the checkerboard is shared by all channels; the channel mask by all pixels
        mask = (
            mask_tensor(kind, 1, h, w, parity)
            if kind == "checkerboard"
            else mask_tensor(kind, ch, 1, 1, parity)
        )  # 1, 1, H, W or 1, C, 1, 1
        net = ResNet(ch, 2 * ch, hidden, self.config.blocks)
        packed = kind == "checkerboard" and self.config.checkerboard == "packed"
        return Coupling(net, "affine-tanh", ch, mask=mask, parity=parity, packed=packed)
