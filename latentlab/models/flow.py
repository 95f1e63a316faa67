"""What NICE, RealNVP and Glow share beyond their layers: the multi-scale architecture and
the model protocol (dequantization, the flat latent, encode and decode).

Sources: RealNVP (Dinh, Sohl-Dickstein & Bengio 2017) §3.6, Glow (Kingma & Dhariwal 2018);
docs/families.md, Dequantization and Flows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import cast

import torch
from torch import nn

from latentlab.models.base import GenerativeModel, dequantize, level_bins
from latentlab.models.flow_layers import ActNorm, Coupling, FlowChain, FlowLayer, Split

__all__ = ["FlowModel", "MultiScale"]


class MultiScale(nn.Module):
    """The multi-scale flow (RealNVP §3.6, Glow Fig. 2): ``pre``, then per scale its block and
    (all but the last) a :class:`Split` whose second half leaves the flow, then the optional
    ``top`` (Glow's learned prior). Maps N,C,H,W to the flat latent N,D: the factored-out parts,
    finest scale first, then the top, each flattened in C,H,W order. ``shapes`` are the C,H,W of
    those parts in that order."""

    def __init__(
        self,
        pre: FlowLayer,
        blocks: Sequence[FlowChain],
        splits: Sequence[Split],
        shapes: Sequence[tuple[int, int, int]],
        top: FlowLayer | None = None,
    ) -> None:
        super().__init__()
        assert len(splits) == len(blocks) - 1 == len(shapes) - 1
        self.pre, self.top = pre, top
        self.blocks, self.splits = nn.ModuleList(blocks), nn.ModuleList(splits)
        self.shapes = [tuple(s) for s in shapes]
        self.part_sizes = [math.prod(s) for s in self.shapes]

    def _stages(self) -> tuple[list[FlowChain], list[Split]]:
        """The blocks and the splits. The casts: ModuleList's items are typed Module, and
        __init__ takes only these."""
        return cast(list[FlowChain], list(self.blocks)), cast(list[Split], list(self.splits))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        blocks, splits = self._stages()
        h, logdet = self.pre(x)
        parts = []
        for i, block in enumerate(blocks):
            h, ld = block(h)
            logdet = logdet + ld
            if i < len(splits):
                y, ld = splits[i](h)
                logdet = logdet + ld
                keep = splits[i].keep
                parts.append(y[:, keep:].flatten(1))  # N, C_out*H*W
                h = y[:, :keep]  # N, C_keep, H, W
        if self.top is not None:
            h, ld = self.top(h)
            logdet = logdet + ld
        parts.append(h.flatten(1))  # N, C_top*H*W
        return torch.cat(parts, dim=1), logdet  # N, D

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = z.new_zeros(z.shape[0])

        def step(layer: FlowLayer | FlowChain, h: torch.Tensor) -> torch.Tensor:
            nonlocal logdet
            h, ld = layer.inverse(h)
            logdet = logdet + ld
            return h

        return self._backwards(z, step), logdet

    def invert(self, z: torch.Tensor) -> torch.Tensor:
        """``inverse(z)[0]`` without the log-dets (decoding)."""
        return self._backwards(z, lambda layer, h: layer.invert(h))

    def _backwards(
        self, z: torch.Tensor, step: Callable[[FlowLayer | FlowChain, torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        """The flat latent ``z`` taken back through the flow, each layer by ``step``."""
        blocks, splits = self._stages()
        n = z.shape[0]
        parts = torch.split(z, self.part_sizes, dim=1)
        h = parts[-1].reshape(n, *self.shapes[-1])  # N, C_top, H, W
        if self.top is not None:
            h = step(self.top, h)
        for i in reversed(range(len(blocks))):
            if i < len(splits):
                out = parts[i].reshape(n, *self.shapes[i])  # N, C_out, H, W
                h = step(splits[i], torch.cat([h, out], dim=1))
            h = step(blocks[i], h)
        return step(self.pre, h)


class FlowModel(GenerativeModel):
    """The protocol for flows. Subclasses set ``self.flow``: a layer from dequantized images
    x~ in [0, 1)^D (N,C,H,W) to the flat latent (N, D) whose prior is :meth:`prior_log_prob`.

    Dequantization (docs/families.md): x~ = (k + u) / levels with k the integer level and
    u ~ U[0, 1) drawn afresh on each call, so log p(x~) - D log(levels) bounds the discrete
    log-likelihood in nats. ``encode`` uses u = 1/2 (the bin centre) and ``decode`` floors back
    to the bin, so decode(encode(x)) == x for images on the level grid.
    """

    capabilities = frozenset({"sample", "decode", "encode", "log_prob"})
    metric_name = "bits/dim"
    flow: FlowChain | MultiScale

    @property
    def latent_dim(self) -> int:
        return math.prod(self.image_shape)

    def latent_groups(self) -> list[tuple[str, int]]:
        sizes = getattr(self.flow, "part_sizes", None)
        if not sizes or len(sizes) == 1:
            return super().latent_groups()
        return [(f"scale {i + 1}", s) for i, s in enumerate(sizes[:-1])] + [("top", sizes[-1])]

    def _like(self) -> torch.Tensor:
        return next(self.parameters())

    def prior_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; 0, I) in nats per row."""
        return -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(1)

    def sample_latent(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """temperature * N(0, I): for Glow this is z = mu + T sigma eps at every level (§5)."""
        p = self._like()
        return temperature * torch.randn(
            n, self.latent_dim, generator=generator, device=p.device, dtype=p.dtype
        )

    def dequantize(self, x: torch.Tensor, noise: bool = True) -> torch.Tensor:
        """Images on the level grid -> x~ = (k + u) / levels in [0, 1), u ~ U[0, 1) or 1/2."""
        return dequantize(x, self.levels, noise, self._like().dtype)

    def log_density(self, x_tilde: torch.Tensor) -> torch.Tensor:
        """log p(x~) of the continuous model in nats per image (change of variables). In full
        precision even under an autocast (a trainer's): a 1x1 convolution rounded to bfloat16
        would no longer match its log-det; see :meth:`train_networks_in`."""
        with torch.autocast(x_tilde.device.type, enabled=False):
            z, logdet = self.flow(x_tilde)
            return self.prior_log_prob(z) + logdet

    def train_networks_in(self, dtype: torch.dtype | None) -> None:
        """While training, run the coupling layers' networks in ``dtype`` (``torch.bfloat16``:
        autocast), or in the model's own dtype (None). Only the networks: every invertible step
        and its log-det stays in full precision, and inference is unaffected."""
        for layer in self.modules():
            if isinstance(layer, Coupling):
                layer.network_dtype = dtype

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Dequantization bound on log P(x) in nats per image: log p(x~) - D log(levels)."""
        return self.log_density(self.dequantize(x)) - self.latent_dim * math.log(self.levels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Training pass (what DistributedDataParallel wraps): :meth:`log_prob`, fresh noise."""
        return self.log_prob(x)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.flow(self.dequantize(x, noise=False))[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        x_tilde = self.flow.invert(z.to(self._like().dtype))
        return level_bins(x_tilde, self.levels) / (self.levels - 1)

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """Data-dependent init of every ActNorm from the images ``x`` (Glow §3.1); a no-op for
        flows without ActNorm. Call it on one process before wrapping in DDP."""
        norms = [m for m in self.modules() if isinstance(m, ActNorm)]
        if not norms:
            return
        for m in norms:
            m.reset()
        was_training = self.training
        self.train()
        self.flow(self.dequantize(x))
        self.train(was_training)
