"""The change of variables, layer by layer: what each layer of a flow makes of one image and
how much it changes the volume. log p(x~) = log p_Z(z) + the sum of every layer's log|det J|
(NICE §2, Dinh, Krueger & Bengio 2014), so the table of layers adds up to the likelihood."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from latentlab.models.base import bits_per_dim
from latentlab.models.flow import FlowModel, MultiScale
from latentlab.models.flow_layers import Flatten, FlowChain, FlowLayer

__all__ = ["FlowTrace", "LayerTrace", "trace_flow"]


@dataclass
class LayerTrace:
    label: str  # what the layer is (its FlowLayer.label), e.g. "coupling (additive)"
    shape: tuple[int, ...]  # its output's C,H,W (one image)
    logdet: float  # log|det J| of the layer for this image, nats
    picture: np.ndarray  # 1,h,W' in [0, 1]: the output's channels side by side, min to max


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


def _picture(t: torch.Tensor) -> np.ndarray:
    """The channels of ``t`` (C,H,W) side by side as one grey image, scaled to its range."""
    c, h, w = t.shape
    tiles = t.permute(1, 0, 2).reshape(h, c * w).double().numpy()  # H, C*W
    low, high = tiles.min(), tiles.max()
    return ((tiles - low) / (high - low) if high > low else tiles * 0 + 0.5)[None]


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
    x = model.dequantize(torch.as_tensor(image, dtype=torch.float32)[None], noise=False)
    traces: list[LayerTrace] = []

    def record(
        layer: FlowLayer, _inputs: object, output: tuple[torch.Tensor, torch.Tensor]
    ) -> None:
        y, logdet = output
        y = y.detach()[0]
        shown = y if y.dim() == 3 else y.view(*model.image_shape)
        traces.append(
            LayerTrace(layer.label, tuple(y.shape), logdet.detach()[0].item(), _picture(shown))
        )

    hooks = [layer.register_forward_hook(record) for layer in _layers(model.flow)]
    try:
        with torch.enable_grad():  # layer by layer: no fused inference maps
            z, _ = model.flow(x)
        prior = model.prior_log_prob(z.detach()).item()
    finally:
        for hook in hooks:
            hook.remove()
    return FlowTrace(traces, prior, model.levels, model.image_shape)
