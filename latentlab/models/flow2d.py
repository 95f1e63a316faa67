"""Flows on 2-D points, for the lab: NICE, RealNVP and Glow built from the layers of the image
flows (``flow_layers``) applied to points viewed as N,2,1,1 tensors, i.e. two channels of one
pixel. Same layer contract: ``forward(x) -> (y, logdet)`` from data to latent (G^-1),
``inverse``.

- "nice": additive couplings y2 = x2 + t(x1) (NICE §3.2, volume-preserving), then a diagonal
  scaling layer (§3.4), the only layer that changes volume.
- "realnvp": affine couplings y2 = x2 * exp(s(x1)) + t(x1) (RealNVP §3.3), s = scale*tanh(raw).
- "glow": steps of actnorm (Glow §3.1, data-dependent init), an invertible 2x2 mixing matrix
  (the 1x1 convolution of §3.2 on two channels, LU-parametrised) and an affine coupling.

In 2-D a coupling copies one coordinate and transforms the other; consecutive couplings swap
the roles, so both coordinates change. Its Jacobian is triangular: the copied coordinate's row
is (1, 0) or (0, 1), and log|det| is the log-scale of the transformed one.
The prior is N(0, I): log p(x) = log N(G^-1(x); 0, I) + log|det dG^-1/dx| (NICE §2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from latentlab.models.flow_layers import (
    ActNorm,
    Coupling,
    DiagonalAffine,
    FlowChain,
    FlowLayer,
    InvConv1x1,
)

__all__ = ["FLOW2D_KINDS", "MAX_LAYERS", "Flow2D", "Flow2DStep", "standard_normal_log_prob"]

FLOW2D_KINDS: dict[str, str] = {
    "nice": "NICE: additive couplings + scaling",
    "realnvp": "RealNVP: affine couplings",
    "glow": "Glow: actnorm + 2x2 mixing + coupling",
}
MAX_LAYERS = 32
MAX_HIDDEN = 512
_TRANSFORM = {"nice": "additive", "realnvp": "affine-tanh", "glow": "affine-sigmoid"}
_LOG_2PI = math.log(2 * math.pi)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) of N, D points: N."""
    return -0.5 * (z.square().sum(1) + z.shape[1] * _LOG_2PI)


class _Conditioner(nn.Module):
    """The coupling network on one coordinate: an MLP 1 -> hidden -> hidden -> out on the
    N,1,1,1 copied half, returning N,out,1,1. The last layer starts at zero, so every coupling
    starts as the identity (or Glow's fixed scale)."""

    def __init__(self, hidden: int, out: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.last = nn.Linear(hidden, out)
        nn.init.zeros_(self.last.weight)
        nn.init.zeros_(self.last.bias)

    def forward(self, kept: torch.Tensor) -> torch.Tensor:
        h = self.last(self.net(kept.reshape(-1, 1)))  # N,1,1,1 -> N,1 -> N,out
        return h.view(-1, h.shape[1], 1, 1)  # N,out,1,1


@dataclass(frozen=True)
class Flow2DStep:
    """One leaf layer of a :class:`Flow2D`, as the lab names it; for a coupling, the index of
    the coordinate it copies and of the one it transforms (0 = x1, 1 = x2)."""

    label: str
    copied: int | None = None
    transformed: int | None = None


class Flow2D(nn.Module):
    """A flow on 2-D points: ``kind`` in :data:`FLOW2D_KINDS`, ``layers`` couplings (1 to
    :data:`MAX_LAYERS`), coupling networks of width ``hidden``, initialised from ``seed``."""

    def __init__(self, kind: str, layers: int, hidden: int = 64, seed: int = 0) -> None:
        super().__init__()
        if kind not in FLOW2D_KINDS:
            raise ValueError(f"unknown 2-D flow {kind!r}; known: {', '.join(FLOW2D_KINDS)}")
        if not 1 <= layers <= MAX_LAYERS:
            raise ValueError(f"layers must be between 1 and {MAX_LAYERS}, not {layers}")
        if not 1 <= hidden <= MAX_HIDDEN:
            raise ValueError(f"hidden must be between 1 and {MAX_HIDDEN}, not {hidden}")
        self.kind = kind
        transform = _TRANSFORM[kind]
        out = 1 if transform == "additive" else 2  # shift, or (raw scale, shift)
        word = "additive" if transform == "additive" else "affine"
        with torch.random.fork_rng(devices=[]):  # seed the init without touching global state
            torch.manual_seed(seed)
            modules: list[FlowLayer] = []
            steps: list[Flow2DStep] = []
            for i in range(layers):
                if kind == "glow":
                    modules += [ActNorm(2), InvConv1x1(2, lu=True)]
                    steps += [Flow2DStep("actnorm"), Flow2DStep("2x2 mixing")]
                copied = i % 2  # parity 0 keeps the first channel (x1)
                modules.append(Coupling(_Conditioner(hidden, out), transform, 2, parity=copied))
                steps.append(
                    Flow2DStep(
                        f"coupling {i + 1} ({word}): copies x{copied + 1}, "
                        f"transforms x{2 - copied}",
                        copied,
                        1 - copied,
                    )
                )
            if kind == "nice":
                modules.append(DiagonalAffine((2, 1, 1)))
                steps.append(Flow2DStep("diagonal scaling"))
        self.chain = FlowChain(modules)
        self.steps: list[Flow2DStep] = steps

    def _leaves(self) -> list[FlowLayer]:
        return list(self.chain.layers)  # type: ignore[arg-type]  # only FlowLayers were given

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data to latent: z (N, 2) and log|det dz/dx| (N)."""
        z, logdet = self.chain(x.reshape(-1, 2, 1, 1))  # N,2 -> N,2,1,1
        return z.reshape(-1, 2), logdet

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent to data: x (N, 2) and log|det dx/dz| (N)."""
        x, logdet = self.chain.inverse(z.reshape(-1, 2, 1, 1))
        return x.reshape(-1, 2), logdet

    def invert(self, z: torch.Tensor) -> torch.Tensor:
        """``inverse(z)[0]`` without the log-dets (sampling)."""
        return self.chain.invert(z.reshape(-1, 2, 1, 1)).reshape(-1, 2)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) in nats per point (N) by the change of variables."""
        z, logdet = self(x)
        return standard_normal_log_prob(z) + logdet

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` points x = G(z), z ~ N(0, I): N, 2."""
        z = torch.randn(n, 2, generator=generator, device=self._device(), dtype=self._dtype())
        return self.invert(z)

    def forward_layers(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The output (N, 2) and log-det (N) after each leaf layer: index i is after layer i
        (``steps[i]``); the log-dets add up to ``forward``'s."""
        out = []
        h = x.reshape(-1, 2, 1, 1)
        for layer in self._leaves():
            h, logdet = layer(h)
            out.append((h.reshape(-1, 2), logdet))
        return out

    def layer(self, index: int) -> FlowLayer:
        """The leaf layer ``steps[index]``, which maps N,2,1,1 tensors."""
        return self._leaves()[index]

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """Data-dependent initialisation (Glow's actnorm) from the points ``x`` (N, 2): a
        training-mode pass; layers initialised already are left as they are."""
        was_training = self.training
        self.train()
        self(x)
        self.train(was_training)

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype
