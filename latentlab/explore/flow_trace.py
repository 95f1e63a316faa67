"""The change of variables, layer by layer: what each layer of a flow makes of one image and
how much it changes the volume. log p(x~) = log p_Z(z) + the sum of every layer's log|det J|
(NICE §2, Dinh, Krueger & Bengio 2014), so the table of layers adds up to the likelihood.

Some layers say more: a coupling which positions it copies (its mask: RealNVP §3.4, Fig. 3;
NICE §5.1; Glow's channel halves), the 1x1 convolution its C x C matrix W and log|det W|
(Glow §3.2), and a split of the multi-scale flow the latent it factors out (RealNVP §3.6)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from latentlab.explore import ops
from latentlab.models.base import bits_per_dim
from latentlab.models.flow import FlowModel, MultiScale
from latentlab.models.flow_layers import (
    ActNorm,
    Coupling,
    Flatten,
    FlowChain,
    FlowLayer,
    InvConv1x1,
    Split,
    mask_values,
)

__all__ = ["FlowTrace", "LayerTrace", "coupling_mask", "mask_picture", "trace_flow"]


@dataclass
class LayerTrace:
    label: str  # what the layer is (its FlowLayer.label), e.g. "coupling (additive)"
    shape: tuple[int, ...]  # its output's C,H,W (one image)
    logdet: float  # log|det J| of the layer for this image, nats
    picture: np.ndarray  # 1,h',w' in [0, 1]: the output's channels in a grid, min to max
    detail: str = ""  # what this layer does beyond its label, in words (mask, matrix, level)
    mask: np.ndarray | None = None  # a coupling's C,H,W bool: True where it copies its input
    weight: np.ndarray | None = None  # a 1x1 convolution's C,C matrix W (float64)
    weight_logabsdet: float | None = None  # its log|det W|: the layer's log-det is H*W times it
    factored: np.ndarray | None = None  # a split's 1,h',w' picture of the latent it factors out

    @property
    def mask_picture(self) -> np.ndarray | None:
        """The mask as a picture laid out like :attr:`picture`: copied 1 (light), changed 0."""
        return None if self.mask is None else mask_picture(self.mask)


@dataclass
class FlowTrace:
    layers: list[LayerTrace]
    prior: float  # log p_Z(z), nats
    levels: int
    image_shape: tuple[int, int, int]

    @property
    def log_density(self) -> float:
        """log p(x~) of the dequantized image: the prior plus every layer's log-det."""
        return self.prior + sum(layer.logdet for layer in self.layers)

    @property
    def bits_per_dim(self) -> float:
        """The discrete image's bits/dim at the bin centre: -(log p(x~) - D log levels)."""
        dims = math.prod(self.image_shape)
        return bits_per_dim(-(self.log_density - dims * math.log(self.levels)), self.image_shape)


def _tile(planes: np.ndarray) -> np.ndarray:
    """C,H,W -> one H',W' image of the channels in a grid about four times as wide as high
    (the shape of the app's thumbnails), row by row, so a channel half is a band of rows."""
    c, h, w = planes.shape
    columns = min(range(1, c + 1), key=lambda k: (max(-(-c // k) * h * 4, k * w), k))
    rows = -(-c // columns)
    grid = np.zeros((rows * columns, h, w), dtype=planes.dtype)
    grid[:c] = planes
    return grid.reshape(rows, columns, h, w).transpose(0, 2, 1, 3).reshape(rows * h, columns * w)


def _picture(t: torch.Tensor) -> np.ndarray:
    """The channels of ``t`` (C,H,W) in a grid as one grey image, scaled to its range."""
    tiles = _tile(ops.to_numpy(t, double=True))
    low, high = tiles.min(), tiles.max()
    return ((tiles - low) / (high - low) if high > low else tiles * 0 + 0.5)[None]


def mask_picture(mask: np.ndarray) -> np.ndarray:
    """A C,H,W bool mask laid out as the layer pictures are: copied 1 (light), changed 0."""
    return _tile(mask.astype(np.float64))[None]


def coupling_mask(coupling: Coupling, shape: tuple[int, int, int]) -> np.ndarray:
    """The C,H,W positions that ``coupling`` copies (True) for an input of ``shape``: its mask
    broadcast (a checkerboard is shared by the channels, a channel mask by the pixels), or, for
    Glow's couplings on channel halves, the half its parity keeps."""
    if coupling.mask is not None:
        return np.broadcast_to(ops.to_numpy(coupling.mask)[0] > 0.5, shape).copy()
    copied = np.zeros(shape, dtype=bool)
    half = shape[0] // 2
    copied[:half] = True  # parity 0 keeps the first half (Coupling._split)
    return copied if coupling.parity == 0 else ~copied


_MASK_WORDS = {  # (kind, parity) -> what is copied, what is transformed
    ("checkerboard", 0): ("the squares with i+j even", "the odd ones"),
    ("checkerboard", 1): ("the squares with i+j odd", "the even ones"),
    ("alternate", 0): ("the even positions", "the odd ones"),
    ("alternate", 1): ("the odd positions", "the even ones"),
}


def _describe_mask(mask: np.ndarray) -> str:
    """ "copies ... transforms ..." for the partitions of mask_values, else the counts."""
    c, h, w = mask.shape
    for kind in ("channel", "checkerboard", "alternate"):
        for parity in (0, 1):
            pattern = np.array(mask_values(kind, c, h, w, parity), dtype=bool).reshape(c, h, w)
            if not np.array_equal(mask, pattern):
                continue
            if kind != "channel":
                copied, changed = _MASK_WORDS[kind, parity]
                return f"copies {copied}, transforms {changed}"
            first, second = f"channels 1-{c // 2}", f"channels {c // 2 + 1}-{c}"
            copied, changed = (first, second) if parity == 0 else (second, first)
            return f"copies {copied}, transforms {changed}"
    return f"copies {int(mask.sum())} of {mask.size} values, transforms the rest"


def _split_levels(flow: nn.Module) -> dict[nn.Module, int]:
    """Each split of a multi-scale flow -> its level, 1 for the finest."""
    if not isinstance(flow, MultiScale):
        return {}
    return {split: i + 1 for i, split in enumerate(flow.splits)}


def _add_details(
    trace: LayerTrace, layer: FlowLayer, x: torch.Tensor, y: torch.Tensor, level: int | None
) -> None:
    """Fill the fields of ``trace`` that only some layers have, from ``layer``'s input ``x``
    and output ``y`` (one image, C,H,W; a flat vector for the last layer of NICE)."""
    if isinstance(layer, Coupling) and x.dim() == 3:
        trace.mask = coupling_mask(layer, (x.shape[0], x.shape[1], x.shape[2]))
        trace.detail = _describe_mask(trace.mask)
    elif isinstance(layer, ActNorm):
        with torch.no_grad():
            scale = torch.diagonal(layer.channel_affine()[0])
        trace.detail = f"scales each channel by {scale.min():.2g} to {scale.max():.2g}"
    elif isinstance(layer, InvConv1x1):
        with torch.no_grad():
            weight = layer.channel_affine()[0].cpu()
        trace.weight = weight.numpy()
        trace.weight_logabsdet = torch.linalg.slogdet(weight)[1].item()
        trace.detail = (
            f"W {weight.shape[0]}x{weight.shape[0]}; log|det W| {trace.weight_logabsdet:+.3f}"
            f" x {y.shape[1] * y.shape[2]} pixels"
        )
    elif isinstance(layer, Split) and level is not None:
        out = y[layer.keep :]  # the factored-out part (whitened under Glow's learned prior)
        trace.factored = _picture(out)
        trace.detail = f"level {level}: factors out " + "x".join(str(s) for s in out.shape)


def _layers(flow: nn.Module) -> list[FlowLayer]:
    """The leaf layers of a flow in the order its forward pass calls them."""
    if isinstance(flow, FlowChain):
        return [leaf for layer in flow.layers for leaf in _layers(layer)]
    if isinstance(flow, MultiScale):
        order: list[nn.Module] = [flow.pre]
        for i, block in enumerate(flow.blocks):
            order.append(block)
            if i < len(flow.splits):
                order.append(flow.splits[i])
        order += [flow.top] if flow.top is not None else []
        return [leaf for part in order for leaf in _layers(part)]
    if isinstance(flow, Flatten):
        return []
    if not isinstance(flow, FlowLayer):
        raise TypeError(f"{type(flow).__name__} is not a flow layer")
    return [flow]


def trace_flow(model: FlowModel, image: np.ndarray) -> FlowTrace:
    """Run ``image`` (``C,H,W`` in [0, 1], on the model's level grid) through the flow at its
    bin centre, recording each layer's output and log-det."""
    x = model.dequantize(ops.model_input(model, image)[None], noise=False)
    traces: list[LayerTrace] = []
    levels = _split_levels(model.flow)

    def record(
        layer: FlowLayer,
        inputs: tuple[torch.Tensor, ...],
        output: tuple[torch.Tensor, torch.Tensor],
    ) -> None:
        y, logdet = output
        y = y.detach()[0]
        shown = y if y.dim() == 3 else y.view(*model.image_shape)
        trace = LayerTrace(layer.label, tuple(y.shape), logdet.detach()[0].item(), _picture(shown))
        _add_details(trace, layer, inputs[0].detach()[0], y, levels.get(layer))
        traces.append(trace)

    hooks = [layer.register_forward_hook(record) for layer in _layers(model.flow)]
    try:
        with torch.enable_grad():  # layer by layer: no fused inference maps
            z, _ = model.flow(x)
        prior = model.prior_log_prob(z.detach()).item()
    finally:
        for hook in hooks:
            hook.remove()
    return FlowTrace(traces, prior, model.levels, model.image_shape)
