"""A replica of rosinality/glow-pytorch's ``model.py`` (its Glow, written from the public
repository's description, not copied), randomly initialised with every zero-initialised layer
perturbed, and saved as its ``train.py`` saves it (importable as ``rosinality``).

Conventions of the original kept here: ``Glow.forward(x)`` takes x~ - 1/2 and returns
``(log_p, logdet, z_outs)``; ``Glow.reverse(eps_list)`` maps whitened noise, one per block
(finest first), back to x~ - 1/2 with each z = mean + exp(log_sd) * eps; ActNorm initialises
from the first batch it sees unless ``initialized``; the last block's 1x1 convs are LU whatever
``conv_lu`` says (its ``Block`` is built without passing it)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def logabs(x: torch.Tensor) -> torch.Tensor:
    return torch.log(torch.abs(x))


class ActNorm(nn.Module):
    def __init__(self, in_channel: int) -> None:
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, in_channel, 1, 1))
        self.scale = nn.Parameter(torch.ones(1, in_channel, 1, 1))
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        flat = x.permute(1, 0, 2, 3).reshape(x.shape[1], -1)
        self.loc.copy_(-flat.mean(1).view(1, -1, 1, 1))
        self.scale.copy_(1 / (flat.std(1).view(1, -1, 1, 1) + 1e-6))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, _, h, w = x.shape
        if self.initialized.item() == 0:
            self.initialize(x)
            self.initialized.fill_(1)
        logdet = h * w * torch.sum(logabs(self.scale))
        return self.scale * (x + self.loc), logdet

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        return y / self.scale - self.loc


class InvConv2d(nn.Module):
    def __init__(self, in_channel: int) -> None:
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(in_channel, in_channel))
        self.weight = nn.Parameter(q.unsqueeze(2).unsqueeze(3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, _, h, w = x.shape
        logdet = h * w * torch.slogdet(self.weight.squeeze().double())[1].float()
        return F.conv2d(x, self.weight), logdet

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        return F.conv2d(y, self.weight.squeeze().inverse().unsqueeze(2).unsqueeze(3))


class InvConv2dLU(nn.Module):
    def __init__(self, in_channel: int) -> None:
        super().__init__()
        # the original: scipy.linalg.qr of np.random.randn, then scipy.linalg.lu (A = P L U)
        q, _ = torch.linalg.qr(torch.randn(in_channel, in_channel))
        w_p, w_l, w_u = torch.linalg.lu(q)
        w_s = torch.diag(w_u)
        w_u = torch.triu(w_u, 1)
        u_mask = torch.triu(torch.ones_like(w_u), 1)
        l_mask = u_mask.T.contiguous()
        self.register_buffer("w_p", w_p)
        self.register_buffer("u_mask", u_mask)
        self.register_buffer("l_mask", l_mask)
        self.register_buffer("s_sign", torch.sign(w_s))
        self.register_buffer("l_eye", torch.eye(in_channel))
        self.w_l = nn.Parameter(w_l)
        self.w_s = nn.Parameter(logabs(w_s))
        self.w_u = nn.Parameter(w_u)

    def calc_weight(self) -> torch.Tensor:
        weight = (
            self.w_p
            @ (self.w_l * self.l_mask + self.l_eye)
            @ (self.w_u * self.u_mask + torch.diag(self.s_sign * torch.exp(self.w_s)))
        )
        return weight.unsqueeze(2).unsqueeze(3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, _, h, w = x.shape
        return F.conv2d(x, self.calc_weight()), h * w * torch.sum(self.w_s)

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        weight = self.calc_weight()
        return F.conv2d(y, weight.squeeze().inverse().unsqueeze(2).unsqueeze(3))


class ZeroConv2d(nn.Module):
    def __init__(self, in_channel: int, out_channel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channel, out_channel, 3, padding=0)
        self.conv.weight.data.zero_()
        self.conv.bias.data.zero_()
        self.scale = nn.Parameter(torch.zeros(1, out_channel, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(F.pad(x, [1, 1, 1, 1], value=1))
        return out * torch.exp(self.scale * 3)


class AffineCoupling(nn.Module):
    def __init__(self, in_channel: int, filter_size: int = 512, affine: bool = True) -> None:
        super().__init__()
        self.affine = affine
        self.net = nn.Sequential(
            nn.Conv2d(in_channel // 2, filter_size, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(filter_size, filter_size, 1),
            nn.ReLU(inplace=True),
            ZeroConv2d(filter_size, in_channel if affine else in_channel // 2),
        )
        self.net[0].weight.data.normal_(0, 0.05)
        self.net[0].bias.data.zero_()
        self.net[2].weight.data.normal_(0, 0.05)
        self.net[2].bias.data.zero_()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        in_a, in_b = x.chunk(2, 1)
        if self.affine:
            log_s, t = self.net(in_a).chunk(2, 1)
            s = torch.sigmoid(log_s + 2)
            out_b = (in_b + t) * s
            logdet = torch.sum(torch.log(s).view(x.shape[0], -1), 1)
        else:
            out_b = in_b + self.net(in_a)
            logdet = None
        return torch.cat([in_a, out_b], 1), logdet

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        out_a, out_b = y.chunk(2, 1)
        if self.affine:
            log_s, t = self.net(out_a).chunk(2, 1)
            in_b = out_b / torch.sigmoid(log_s + 2) - t
        else:
            in_b = out_b - self.net(out_a)
        return torch.cat([out_a, in_b], 1)


class Flow(nn.Module):
    def __init__(
        self, in_channel: int, filter_size: int, affine: bool = True, conv_lu: bool = True
    ) -> None:
        super().__init__()
        self.actnorm = ActNorm(in_channel)
        self.invconv = InvConv2dLU(in_channel) if conv_lu else InvConv2d(in_channel)
        self.coupling = AffineCoupling(in_channel, filter_size, affine=affine)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, logdet = self.actnorm(x)
        out, det1 = self.invconv(out)
        out, det2 = self.coupling(out)
        logdet = logdet + det1
        if det2 is not None:
            logdet = logdet + det2
        return out, logdet

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        x = self.coupling.reverse(y)
        x = self.invconv.reverse(x)
        return self.actnorm.reverse(x)


def gaussian_log_p(x: torch.Tensor, mean: torch.Tensor, log_sd: torch.Tensor) -> torch.Tensor:
    return -0.5 * math.log(2 * math.pi) - log_sd - 0.5 * (x - mean) ** 2 / torch.exp(2 * log_sd)


def gaussian_sample(eps: torch.Tensor, mean: torch.Tensor, log_sd: torch.Tensor) -> torch.Tensor:
    return mean + torch.exp(log_sd) * eps


class Block(nn.Module):
    def __init__(
        self,
        in_channel: int,
        n_flow: int,
        filter_size: int,
        split: bool = True,
        affine: bool = True,
        conv_lu: bool = True,
    ) -> None:
        super().__init__()
        squeeze_dim = in_channel * 4
        self.flows = nn.ModuleList(
            Flow(squeeze_dim, filter_size, affine=affine, conv_lu=conv_lu) for _ in range(n_flow)
        )
        self.split = split
        if split:
            self.prior = ZeroConv2d(in_channel * 2, in_channel * 4)
        else:
            self.prior = ZeroConv2d(in_channel * 4, in_channel * 8)

    def forward(self, x: torch.Tensor):
        b, c, h, w = x.shape
        squeezed = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
        out = squeezed.contiguous().view(b, c * 4, h // 2, w // 2)
        logdet = 0
        for flow in self.flows:
            out, det = flow(out)
            logdet = logdet + det
        if self.split:
            out, z_new = out.chunk(2, 1)
            mean, log_sd = self.prior(out).chunk(2, 1)
            log_p = gaussian_log_p(z_new, mean, log_sd).view(b, -1).sum(1)
        else:
            mean, log_sd = self.prior(torch.zeros_like(out)).chunk(2, 1)
            log_p = gaussian_log_p(out, mean, log_sd).view(b, -1).sum(1)
            z_new = out
        return out, logdet, log_p, z_new

    def reverse(self, output: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        if self.split:
            mean, log_sd = self.prior(output).chunk(2, 1)
            x = torch.cat([output, gaussian_sample(eps, mean, log_sd)], 1)
        else:
            mean, log_sd = self.prior(torch.zeros_like(output)).chunk(2, 1)
            x = gaussian_sample(eps, mean, log_sd)
        for flow in self.flows[::-1]:
            x = flow.reverse(x)
        b, c, h, w = x.shape
        x = x.view(b, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
        return x.contiguous().view(b, c // 4, h * 2, w * 2)


class Glow(nn.Module):
    def __init__(
        self,
        in_channel: int,
        n_flow: int,
        n_block: int,
        filter_size: int = 512,
        affine: bool = True,
        conv_lu: bool = True,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList()
        n_channel = in_channel
        for _ in range(n_block - 1):
            self.blocks.append(
                Block(n_channel, n_flow, filter_size, affine=affine, conv_lu=conv_lu)
            )
            n_channel *= 2
        self.blocks.append(Block(n_channel, n_flow, filter_size, split=False, affine=affine))

    def forward(self, x: torch.Tensor):
        log_p_sum, logdet, out, z_outs = 0, 0, x, []
        for block in self.blocks:
            out, det, log_p, z_new = block(out)
            z_outs.append(z_new)
            logdet = logdet + det
            log_p_sum = log_p_sum + log_p
        return log_p_sum, logdet, z_outs

    def reverse(self, eps_list: list[torch.Tensor]) -> torch.Tensor:
        x = eps_list[-1]
        for i, block in enumerate(self.blocks[::-1]):
            x = block.reverse(x, eps_list[-(i + 1)])
        return x


def glow(
    in_channel: int = 3,
    n_flow: int = 2,
    n_block: int = 2,
    filter_size: int = 8,
    affine: bool = True,
    conv_lu: bool = True,
    seed: int = 0,
) -> Glow:
    """A replica with every parameter drawn away from its initial value (ActNorm's scales
    include negative ones; the zero-initialised convolutions and gains are not zero), in eval
    mode with every ActNorm marked initialised."""
    torch.manual_seed(seed)
    model = Glow(in_channel, n_flow, n_block, filter_size, affine, conv_lu)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, ActNorm):
                c = m.loc.shape[1]
                m.loc.copy_(0.2 * torch.randn(1, c, 1, 1, generator=g))
                sign = torch.where(torch.rand(1, c, 1, 1, generator=g) < 0.3, -1.0, 1.0)
                m.scale.copy_(sign * (0.6 + 0.8 * torch.rand(1, c, 1, 1, generator=g)))
                m.initialized.fill_(1)
            elif isinstance(m, ZeroConv2d):
                m.conv.weight.copy_(0.03 * torch.randn(m.conv.weight.shape, generator=g))
                m.conv.bias.copy_(0.1 * torch.randn(m.conv.bias.shape, generator=g))
                m.scale.copy_(0.1 * torch.randn(m.scale.shape, generator=g))
            elif isinstance(m, InvConv2dLU):
                m.w_l.add_(0.1 * torch.randn(m.w_l.shape, generator=g))
                m.w_u.add_(0.1 * torch.randn(m.w_u.shape, generator=g))
                m.w_s.add_(0.1 * torch.randn(m.w_s.shape, generator=g))
            elif isinstance(m, InvConv2d):
                m.weight.add_(0.1 * torch.randn(m.weight.shape, generator=g))
    return model.eval()


def latent_parts(model: Glow, z: torch.Tensor, size: int, channels: int) -> list[torch.Tensor]:
    """LatentLab's flat latent ``z`` (finest level first, then the top, each C,H,W) as the
    replica's per-block eps list."""
    n_block = len(model.blocks)
    shapes, c, s = [], channels, size
    for b in range(n_block):
        c, s = 4 * c, s // 2
        if b < n_block - 1:
            shapes.append((c // 2, s, s))
            c //= 2
    shapes.append((c, s, s))
    sizes = [math.prod(shape) for shape in shapes]
    parts = torch.split(z, sizes, dim=1)
    return [p.reshape(len(z), *shape) for p, shape in zip(parts, shapes, strict=True)]
