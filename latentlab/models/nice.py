"""NICE: Non-linear Independent Components Estimation.

Dinh, Krueger & Bengio, "NICE: Non-linear Independent Components Estimation" (2014).

The image is a flat vector of D = C*H*W values. Additive couplings (§3.2) alternate the
roles of two halves of a fixed partition (odd/even indices of the flattened vector as in the
paper's §5.1, or a checkerboard); each coupling function m is a ReLU MLP with a linear output
(§5.1) that reads only the kept half and writes only the other. A diagonal scaling layer on
top (§3.4) is the only change of volume. The prior is the factorial standard logistic (§3.5):

    log p(h) = sum_d -softplus(h_d) - softplus(-h_d)

Latent convention (differs from the other flows, whose latent is N(0, I) noise): the flat
latent is h itself, so the prior on it is the logistic; :meth:`NICE.sample_latent` draws
temperature * Logistic(0, 1). Input: x~ - 1/2 for the dequantized x~ in [0, 1) (log-det 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from latentlab.models.base import ConfigError, ImageConfig, bounded
from latentlab.models.flow import FlowModel
from latentlab.models.flow_layers import (
    Centre,
    Coupling,
    DiagonalAffine,
    Flatten,
    FlowChain,
    FlowLayer,
    FullPrecisionLinear,
    mask_values,
)

__all__ = ["NICE", "NICEConfig"]

MAX_DIM = 4096  # a fully connected flow: up to 1x64x64 or 3x32x32 images


@dataclass
class NICEConfig(ImageConfig):
    couplings: int = bounded(4, 2, 8, "additive coupling layers (the paper uses 4)")
    hidden: int = bounded(128, 8, 1024, "units per hidden layer of each coupling MLP")
    depth: int = bounded(3, 1, 6, "hidden layers per coupling MLP (the paper: 4 or 5)")
    partition: str = field(
        default="alternate",
        metadata={
            "choices": ("alternate", "checkerboard"),
            "doc": "odd/even flattened indices (the paper) or a per-channel checkerboard",
        },
    )

    def check(self) -> None:
        dim = self.channels * self.height * self.width
        if dim > MAX_DIM:
            raise ConfigError(
                f"NICE is fully connected: images of at most {MAX_DIM} values (C*H*W), got {dim}"
            )


class PartitionMLP(nn.Module):
    """The coupling function m of NICE: reads the kept coordinates, returns a tensor shaped like
    the input that holds m(x_kept) at the changed coordinates and zeros elsewhere."""

    keep: torch.Tensor  # non-persistent buffers: indices into the flattened input
    change: torch.Tensor

    def __init__(self, keep: list[int], change: list[int], hidden: int, depth: int) -> None:
        super().__init__()
        # from Python lists, not nonzero(): this must build on the meta device too
        self.register_buffer("keep", torch.tensor(keep, dtype=torch.int64), persistent=False)
        self.register_buffer("change", torch.tensor(change, dtype=torch.int64), persistent=False)
        layers: list[nn.Module] = [FullPrecisionLinear(len(keep), hidden), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(hidden, hidden), nn.ReLU()]
        last = nn.Linear(hidden, len(change))
        nn.init.zeros_(last.weight)  # the coupling starts as the identity
        nn.init.zeros_(last.bias)
        self.mlp = nn.Sequential(*layers, last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)  # N, D
        m = self.mlp(flat.index_select(1, self.keep))  # N, |I2|; bfloat16 under autocast
        # the coupling adds in the input's precision (CUDA's index_copy wants equal dtypes)
        out = flat.new_zeros(flat.shape).index_copy(1, self.change, m.to(flat.dtype))  # N, D
        return out.view_as(x)  # N, C, H, W


class NICE(FlowModel):
    """NICE (Dinh, Krueger & Bengio 2014) on images of any C, H, W with C*H*W <= 4096."""

    family = "nice"
    config_class = NICEConfig

    @classmethod
    def tiny_config(cls) -> NICEConfig:
        return NICEConfig(height=4, width=4, couplings=2, hidden=8, depth=1)

    def __init__(self, config: NICEConfig) -> None:
        super().__init__(config)
        c = config
        shape = (c.channels, c.height, c.width)
        layers: list[FlowLayer] = [Centre()]
        for i in range(c.couplings):
            # alternate which half is kept (§3.3: at least 3 layers for full mixing)
            values = mask_values(c.partition, *shape, parity=i % 2)
            keep = [k for k, v in enumerate(values) if v]
            change = [k for k, v in enumerate(values) if not v]
            mask = torch.tensor(values).view(1, *shape)  # 1, C, H, W
            net = PartitionMLP(keep, change, c.hidden, c.depth)
            layers.append(Coupling(net, "additive", c.channels, mask=mask))
        layers += [DiagonalAffine(shape), Flatten(shape)]  # scaling (§3.4), then N, D
        self.flow = FlowChain(layers)

    def prior_log_prob(self, h: torch.Tensor) -> torch.Tensor:
        """Factorial standard logistic (NICE §3.5), nats per row."""
        return -(F.softplus(h) + F.softplus(-h)).sum(1)

    def sample_latent(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """temperature * Logistic(0, 1) by inverse CDF: logit(u), u ~ U(0, 1)."""
        p = self._like()
        u = torch.rand(n, self.latent_dim, generator=generator, device=p.device, dtype=p.dtype)
        return temperature * torch.logit(u, eps=1e-6)  # eps: u = 0 would give -inf
