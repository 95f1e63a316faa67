"""Invertible layers shared by NICE, RealNVP and Glow (the protocol they share is in
``latentlab.models.flow``).

One contract for every layer (docs/families.md). ``forward`` goes from data towards the latent:

    forward(x) -> (y, logdet)   logdet = log|det dy/dx| per sample, shape N
    inverse(y) -> (x, logdet)   logdet = log|det dx/dy|, the negative of the forward one
    invert(y) -> x              inverse(y)'s x alone: decoding needs no log-det

so log p(x) = log p_Z(f(x)) + the sum of the forward log-dets (change of variables, NICE
§2, Dinh, Krueger & Bengio 2014). Learned priors are layers too: whitening
eps = (h - mu) / sigma is an affine bijection with log-det -sum(log sigma), so every flow here
ends in noise whose prior is exactly N(0, I) (NICE's logistic prior aside).

Sources: NICE (Dinh, Krueger & Bengio 2014), RealNVP (Dinh, Sohl-Dickstein & Bengio 2017),
Glow (Kingma & Dhariwal 2018) and its code (openai/glow); docs/families.md, Flows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Self, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "TRANSFORMS",
    "ActNorm",
    "Centre",
    "Coupling",
    "DiagonalAffine",
    "Flatten",
    "FlowChain",
    "FlowLayer",
    "FullPrecisionConv2d",
    "FullPrecisionLinear",
    "InvConv1x1",
    "Logit",
    "Permute",
    "Split",
    "Squeeze",
    "ZeroConv2d",
    "conv3x3",
    "mask_tensor",
    "mask_values",
    "store_channels_last",
]

TRANSFORMS = ("additive", "affine-tanh", "affine-sigmoid")
THIN_OUTPUT = 8  # conv3x3 trains a convolution to at most this many channels as a transposed one


def _sum(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).sum(1)  # N, ... -> N


def _on_meta() -> bool:
    """True while building under ``with torch.device("meta")`` (model-file checks): there we
    only need shapes, and ops such as sign or QR would load torch's slow meta decompositions."""
    return torch.empty(0).device.type == "meta"


def mask_values(kind: str, channels: int, height: int, width: int, parity: int) -> list[float]:
    """A binary partition of C*H*W positions (1 = kept, conditions the coupling), in C,H,W order.

    "checkerboard": (i + j) even (RealNVP Fig. 3, left); "channel": the first half of the
    channels (Fig. 3, right); "alternate": even indices of the flattened vector (NICE §5.1).
    ``parity`` 1 swaps the roles. Built from Python lists so that it works on the meta device.
    """

    def kept(c: int, i: int, j: int) -> bool:
        if kind == "checkerboard":
            return (i + j) % 2 == 0
        if kind == "channel":
            return c < channels // 2
        if kind == "alternate":
            return ((c * height + i) * width + j) % 2 == 0
        raise ValueError(f"unknown mask kind {kind!r}")

    return [
        float(kept(c, i, j) != bool(parity))
        for c in range(channels)
        for i in range(height)
        for j in range(width)
    ]


def mask_tensor(kind: str, channels: int, height: int, width: int, parity: int) -> torch.Tensor:
    values = mask_values(kind, channels, height, width, parity)
    return torch.tensor(values).view(1, channels, height, width)  # 1, C, H, W


def store_channels_last(module: nn.Module) -> None:
    """Lay out ``module``'s 4-D parameters channels-last (NHWC), keeping their values and
    state-dict keys: oneDNN convolves maps of few channels faster in this layout, so RealNVP's
    and Glow's coupling networks keep their weights, and convert their inputs, to it."""
    for p in module.parameters():
        if p.dim() == 4:
            # to(), not contiguous(): with one input channel both layouts pass as contiguous,
            # and only to() restrides, which makes the convolution choose channels-last
            p.data = p.data.to(memory_format=torch.channels_last)


class _FullPrecisionInput(nn.Module):
    """A coupling network's first layer, the one that reads the data: it computes in the
    model's own precision even while a trainer autocasts the network to bfloat16 (see
    :meth:`Coupling._network`). bfloat16 keeps 8 significant bits, about a grey level of the
    data, and rounding the data there cost the trainers' Fashion-MNIST RealNVP and Glow
    0.12-0.24 test bits/dim after 900 steps; with this layer in full precision they were within
    0.03 of float32 at 0.78-0.81 of its time a step (docs/performance.md, "Training in
    bfloat16")."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_autocast_enabled(x.device.type):  # decoding: no context to enter
            return super().forward(x)
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x)


class FullPrecisionConv2d(_FullPrecisionInput, nn.Conv2d):
    """``nn.Conv2d`` as a coupling network's first layer (see :class:`_FullPrecisionInput`)."""


class FullPrecisionLinear(_FullPrecisionInput, nn.Linear):
    """``nn.Linear`` as a coupling network's first layer (see :class:`_FullPrecisionInput`)."""


def conv3x3(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int = 1
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=padding)`` for a 3x3 kernel at stride 1.

    While its weight is trained on the CPU, a convolution to at most ``THIN_OUTPUT`` channels
    (a coupling network's last layer) runs as the equal transposed convolution: the kernel
    flipped, its channel axes swapped, ``2 - padding`` padding. The outputs and gradients are
    the same, but oneDNN's forward and backward pass of a convolution to 2-8 channels took
    1.04-1.7x as long as the transposed one's (one thread; a RealNVP training step 2-4% less
    time, a Glow's 8-10%: benchmarks/thin_conv.py, docs/performance.md)."""
    trained = weight.requires_grad and torch.is_grad_enabled()
    if trained and weight.shape[0] <= THIN_OUTPUT and x.device.type == "cpu":
        return F.conv_transpose2d(x, weight.flip(2, 3).transpose(0, 1), bias, padding=2 - padding)
    return F.conv2d(x, weight, bias, padding=padding)


class FlowLayer(nn.Module):
    """Base of the invertible layers: the contract above, and a ``label`` saying what the layer
    is in a few words, by which the app's layer-by-layer view of a flow names it."""

    @property
    def label(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} has no label")

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} has no inverse")

    def invert(self, y: torch.Tensor) -> torch.Tensor:
        """``inverse(y)[0]``; layers whose log-det costs operations of its own leave them out
        (a decode of the default Glow took 8-10% less time without its log-dets)."""
        return self.inverse(y)[0]


def _state_key(*modules: nn.Module) -> tuple[tuple[int, int], ...]:
    """Changes whenever a parameter or buffer of ``modules`` (their own, not their
    submodules') is replaced or changed in place through autograd's version counter (see
    :class:`_InferenceCache` for what is not). Read from the modules' own dictionaries:
    ``parameters()`` walks submodules through generators: 7.1 microseconds a key against 2.0,
    and a Glow's decode reads 38 keys."""
    tensors = [t for m in modules for t in (*m._parameters.values(), *m._buffers.values())]
    return tuple((t.data_ptr(), t._version) for t in tensors if t is not None)


_Kept = TypeVar("_Kept")


class _InferenceCache(nn.Module):
    """A module keeping what it derives from its parameters for inference (:meth:`_kept`),
    keyed by :func:`_state_key`, only in evaluation mode: torch's fused optimisers
    (``Adam(fused=True)``, as the trainers use) update parameters in place without the version
    counter, so the cache is also dropped whenever the module enters or leaves training mode (a
    trainer's validation in eval mode had scored a Glow with the 1x1 convolutions of its first
    validation)."""

    _inference_cache: Any = None

    def train(self, mode: bool = True) -> Self:
        self._inference_cache = None
        return super().train(mode)

    def _kept(self, modules: Sequence[nn.Module], make: Callable[[], _Kept]) -> _Kept:
        """``make()``, kept in evaluation mode without gradients (decoding, sampling) until a
        parameter or buffer of ``modules`` changes; made afresh otherwise."""
        if torch.is_grad_enabled() or self.training:
            return make()
        key = _state_key(*modules)
        cached = self._inference_cache
        if cached is None or cached[0] != key:
            cached = self._inference_cache = (key, make())
        return cached[1]


class FlowChain(_InferenceCache):
    """Layers applied in order; the inverse runs them backwards and the log-dets add up.

    Without gradients (encoding, decoding, sampling) each run of channel-affine layers (those
    with ``channel_affine``, listed in ``_CHANNEL_AFFINE``: ActNorm, the 1x1 convolution) is
    applied as one 1x1 convolution, cached until a parameter changes: decoding one image is
    mostly per-op overhead, and this halves the ops outside the couplings. In training mode the
    layers always run one by one."""

    def __init__(self, layers: Sequence[FlowLayer | FlowChain]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def _layers(self) -> Sequence[FlowLayer | FlowChain | _ChannelAffineRun]:
        # list(): ModuleList indexing is slow. The cast: ModuleList's items are typed Module,
        # and __init__ takes only these.
        layers = cast(list[FlowLayer | FlowChain], list(self.layers))
        if torch.is_grad_enabled() or self.training:  # training mode: ActNorm may initialise
            return layers
        affine = [layer for layer in layers if isinstance(layer, _CHANNEL_AFFINE)]
        return self._kept(affine, lambda: _fused_runs(layers))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = x.new_zeros(x.shape[0])
        for layer in self._layers():
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = y.new_zeros(y.shape[0])
        for layer in reversed(self._layers()):
            y, ld = layer.inverse(y)
            logdet = logdet + ld
        return y, logdet

    def invert(self, y: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self._layers()):
            y = layer.invert(y)
        return y


def _fused_runs(
    layers: Sequence[FlowLayer | FlowChain],
) -> list[FlowLayer | FlowChain | _ChannelAffineRun]:
    """``layers`` with each run of consecutive channel-affine layers made one."""
    runs: list[FlowLayer | FlowChain | _ChannelAffineRun] = []
    for layer in layers:
        if not isinstance(layer, _CHANNEL_AFFINE):
            runs.append(layer)
        elif runs and isinstance(runs[-1], _ChannelAffineRun):
            runs[-1] = _ChannelAffineRun([*runs[-1].layers, layer])
        else:
            runs.append(_ChannelAffineRun([layer]))
    return runs


class _ChannelAffineRun:
    """Consecutive channel-affine layers as one y = A x + c per pixel, applied as a 1x1
    convolution with bias both ways; log-det H*W*log|det A|. Built and kept in float64; a copy
    is made for each dtype and device it is called with. Inference only (no gradients)."""

    def __init__(self, layers: list[ActNorm | InvConv1x1]) -> None:
        self.layers = layers
        a, c = layers[0].channel_affine()
        for layer in layers[1:]:  # y2 = A2 (A1 x + c1) + c2
            a2, c2 = layer.channel_affine()
            a, c = a2 @ a, a2 @ c + c2
        a_inv = torch.linalg.inv(a)
        self._float64 = {"forward": (a, c), "inverse": (a_inv, -a_inv @ c)}
        self._logabsdet = torch.linalg.slogdet(a)[1].item()
        self._copies: dict[
            tuple[str, torch.dtype, torch.device], tuple[torch.Tensor, torch.Tensor]
        ] = {}

    def _apply(self, x: torch.Tensor, direction: str) -> torch.Tensor:
        key = (direction, x.dtype, x.device)
        if key not in self._copies:
            w, b = self._float64[direction]
            self._copies[key] = (w.to(x).view(*w.shape, 1, 1), b.to(x))
        weight, bias = self._copies[key]
        return F.conv2d(x, weight, bias)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ld = x.shape[2] * x.shape[3] * self._logabsdet
        return self._apply(x, "forward"), x.new_full((x.shape[0],), ld)

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ld = -y.shape[2] * y.shape[3] * self._logabsdet
        return self.invert(y), y.new_full((y.shape[0],), ld)

    def invert(self, y: torch.Tensor) -> torch.Tensor:
        return self._apply(y, "inverse")


class Squeeze(FlowLayer):
    """2x2 space-to-depth, N,C,H,W -> N,4C,H/2,W/2 (RealNVP §3.6); a permutation, log-det 0."""

    label = "squeeze 2x2"

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, c, h, w = x.shape
        y = x.reshape(n, c, h // 2, 2, w // 2, 2)  # N, C, H/2, dy, W/2, dx
        y = y.permute(0, 1, 3, 5, 2, 4).reshape(n, 4 * c, h // 2, w // 2)  # N, (C dy dx), H/2, W/2
        return y, x.new_zeros(n)

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, c4, h, w = y.shape
        x = y.reshape(n, c4 // 4, 2, 2, h, w)  # N, C, dy, dx, H/2, W/2
        x = x.permute(0, 1, 4, 2, 5, 3).reshape(n, c4 // 4, 2 * h, 2 * w)  # N, C, H, W
        return x, y.new_zeros(n)


class Flatten(FlowLayer):
    """N,C,H,W <-> N,C*H*W, so that a flow can end in the flat latent of the protocol."""

    label = "flatten"

    def __init__(self, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.flatten(1), x.new_zeros(x.shape[0])  # N, D

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return y.reshape(y.shape[0], *self.shape), y.new_zeros(y.shape[0])  # N, C, H, W


class Centre(FlowLayer):
    """x - 1/2: maps dequantized images in [0, 1) to [-1/2, 1/2) as Glow does; log-det 0."""

    label = "centre: x - 1/2"

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x - 0.5, x.new_zeros(x.shape[0])

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return y + 0.5, y.new_zeros(y.shape[0])


class Logit(FlowLayer):
    """y = logit(alpha + (1 - 2 alpha) x), RealNVP's preprocessing (§4.1) with its log-det.

    The symmetric form keeps p inside [alpha, 1 - alpha]; it is chrischute/real-nvp's
    ``data_constraint = 0.9`` for alpha = 0.05. (The paper's alpha + (1 - alpha) x reaches
    p = 1.0 in float32 when x is near 1, where the logit is infinite.)
    d logit(p)/dp = 1 / (p (1 - p)), and -log p - log(1 - p) = softplus(-y) + softplus(y).
    """

    label = "logit"

    def __init__(self, alpha: float = 0.05) -> None:
        super().__init__()
        self.alpha = alpha

    def _logdet(self, y: torch.Tensor) -> torch.Tensor:
        return _sum(math.log(1 - 2 * self.alpha) + F.softplus(y) + F.softplus(-y))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.alpha + (1 - 2 * self.alpha) * x
        y = torch.log(p) - torch.log1p(-p)
        return y, self._logdet(y)

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.invert(y), -self._logdet(y)

    def invert(self, y: torch.Tensor) -> torch.Tensor:
        return (torch.sigmoid(y) - self.alpha) / (1 - 2 * self.alpha)


class DiagonalAffine(FlowLayer):
    """y = (x + b) * exp(s) with b, s learned per position and channel, zero at init.

    NICE's diagonal scaling layer (§3.4, log-det = sum s) when ``shift`` is False; Glow's
    learned top prior (learntop) when True: eps = (h - mu) / sigma, i.e. b = -mu, s = -log sigma.
    """

    def __init__(self, shape: tuple[int, ...], shift: bool = False) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(1, *shape))
        self.bias = nn.Parameter(torch.zeros(1, *shape)) if shift else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = (x + self.bias if self.bias is not None else x) * self.log_scale.exp()
        return y, self.log_scale.sum().expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = y * (-self.log_scale).exp()
        x = x - self.bias if self.bias is not None else x
        return x, -self.log_scale.sum().expand(y.shape[0])

    @property
    def label(self) -> str:
        return "learned prior (whiten)" if self.bias is not None else "diagonal scaling"


class ActNorm(FlowLayer):
    """Per-channel y = (x + b) * exp(logscale_factor * logs) (Glow §3.1), log-det H*W*sum(log s).

    Data-dependent init on the first batch seen in training mode (or by the model's
    ``initialize``): outputs get zero mean and unit std per channel, s = 1 / (std + 1e-6).
    ``initialized`` is a buffer, so a reloaded model never re-initialises.
    """

    label = "actnorm"
    initialized: torch.Tensor  # a buffer

    def __init__(self, channels: int, logscale_factor: float = 1.0) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.logs = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.logscale_factor = logscale_factor
        self.register_buffer("initialized", torch.zeros(1, dtype=torch.uint8))
        self._known = False  # initialized read as 1 already: saves a device sync per step

    def reset(self) -> None:
        """Forget the init, so the next training-mode forward initialises from its batch."""
        self.initialized.zero_()
        self._known = False

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        self._known = False  # the loaded flag decides
        super()._load_from_state_dict(*args, **kwargs)

    @torch.no_grad()
    def _initialize(self, x: torch.Tensor) -> None:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)  # 1, C, 1, 1
        std = x.std(dim=(0, 2, 3), keepdim=True, correction=0)
        self.bias.copy_(-mean)
        self.logs.copy_(-torch.log(std + 1e-6) / self.logscale_factor)
        self.initialized.fill_(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not self._known:
            if not self.initialized.item():
                self._initialize(x)
            self._known = True
        logs = self.logs * self.logscale_factor
        y = (x + self.bias) * logs.exp()
        return y, (x.shape[2] * x.shape[3] * logs.sum()).expand(x.shape[0])

    def channel_affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This layer as y = A x + c per pixel: A (C, C) and c (C,) in float64."""
        scale = (self.logs.double() * self.logscale_factor).exp().flatten()
        return torch.diag(scale), scale * self.bias.double().flatten()

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logs = self.logs * self.logscale_factor
        x = y * (-logs).exp() - self.bias
        return x, (-y.shape[2] * y.shape[3] * logs.sum()).expand(y.shape[0])


class InvConv1x1(_InferenceCache, FlowLayer):
    """Invertible 1x1 convolution (Glow §3.2), log-det H*W*log|det W|, initialised to a random
    rotation. ``lu``: W = P L (U + diag(sign(s) exp(log|s|))) with P and sign(s) fixed, L unit
    lower, U strictly upper (Glow §3.2), log-det H*W*sum(log|s|); otherwise a full W.
    W, its log-det and its inverse are computed in float64, as openai/glow does."""

    label = "1x1 convolution"
    perm: torch.Tensor  # buffers (with ``lu``)
    sign_s: torch.Tensor

    def __init__(self, channels: int, lu: bool = True) -> None:
        super().__init__()
        self.channels, self.lu = channels, lu
        c = channels
        if _on_meta():  # shapes only
            w, p, lower, upper, sign, log_s = *(torch.empty(c, c) for _ in range(4)), None, None
        else:
            w = torch.linalg.qr(torch.randn(c, c))[0]  # a random rotation
            p, lower, upper = torch.linalg.lu(w)
            s = torch.diagonal(upper)
            sign, log_s, lower, upper = s.sign(), s.abs().log(), lower.tril(-1), upper.triu(1)
        if not lu:
            self.weight = nn.Parameter(w)
            return
        self.register_buffer("perm", p)
        self.register_buffer("sign_s", torch.empty(c) if sign is None else sign)
        self.lower, self.upper = nn.Parameter(lower), nn.Parameter(upper)
        self.log_s = nn.Parameter(torch.empty(c) if log_s is None else log_s)

    def _matrices(self) -> tuple[torch.Tensor, torch.Tensor]:
        """W and W^-1 in float64. In evaluation mode without gradients (sampling, dragging)
        they are kept until a parameter changes: recomputing them at every layer of every
        decode was a large part of the cost of decoding one image."""
        return self._kept([self], self._computed_matrices)

    def _computed_matrices(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.lu:  # W^-1 = U^-1 L^-1 P^T by triangular solves
            p, lower, upper = self._factors()
            w = p @ lower @ upper
            eye = torch.eye(self.channels, dtype=torch.float64, device=w.device)
            l_inv = torch.linalg.solve_triangular(lower, eye, upper=False, unitriangular=True)
            w_inv = torch.linalg.solve_triangular(upper, l_inv, upper=True) @ p.T
        else:
            w = self.weight.double()
            w_inv = torch.linalg.inv(w)
        return w, w_inv

    def _factors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """P, L, U in float64."""
        eye = torch.eye(self.channels, dtype=torch.float64, device=self.log_s.device)
        lower = torch.tril(self.lower.double(), -1) + eye
        upper = torch.triu(self.upper.double(), 1) + torch.diag(
            self.sign_s.double() * self.log_s.double().exp()
        )
        return self.perm.double(), lower, upper

    def _factors_product(self) -> torch.Tensor:
        p, lower, upper = self._factors()
        return p @ lower @ upper

    def _logdet(self, pixels: int, n: int, dtype: torch.dtype) -> torch.Tensor:
        if self.lu:
            logabsdet = self.log_s.double().sum()
        else:
            logabsdet = torch.linalg.slogdet(self.weight.double())[1]
        return (pixels * logabsdet).to(dtype).expand(n)

    def channel_affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This layer as y = W x per pixel: W (C, C) and a zero c (C,) in float64."""
        w = self._matrices()[0]
        return w, w.new_zeros(self.channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if torch.is_grad_enabled():  # training: W from its factors, gradients flow
            w = self._factors_product() if self.lu else self.weight.double()
        else:
            w = self._matrices()[0]
        y = F.conv2d(x, w.to(x.dtype).view(self.channels, self.channels, 1, 1))
        return y, self._logdet(x.shape[2] * x.shape[3], x.shape[0], x.dtype)

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w_inv = self._matrices()[1]
        x = F.conv2d(y, w_inv.to(y.dtype).view(self.channels, self.channels, 1, 1))
        return x, -self._logdet(y.shape[2] * y.shape[3], y.shape[0], y.dtype)


_CHANNEL_AFFINE = (ActNorm, InvConv1x1)  # the layers with ``channel_affine``


class Permute(FlowLayer):
    """A fixed channel permutation: "reverse" (RealNVP-style) or a random "shuffle", Glow's
    baselines for the 1x1 convolution (Glow §3.2, Fig. 3). Log-det 0."""

    label = "permute channels"
    order: torch.Tensor  # a buffer

    def __init__(self, channels: int, mode: str) -> None:
        super().__init__()
        order = (
            list(range(channels))[::-1]
            if mode == "reverse"
            else torch.randperm(channels, device="cpu").tolist()
        )  # cpu: works on meta
        self.register_buffer("order", torch.tensor(order, dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[:, self.order], x.new_zeros(x.shape[0])

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return y[:, torch.argsort(self.order)], y.new_zeros(y.shape[0])


class ZeroConv2d(_InferenceCache):
    """3x3 convolution with zero-initialised weights and bias and a learned per-channel output
    gain exp(3 g), g = 0 at init (openai/glow ``conv2d_zeros``): outputs start at exactly 0.
    The gain scales the kernel and bias rather than the output, so that when decoding the
    scaled kernel is kept and the output needs no product at all (two of a Glow coupling's few
    ops: the default Glow's decode took 2-12% less time over seven pairs of runs; a training step
    takes as long either way)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        assert self.conv.bias is not None  # nn.Conv2d has a bias unless bias=False
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)
        self.gain = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def scaled(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The convolution's weight and bias times the gain; in evaluation mode without
        gradients (decoding, sampling) kept until a parameter changes."""
        return self._kept([self, self.conv], self._computed_scaled)

    def _computed_scaled(self) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.conv.bias is not None  # nn.Conv2d has a bias unless bias=False
        gain = (3 * self.gain).exp().view(-1)
        return self.conv.weight * gain.view(-1, 1, 1, 1), self.conv.bias * gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv3x3(x, *self.scaled())


class Coupling(FlowLayer):
    """A coupling layer: part of the input is kept and conditions ``net``; the rest is shifted
    (and scaled). Serves NICE, RealNVP and Glow.

    Split: by ``mask`` (1 = kept; ``net`` sees x * mask and its outputs are masked by 1 - mask,
    RealNVP §3.4), or, with ``mask=None``, by channel halves (Glow: ``net`` sees the kept half;
    ``parity`` 0 keeps the first half). With ``packed``, a mask keeping half of every row (a
    checkerboard) is applied by packing instead: ``net`` sees the kept entries of each row
    side by side, a half-width image, and returns the changed entries' transform in the same
    packed layout: the same split for half the convolution work. An odd width is packed with
    one more column, continuing the pattern, whose entries are zero and dropped again.
    ``net`` returns the shift, or for the affine transforms (raw scale, shift) stacked along
    channels; its last layer is zero-initialised, so at init the layer is the identity
    (additive, affine-tanh) or a fixed scale sigmoid(2) (affine-sigmoid).

    - "additive": y = x + t (NICE §3.2; Glow's additive coupling), log-det 0.
    - "affine-tanh": y = x * exp(s) + t, s = scale * tanh(raw) with a learned per-channel scale
      (RealNVP §3.3 and §4.1), log-det sum(s).
    - "affine-sigmoid": y = (x + t) * sigmoid(raw + 2) (openai/glow's coupling; the paper writes
      exp), log-det sum(log sigmoid(raw + 2)).
    """

    mask: torch.Tensor | None  # a non-persistent buffer
    kept_index: torch.Tensor  # with ``packed``: non-persistent buffers, from the mask
    changed_index: torch.Tensor
    changed_real: torch.Tensor | None  # with an odd width: 0 at the extra column's entries

    def __init__(
        self,
        net: nn.Module,
        transform: str,
        channels: int,
        mask: torch.Tensor | None = None,
        parity: int = 0,
        packed: bool = False,
    ) -> None:
        super().__init__()
        if transform not in TRANSFORMS:
            raise ValueError(f"unknown coupling transform {transform!r}")
        self.net, self.transform, self.parity = net, transform, parity
        self.register_buffer("mask", mask, persistent=False)  # rebuilt from the config
        self.packed = packed
        real = None
        if packed:
            assert mask is not None and mask.shape[1] == 1, "packing: one mask for all channels"
            kept = mask[0, 0] > 0.5
            if kept.shape[1] % 2:  # an odd width: one more column
                kept = torch.cat([kept, ~kept[:, -1:]], dim=1)
                real = torch.ones(1, 1, *kept.shape).to(mask)
                real[..., -1] = 0
            kept_index, changed_index = _row_indices(kept)
            self.register_buffer("kept_index", kept_index, persistent=False)
            self.register_buffer("changed_index", changed_index, persistent=False)
            real = None if real is None else _gather_rows(real, changed_index)
        self.register_buffer("changed_real", real, persistent=False)
        half = channels // 2
        changed = channels if mask is not None else (channels - half if parity == 0 else half)
        if transform == "affine-tanh":
            self.scale = nn.Parameter(torch.ones(1, changed, 1, 1))
        self.network_dtype: torch.dtype | None = None  # see _network

    @property
    def label(self) -> str:
        return f"coupling ({self.transform})"

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(net input, the part to change)."""
        if self.packed:
            x = self._widen(x)
            return _gather_rows(x, self.kept_index), _gather_rows(x, self.changed_index)
        if self.mask is not None:
            return x * self.mask, x
        half = x.shape[1] // 2
        first, second = x[:, :half], x[:, half:]
        return (first, second) if self.parity == 0 else (second, first)

    def _merge(self, x: torch.Tensor, kept: torch.Tensor, changed: torch.Tensor) -> torch.Tensor:
        """The layer's output from its input ``x`` and the parts split from it."""
        if self.packed:
            index = self.changed_index.expand(*changed.shape)
            return self._widen(x).scatter(3, index, changed)[..., : x.shape[3]]
        if self.mask is not None:  # kept entries already pass through unchanged
            return changed
        return torch.cat([kept, changed] if self.parity == 0 else [changed, kept], dim=1)

    def _network(self, kept: torch.Tensor) -> torch.Tensor:
        """``net``'s output in ``kept``'s dtype. While training with ``network_dtype`` set, the
        network's convolutions and matrix products run in that dtype (autocast) and only its
        output is cast back: the transform and its log-det stay in full precision, exact to
        each other, whatever the network computed. bfloat16 halved the time of the coupling
        networks' convolutions, most of a training step, on a processor with native bfloat16
        products (docs/performance.md); inference always runs in full precision."""
        if self.network_dtype is None or not self.training:
            return self.net(kept)
        with torch.autocast(kept.device.type, dtype=self.network_dtype):
            h = self.net(kept)
        return h.to(kept.dtype)

    def _shift_logscale(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self._network(kept)
        logs = None
        if self.transform == "additive":
            shift = h
        else:
            raw, shift = h.chunk(2, dim=1)
            logs = (
                self.scale * torch.tanh(raw)
                if self.transform == "affine-tanh"
                else F.logsigmoid(raw + 2.0)
            )
        if self.mask is not None and not self.packed:
            shift = shift * (1 - self.mask)
            logs = logs * (1 - self.mask) if logs is not None else None
        if self.changed_real is not None and logs is not None:  # the extra column is dropped
            logs = logs * self.changed_real
        return shift, logs

    def _widen(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with the extra column of zeros that packing an odd width needs."""
        return x if self.changed_real is None else F.pad(x, (0, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kept, active = self._split(x)
        shift, logs = self._shift_logscale(kept)
        if logs is None:
            return self._merge(x, kept, active + shift), x.new_zeros(x.shape[0])
        if self.transform == "affine-tanh":
            out = active * logs.exp() + shift
        else:
            out = (active + shift) * logs.exp()
        return self._merge(x, kept, out), _sum(logs)

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, logs = self._inverted(y)
        return x, y.new_zeros(y.shape[0]) if logs is None else -_sum(logs)

    def invert(self, y: torch.Tensor) -> torch.Tensor:
        return self._inverted(y)[0]

    def _inverted(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The layer's input from its output ``y``, and the log-scale (None: additive)."""
        kept, active = self._split(y)
        shift, logs = self._shift_logscale(kept)
        if logs is None:
            out = active - shift
        elif self.transform == "affine-tanh":
            out = (active - shift) * (-logs).exp()
        else:
            out = active * (-logs).exp() - shift
        return self._merge(y, kept, out), logs


def _row_indices(kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For an ``H,W`` bool mask keeping half of every row: the columns of the kept and of the
    changed entries of each row, in order, as ``1,1,H,W/2`` indices. (No data-dependent
    shapes: a model is also built on the meta device, to check a config.)"""
    height, width = kept.shape
    uneven = width % 2 or (kept.device.type != "meta" and bool((kept.sum(1) != width // 2).any()))
    if uneven:
        raise ValueError("packing needs a mask that keeps half of every row")
    # a stable sort of each row by "changed" puts its kept columns first, in order
    columns = torch.argsort((~kept).to(torch.uint8), dim=1, stable=True)
    half = width // 2
    kept_columns, changed_columns = columns[:, :half], columns[:, half:]
    return kept_columns.reshape(1, 1, height, half), changed_columns.reshape(1, 1, height, half)


def _gather_rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The entries of each row of ``x`` (``N,C,H,W``) at the columns ``index``
    (``1,1,H,W/2``)."""
    return x.gather(3, index.expand(x.shape[0], x.shape[1], -1, -1))


class Split(FlowLayer):
    """Factor-out of the multi-scale architecture (RealNVP §3.6, Glow §3): the second half of
    the channels leaves the flow. With ``learned`` it is whitened under Glow's conditional prior
    N(mu, sigma) from a zero-initialised conv of the kept half (openai/glow ``split2d_prior``):
    eps = (x2 - mu) * exp(-log sigma), log-det -sum(log sigma). Without, the prior is N(0, I)
    (RealNVP) and the layer is the identity. Output: cat(kept, eps), same shape as the input."""

    def __init__(self, channels: int, learned: bool) -> None:
        super().__init__()
        self.keep = channels // 2
        self.prior = ZeroConv2d(self.keep, 2 * (channels - self.keep)) if learned else None

    @property
    def label(self) -> str:
        return "split: half leaves" + (" (learned prior)" if self.prior is not None else "")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.prior is None:
            return x, x.new_zeros(x.shape[0])
        kept, out = x[:, : self.keep], x[:, self.keep :]
        mean, logsd = self.prior(kept).chunk(2, dim=1)
        eps = (out - mean) * (-logsd).exp()
        return torch.cat([kept, eps], dim=1), -_sum(logsd)

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, logsd = self._inverted(y)
        return x, y.new_zeros(y.shape[0]) if logsd is None else _sum(logsd)

    def invert(self, y: torch.Tensor) -> torch.Tensor:
        return self._inverted(y)[0]

    def _inverted(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The layer's input from its output ``y``, and log sigma (None: no learned prior)."""
        if self.prior is None:
            return y, None
        kept, eps = y[:, : self.keep], y[:, self.keep :]
        mean, logsd = self.prior(kept).chunk(2, dim=1)
        return torch.cat([kept, mean + eps * logsd.exp()], dim=1), logsd
