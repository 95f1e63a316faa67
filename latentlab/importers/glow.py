"""The Glow of rosinality/glow-pytorch (``model.py``, saved by ``train.py`` as
``checkpoint/model_NNNNNN.pt``), imported exactly into LatentLab's Glow family.

Its ``Glow`` is ``n_block`` blocks; block b squeezes (the same channel order as LatentLab's
:class:`~latentlab.models.flow_layers.Squeeze`), runs ``n_flow`` flows ``actnorm -> invconv ->
coupling``, then all but the last split off the second half of the channels under
N(mean, exp(log_sd)) from ``prior`` (a ZeroConv2d) of the kept half; the last block's prior is
``prior`` of zeros. Step by step against LatentLab's layers:

- ``actnorm``: ``scale * (x + loc)``, log-det H*W*sum(log|scale|); LatentLab's ActNorm is
  ``(x + bias) * exp(3 logs)``: bias = loc, logs = log|scale| / 3, and the sign of a negative
  scale is folded into the columns of the next 1x1 convolution (W diag(sign)), exactly.
- ``invconv``: LU form (``w_p``, ``w_l``, ``w_s``, ``w_u`` and their fixed masks) is LatentLab's
  LU form (perm, lower, log_s, upper, sign_s); the plain form (``weight``) its full matrix. The
  repository builds the last block with its default, LU, even for a model trained with plain
  convolutions: such a model is imported with full matrices, the LU ones multiplied out.
- ``coupling``: ``net`` is LatentLab's coupling network layer for layer; affine is
  ``(in_b + t) * sigmoid(log_s + 2)`` (LatentLab's affine-sigmoid), additive ``in_b + net``.
- ``ZeroConv2d`` pads its input with ones (``F.pad(..., value=1)``): LatentLab's Glow with
  ``zero_padding="ones"``; its ``scale`` is the gain of LatentLab's ZeroConv2d.
- the top prior, ``prior(zeros)``, varies at the border because of that padding: it is computed
  at import and becomes LatentLab's learned top (a mean and log-sd per position and channel).

Its input is ``floor(x * 255 / 2**(8 - bits)) / 2**bits - 1/2`` plus uniform noise
``/ 2**bits``: x~ - 1/2 with 2**bits levels, as LatentLab's Glow; its loss
``-(log_p + logdet - log(n_bins) * n_pixel)`` is LatentLab's ``-log_prob``. The file says
neither the image size nor the bits: the options ``image_size`` (64) and ``bits`` (5) do.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path

import torch
import torch.nn.functional as F

from latentlab.importers import GLOW_ROSINALITY
from latentlab.importers.formats import (
    Converted,
    Format,
    check_dims,
    check_shapes,
    checked_config,
    has_layout,
)
from latentlab.importers.reading import refuse
from latentlab.models.glow import ACTNORM_LOGSCALE_FACTOR, Glow, GlowConfig

__all__ = ["FORMAT"]

IMAGE_SIZE = 64  # train.py's default --img_size
BITS = 5  # train.py's default --n_bits
_LU = ("w_p", "w_l", "w_s", "w_u", "u_mask", "l_mask", "s_sign", "l_eye")
_PLAIN = ("weight",)
_NAME = re.compile(r"blocks\.(\d+)\.(?:flows\.(\d+)\.(?:actnorm|invconv|coupling)|prior)\.")


def _structure(names: Collection[str]) -> tuple[int, int, list[bool]] | None:
    """(n_block, n_flow, whether each block's 1x1 convolutions are LU) that ``names`` show,
    or None when they are not a rosinality Glow's."""
    blocks: set[int] = set()
    flows: set[int] = set()
    for name in names:
        found = _NAME.match(name)
        if found is None:
            return None
        blocks.add(int(found[1]))
        if found[2] is not None:
            flows.add(int(found[2]))
    if not blocks or not flows:
        return None
    n_block, n_flow = max(blocks) + 1, max(flows) + 1
    lu = [f"blocks.{b}.flows.0.invconv.w_p" in names for b in range(n_block)]
    required, optional = _layout(n_block, n_flow, lu)
    return (n_block, n_flow, lu) if has_layout(names, required, optional) else None


def _layout(n_block: int, n_flow: int, lu: list[bool]) -> tuple[set[str], set[str]]:
    """The required and optional tensor names of a rosinality Glow."""
    required, optional = set(), set()
    for b in range(n_block):
        conv = _LU if lu[b] else _PLAIN
        required |= {f"blocks.{b}.prior.{p}" for p in ("conv.weight", "conv.bias", "scale")}
        for f in range(n_flow):
            flow = f"blocks.{b}.flows.{f}"
            required |= {f"{flow}.actnorm.loc", f"{flow}.actnorm.scale"}
            optional.add(f"{flow}.actnorm.initialized")  # absent from older checkpoints
            required |= {f"{flow}.invconv.{p}" for p in conv}
            net = f"{flow}.coupling.net"
            required |= {f"{net}.{i}.{p}" for i in (0, 2) for p in ("weight", "bias")}
            required |= {f"{net}.4.conv.weight", f"{net}.4.conv.bias", f"{net}.4.scale"}
    return required, optional


def _is_glow(names: Collection[str]) -> bool:
    return _structure(names) is not None


def _expected(
    n_block: int, n_flow: int, lu: list[bool], channels: int, hidden: int, affine: bool
) -> dict[str, tuple[int, ...]]:
    """The tensor shapes of a rosinality Glow (``initialized`` aside)."""
    shapes: dict[str, tuple[int, ...]] = {}
    n = channels
    for b in range(n_block):
        c = 4 * n  # after the squeeze
        last = b == n_block - 1
        p_in, p_out = (c, 2 * c) if last else (c // 2, c)
        shapes |= {
            f"blocks.{b}.prior.conv.weight": (p_out, p_in, 3, 3),
            f"blocks.{b}.prior.conv.bias": (p_out,),
            f"blocks.{b}.prior.scale": (1, p_out, 1, 1),
        }
        out = c if affine else c // 2
        for f in range(n_flow):
            flow = f"blocks.{b}.flows.{f}"
            shapes |= {f"{flow}.actnorm.loc": (1, c, 1, 1), f"{flow}.actnorm.scale": (1, c, 1, 1)}
            if lu[b]:
                shapes |= {f"{flow}.invconv.{p}": (c, c) for p in _LU}
                shapes |= {f"{flow}.invconv.w_s": (c,), f"{flow}.invconv.s_sign": (c,)}
            else:
                shapes[f"{flow}.invconv.weight"] = (c, c, 1, 1)
            net = f"{flow}.coupling.net"
            shapes |= {
                f"{net}.0.weight": (hidden, c // 2, 3, 3),
                f"{net}.0.bias": (hidden,),
                f"{net}.2.weight": (hidden, hidden, 1, 1),
                f"{net}.2.bias": (hidden,),
                f"{net}.4.conv.weight": (out, hidden, 3, 3),
                f"{net}.4.conv.bias": (out,),
                f"{net}.4.scale": (1, out, 1, 1),
            }
        n *= 2
    return shapes


def _lu_factors(
    path: Path, tensors: dict[str, torch.Tensor], name: str
) -> tuple[torch.Tensor, ...]:
    """P, the strictly lower L, log|s|, the strictly upper U and sign(s) of the LU 1x1 conv
    ``name`` in float64, after checking its fixed buffers are what the repository makes."""
    t = {p: tensors[f"{name}.{p}"].double() for p in _LU}
    c = t["w_p"].shape[0]
    ones = torch.ones(c, c, dtype=torch.float64)
    eye = torch.eye(c, dtype=torch.float64)
    checks = (
        ("u_mask", torch.equal(t["u_mask"], ones.triu(1))),
        ("l_mask", torch.equal(t["l_mask"], ones.tril(-1))),
        ("l_eye", torch.equal(t["l_eye"], eye)),
        ("s_sign", bool((t["s_sign"].abs() == 1).all())),
        ("w_p", bool(((t["w_p"] == 0) | (t["w_p"] == 1)).all()) and _is_permutation(t["w_p"])),
    )
    for buffer, fine in checks:
        if not fine:
            raise refuse(
                path, f"tensor {name}.{buffer!r} is not what rosinality/glow-pytorch fixes it to"
            )
    lower, upper = t["w_l"] * t["l_mask"], t["w_u"] * t["u_mask"]
    return t["w_p"], lower, t["w_s"], upper, t["s_sign"]


def _is_permutation(p: torch.Tensor) -> bool:
    return bool((p.sum(0) == 1).all() and (p.sum(1) == 1).all())


@torch.no_grad()
def _top_prior(
    weight: torch.Tensor, bias: torch.Tensor, scale: torch.Tensor, shape: tuple[int, int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """mean and log_sd (1, C, H, W) of the last block's ``prior(zeros)``, in float64."""
    zeros = torch.zeros(1, *shape, dtype=torch.float64)
    h = F.conv2d(F.pad(zeros, [1, 1, 1, 1], value=1.0), weight.double(), bias.double())
    mean, log_sd = (h * (3 * scale.double()).exp()).chunk(2, dim=1)
    return mean, log_sd


def _convert(
    path: Path, tensors: dict[str, torch.Tensor], *, image_size: int, bits: int
) -> Converted:
    structure = _structure(tensors.keys())
    assert structure is not None  # matched
    n_block, n_flow, lu = structure
    first = "blocks.0.flows.0"
    net = f"{first}.coupling.net"
    dims = {f"{first}.actnorm.loc": 4, f"{net}.0.weight": 4, f"{net}.4.conv.weight": 4}
    check_dims(path, tensors, dims)
    squeezed = tensors[f"{first}.actnorm.loc"].shape[1]
    hidden = tensors[f"{net}.0.weight"].shape[0]
    channels = squeezed // 4
    out = tensors[f"{net}.4.conv.weight"].shape[0]
    affine = out == squeezed
    if not 1 <= bits <= 8:
        raise refuse(path, f"bits must be 1..8, not {bits}")
    kind = f"{'affine' if affine else 'additive'} coupling"
    what = (
        f"a rosinality Glow of {n_block} block(s) of {n_flow} flow(s), {kind}, {hidden} "
        f"hidden channels, on {channels}x{image_size}x{image_size} images"
    )
    if squeezed % 4 or not channels:
        why = f"tensor '{first}.actnorm.loc' has {squeezed} channels, not 4 per colour"
        raise refuse(path, why)
    check_shapes(
        path,
        {k: v for k, v in tensors.items() if not k.endswith(".initialized")},
        _expected(n_block, n_flow, lu, channels, hidden, affine),
        what,
    )
    config = GlowConfig(
        channels=channels,
        height=image_size,
        width=image_size,
        levels=2**bits,
        scales=n_block,
        steps=n_flow,
        hidden=hidden,
        coupling="affine" if affine else "additive",
        permutation="lu" if all(lu) else "plain",
        learn_top=True,
        zero_padding="ones",
    )
    config = checked_config(path, config, what)
    model = Glow(config)
    state = model.state_dict()
    for b in range(n_block):
        _convert_block(path, tensors, state, b, n_flow, lu[b], config.permutation == "lu")
        if b < n_block - 1:
            src, split = f"blocks.{b}.prior", f"flow.splits.{b}.prior"
            state[f"{split}.conv.weight"] = tensors[f"{src}.conv.weight"]
            state[f"{split}.conv.bias"] = tensors[f"{src}.conv.bias"]
            state[f"{split}.gain"] = tensors[f"{src}.scale"]
    last = f"blocks.{n_block - 1}.prior"
    weight, bias, scale = (tensors[f"{last}.{p}"] for p in ("conv.weight", "conv.bias", "scale"))
    side = image_size // 2**n_block
    mean, log_sd = _top_prior(weight, bias, scale, (weight.shape[1], side, side))
    state["flow.top.bias"] = -mean.float()  # eps = (h - mean) * exp(-log_sd)
    state["flow.top.log_scale"] = -log_sd.float()
    model.load_state_dict(state, strict=True)
    return Converted(
        model.eval(),
        f"imported exactly, for {image_size}x{image_size} images of {bits} bits (2**{bits} "
        "levels; the file does not say these: latentlab import --image-size and --bits do); "
        "its bits/dim compare with train.py's loss",
    )


def _convert_block(
    path: Path,
    tensors: dict[str, torch.Tensor],
    state: dict[str, torch.Tensor],
    b: int,
    n_flow: int,
    lu: bool,
    to_lu: bool,
) -> None:
    """Fill ``state`` (LatentLab's names) with block ``b``'s flows."""
    for f in range(n_flow):
        src, dst = f"blocks.{b}.flows.{f}", f"flow.blocks.{b}.layers.{f + 1}.layers"
        scale = tensors[f"{src}.actnorm.scale"].double().flatten()
        if not bool((scale != 0).all()):
            why = f"tensor '{src}.actnorm.scale' has zeros: the flow is not invertible"
            raise refuse(path, why)
        sign = scale.sign()
        state[f"{dst}.0.bias"] = tensors[f"{src}.actnorm.loc"]
        logs = scale.abs().log() / ACTNORM_LOGSCALE_FACTOR
        state[f"{dst}.0.logs"] = logs.float().view(1, -1, 1, 1)
        state[f"{dst}.0.initialized"] = torch.ones(1, dtype=torch.uint8)
        # actnorm's sign goes into the 1x1 conv after it: W (sign * |s| (x + loc))
        if lu:
            perm, lower, log_s, upper, s_sign = _lu_factors(path, tensors, f"{src}.invconv")
            upper, s_sign = upper * sign, s_sign * sign  # columns of U + diag(s)
            if to_lu:
                state[f"{dst}.1.perm"] = perm.float()
                state[f"{dst}.1.lower"] = lower.float()
                state[f"{dst}.1.upper"] = upper.float()
                state[f"{dst}.1.log_s"] = log_s.float()
                state[f"{dst}.1.sign_s"] = s_sign.float()
            else:
                eye = torch.eye(len(sign), dtype=torch.float64)
                w = perm @ (lower + eye) @ (upper + torch.diag(s_sign * log_s.exp()))
                state[f"{dst}.1.weight"] = w.float()
        else:
            w = tensors[f"{src}.invconv.weight"].double()[:, :, 0, 0] * sign
            state[f"{dst}.1.weight"] = w.float()
        net, to = f"{src}.coupling.net", f"{dst}.2.net.net"
        for i in (0, 2):
            state[f"{to}.{i}.weight"] = tensors[f"{net}.{i}.weight"]
            state[f"{to}.{i}.bias"] = tensors[f"{net}.{i}.bias"]
        state[f"{to}.4.conv.weight"] = tensors[f"{net}.4.conv.weight"]
        state[f"{to}.4.conv.bias"] = tensors[f"{net}.4.conv.bias"]
        state[f"{to}.4.gain"] = tensors[f"{net}.4.scale"]


FORMAT = Format(
    name=GLOW_ROSINALITY,
    title="the Glow of rosinality/glow-pytorch",
    matches=_is_glow,
    convert=_convert,
    options={"image_size": IMAGE_SIZE, "bits": BITS},
)
