"""The shared invariant check for every flow layer and every whole flow (docs/families.md,
Flows): round trips both ways, log-dets of the two directions are negatives of each
other, shapes and dtypes, the summed log-det against the brute-force autograd Jacobian, and a
label on every layer.

Importable from the tests in this folder as ``flowcheck``.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from latentlab.models.flow_layers import FlowLayer

ROUND_TRIP_ATOL = 1e-4  # float32
JACOBIAN_ATOL = 1e-8  # float64: slogdet of the autograd Jacobian vs the summed log-dets
MAX_JACOBIAN_DIM = 64


def perturb(module: nn.Module, std: float = 0.1, seed: int = 0) -> nn.Module:
    """Add Gaussian noise to every parameter, so that zero-initialised last layers (identity
    couplings, zero priors) no longer make the checks trivial."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(std * torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device))
    return module


def check_flow(
    layer: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    jacobian: bool = True,
    atol: float = ROUND_TRIP_ATOL,
) -> None:
    """Check ``layer`` (in eval mode) on float32 input ``x`` (N >= 2) and, for the inverse
    direction, on ``y`` (default: standard normal noise shaped like the output)."""
    layer.eval()
    n = x.shape[0]
    for leaf in layer.modules():  # what the app's layer-by-layer view of a flow names them
        if isinstance(leaf, FlowLayer):
            assert isinstance(leaf.label, str) and leaf.label
    with torch.no_grad():
        out, logdet = layer(x)
        assert out.dtype == x.dtype and logdet.dtype == x.dtype
        assert logdet.shape == (n,) and out.shape[0] == n
        assert math.prod(out.shape) == math.prod(x.shape)  # same dimension, D
        assert torch.isfinite(out).all() and torch.isfinite(logdet).all()
        back, logdet_inv = layer.inverse(out)
        assert back.shape == x.shape and back.dtype == x.dtype and logdet_inv.shape == (n,)
        assert (back - x).abs().max().item() < atol, "inverse(forward(x)) != x"
        torch.testing.assert_close(logdet_inv, -logdet, rtol=1e-5, atol=1e-4)

        y = torch.randn_like(out) if y is None else y
        x2, logdet2_inv = layer.inverse(y)
        assert x2.shape == x.shape
        assert torch.equal(layer.invert(y), x2), "invert(y) != inverse(y)[0]"
        y_back, logdet2 = layer(x2)
        assert (y_back - y).abs().max().item() < atol, "forward(inverse(y)) != y"
        torch.testing.assert_close(logdet2_inv, -logdet2, rtol=1e-5, atol=1e-4)

    if jacobian:
        check_jacobian(layer, x)


def check_jacobian(layer: nn.Module, x: torch.Tensor) -> None:
    """In float64: per sample, log|det| of the autograd Jacobian of the flattened forward map
    equals the layer's log-det, and the batched log-det equals the per-sample one."""
    dim = math.prod(x.shape[1:])
    assert dim <= MAX_JACOBIAN_DIM, "keep Jacobian checks small"
    layer64 = copy.deepcopy(layer).double().eval()
    x64 = x.double()
    with torch.no_grad():
        _, batch_logdet = layer64(x64)
        back, _ = layer64.inverse(layer64(x64)[0])
    assert (back - x64).abs().max().item() < 1e-10, "float64 round trip"
    for i in range(min(2, x.shape[0])):

        def f(v: torch.Tensor) -> torch.Tensor:
            return layer64(v.view(1, *x.shape[1:]))[0].flatten()

        jac = torch.autograd.functional.jacobian(f, x64[i].flatten(), vectorize=True)
        sign, logabsdet = torch.linalg.slogdet(jac)
        assert sign.item() != 0, "singular Jacobian"
        with torch.no_grad():
            logdet = layer64(x64[i : i + 1])[1]
        assert abs(logabsdet.item() - logdet.item()) < JACOBIAN_ATOL, (
            f"log|det J| = {logabsdet.item()} but the layer says {logdet.item()}"
        )
        assert abs(batch_logdet[i].item() - logdet.item()) < JACOBIAN_ATOL
