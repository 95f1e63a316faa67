"""Probabilistic PCA (Tipping & Bishop, "Probabilistic principal component analysis", 1999):
a linear Gaussian latent variable model, the smallest family with every capability but
``complete``.

    z ~ N(0, I_k),    x | z ~ N(W z + mu, sigma^2 I_D)    so    x ~ N(mu, W W^T + sigma^2 I_D)

Images are flattened to D = C*H*W values. ``decode`` gives the mean ``W z + mu`` (clamped to
[0, 1]), ``encode`` the posterior mean ``M^-1 W^T (x - mu)`` with ``M = W^T W + sigma^2 I_k``,
``log_prob`` the Gaussian density of the bin centres times the bins' volume (nats per image),
and :func:`fit_ppca` the maximum-likelihood fit in closed form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from latentlab.models.base import GenerativeModel, ImageConfig, bounded, dequantize


@dataclass
class PPCAConfig(ImageConfig):
    """Every value bounded: a model file's config is untrusted and checked against these."""

    latent_dim: int = bounded(8, 1, 64, "latent dimensions (principal components)")
    init_scale: float = bounded(0.1, 0.0, 1.0, "scale of the random loadings at creation")


class PPCA(GenerativeModel):
    family: ClassVar[str] = "ppca"
    config_class: ClassVar[type] = PPCAConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"sample", "decode", "encode", "log_prob"})
    metric_name: ClassVar[str] = "exact NLL (nats)"

    def __init__(self, config: PPCAConfig) -> None:
        super().__init__(config)
        d = config.channels * config.height * config.width
        # No explicit device: model files are checked against a model built on the meta device.
        self.weight = nn.Parameter(torch.randn(d, config.latent_dim) * config.init_scale)
        self.mean = nn.Parameter(torch.full((d,), 0.5))
        self.log_sigma = nn.Parameter(torch.tensor(math.log(0.1)))

    @classmethod
    def tiny_config(cls) -> PPCAConfig:
        return PPCAConfig(latent_dim=2)

    @property
    def latent_dim(self) -> int:
        return int(self.config.latent_dim)

    def sample_latent(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        z = torch.randn(n, self.latent_dim, generator=generator, device=self.mean.device)
        return z * temperature

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        x = z.to(self.weight.dtype) @ self.weight.T + self.mean
        return x.clamp(0, 1).view(len(z), *self.image_shape)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        w, sigma2 = self.weight, torch.exp(2 * self.log_sigma)
        m = w.T @ w + sigma2 * torch.eye(self.latent_dim, dtype=w.dtype, device=w.device)
        centred = x.reshape(len(x), -1).to(w.dtype) - self.mean
        return torch.linalg.solve(m, (centred @ w).T).T

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        w, sigma2 = self.weight, torch.exp(2 * self.log_sigma)
        d = w.shape[0]
        covariance = w @ w.T + sigma2 * torch.eye(d, dtype=w.dtype, device=w.device)
        x_tilde = dequantize(x, self.levels, noise=False, dtype=w.dtype).reshape(len(x), -1)
        density = torch.distributions.MultivariateNormal(self.mean, covariance)
        return density.log_prob(x_tilde) - d * math.log(self.levels)


def fit_ppca(images: torch.Tensor, config: PPCAConfig) -> PPCA:
    """The maximum-likelihood PPCA of ``images`` (N,C,H,W in [0, 1]) in closed form: the top
    eigenvectors of the sample covariance, scaled, and the mean of the discarded eigenvalues as
    the noise variance (Tipping & Bishop, eq. 7-8)."""
    x = images.reshape(len(images), -1).double()
    mean = x.mean(0)
    eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov((x - mean).T))
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    k = config.latent_dim
    sigma2 = eigenvalues[k:].mean().clamp_min(1e-6)
    weight = eigenvectors[:, :k] * torch.sqrt((eigenvalues[:k] - sigma2).clamp_min(0))
    model = PPCA(config)
    with torch.no_grad():
        model.weight.copy_(weight)
        model.mean.copy_(mean)
        model.log_sigma.fill_(0.5 * math.log(float(sigma2)))
    return model.eval()
