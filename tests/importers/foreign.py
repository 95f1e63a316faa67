"""Replicas of the foreign networks LatentLab imports, written from their public descriptions
(pytorch/examples: dcgan/main.py's Generator and Discriminator, vae/main.py's VAE), randomly
initialised and saved as their authors' scripts save them (importable as ``foreign``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class NetG(nn.Module):
    """dcgan/main.py's Generator: z ``N, nz, 1, 1`` -> 64x64 images in (-1, 1)."""

    def __init__(self, nz: int, ngf: int, nc: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


class NetD(nn.Module):
    """dcgan/main.py's Discriminator: 64x64 images -> P(real)."""

    def __init__(self, ndf: int, nc: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1, 1).squeeze(1)


class ExamplesVAE(nn.Module):
    """vae/main.py's VAE (there 400 hidden units and a latent of 20) on 28x28 grey images."""

    def __init__(self, latent: int = 20, hidden: int = 400) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc21 = nn.Linear(hidden, latent)
        self.fc22 = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, 784)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h1 = F.relu(self.fc1(x.view(-1, 784)))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))


def perturbed(module: nn.Module, seed: int = 0) -> nn.Module:
    """``module`` in eval mode with every BatchNorm's affine parameters and running statistics
    drawn away from the identity, so that a conversion that drops or mixes them up shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(1 + 0.3 * torch.randn(n, generator=generator))
                m.bias.copy_(0.3 * torch.randn(n, generator=generator))
                m.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
                m.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                m.num_batches_tracked.fill_(7)
    return module.eval()


def net_g(nz: int = 8, ngf: int = 4, nc: int = 3, seed: int = 0) -> NetG:
    torch.manual_seed(seed)
    return perturbed(NetG(nz, ngf, nc), seed)


def net_d(ndf: int = 4, nc: int = 3, seed: int = 0) -> NetD:
    torch.manual_seed(seed)
    return perturbed(NetD(ndf, nc), seed)


def examples_vae(latent: int = 20, hidden: int = 400, seed: int = 0) -> ExamplesVAE:
    torch.manual_seed(seed)
    return ExamplesVAE(latent, hidden).eval()


def save_state(path, module: nn.Module, prefix: str = ""):
    """``torch.save(module.state_dict(), path)``, each name prefixed with ``prefix``."""
    torch.save({prefix + k: v for k, v in module.state_dict().items()}, path)
    return path


def generated(net: NetG, z: torch.Tensor) -> torch.Tensor:
    """What the original generator makes of flat latents ``z``, mapped to [0, 1]."""
    with torch.no_grad():
        return (net(z.view(len(z), -1, 1, 1)) + 1) / 2
