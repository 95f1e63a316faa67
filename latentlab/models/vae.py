"""Variational autoencoder with a convolutional encoder and decoder.

Kingma & Welling, "Auto-Encoding Variational Bayes" (2014); the importance-weighted bound is
from Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (2015).

The decoder's likelihood is a categorical distribution over the data's discrete levels for
every sub-pixel (17 levels for scikit-learn's digits), so the ELBO and the IWAE bound are
bounds on a true discrete log-likelihood and compare directly with other families' nats.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from latentlab.models.base import ConfigError, GenerativeModel, ImageConfig, bounded, to_levels

__all__ = ["IWAE_CHUNK_BYTES", "VAE", "VAEConfig"]

# what the decoder's logits of one chunk of the IWAE bound may take
IWAE_CHUNK_BYTES = 256 * 2**20


@dataclass
class VAEConfig(ImageConfig):
    latent_dim: int = bounded(2, 1, 512, "size of the latent z")
    hidden: int = bounded(32, 4, 256, "channels of the first conv layer (doubled twice)")
    dense: int = bounded(256, 8, 2048, "width of the fully connected layer")

    def check(self) -> None:
        if self.height % 4 or self.width % 4:
            raise ConfigError("VAE image height and width must be multiples of 4")


class Encoder(nn.Module):
    """x -> (mu, logvar) of the diagonal Gaussian posterior q(z|x)."""

    def __init__(self, c: VAEConfig) -> None:
        super().__init__()
        h = c.hidden
        self.convs = nn.Sequential(
            nn.Conv2d(c.channels, h, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(h, 2 * h, 4, stride=2, padding=1),
            nn.ReLU(),  # H/2
            nn.Conv2d(2 * h, 4 * h, 4, stride=2, padding=1),
            nn.ReLU(),  # H/4
        )
        flat = 4 * h * (c.height // 4) * (c.width // 4)
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(flat, c.dense), nn.ReLU())
        self.out = nn.Linear(c.dense, 2 * c.latent_dim)  # linear output for mu and log sigma^2

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.out(self.dense(self.convs(x * 2 - 1))).chunk(2, dim=1)
        return mu, logvar


class Decoder(nn.Module):
    """z -> logits ``N, C, levels, H, W`` of a categorical per sub-pixel."""

    def __init__(self, c: VAEConfig) -> None:
        super().__init__()
        h = c.hidden
        self.c = c
        self.dense = nn.Sequential(
            nn.Linear(c.latent_dim, c.dense),
            nn.ReLU(),
            nn.Linear(c.dense, 4 * h * (c.height // 4) * (c.width // 4)),
            nn.ReLU(),
        )
        self.deconvs = nn.Sequential(
            nn.ConvTranspose2d(4 * h, 2 * h, 4, stride=2, padding=1),
            nn.ReLU(),  # H/2
            nn.ConvTranspose2d(2 * h, h, 4, stride=2, padding=1),
            nn.ReLU(),  # H
            nn.Conv2d(h, c.channels * c.levels, 3, padding=1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c = self.c
        h = self.dense(z).view(-1, 4 * c.hidden, c.height // 4, c.width // 4)
        logits = self.deconvs(h)  # N, C*levels, H, W
        return logits.view(-1, c.channels, c.levels, c.height, c.width)


class VAE(GenerativeModel):
    family = "vae"
    config_class = VAEConfig
    capabilities = frozenset({"sample", "decode", "encode", "log_prob"})
    metric_name = "IWAE bound"
    level_values: torch.Tensor  # a non-persistent buffer: the value of each level, 1,1,L,1,1

    @classmethod
    def tiny_config(cls) -> VAEConfig:
        return VAEConfig(latent_dim=2, hidden=4, dense=8)

    def __init__(self, config: VAEConfig) -> None:
        super().__init__(config)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        # from a list, not arange: arange on the meta device (model-file checks) imports
        # torch's decompositions, which costs seconds
        levels = torch.tensor([k / (config.levels - 1) for k in range(config.levels)])
        self.register_buffer("level_values", levels.view(1, 1, -1, 1, 1), persistent=False)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def sample_latent(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        device = self.level_values.device
        return temperature * torch.randn(n, self.latent_dim, generator=generator, device=device)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The mean image of p(x|z): the expected level of each sub-pixel, in [0, 1]."""
        probs = self.decoder(z).softmax(dim=2)
        return (probs * self.level_values).sum(dim=2)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)[0]

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x)."""
        return self.encoder(x)

    def log_likelihood(self, x_levels: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) in nats per image, summed over every sub-pixel."""
        logp = self.decoder(z).log_softmax(dim=2)  # N, C, L, H, W
        return logp.gather(2, x_levels.unsqueeze(2)).sum(dim=(1, 2, 3, 4))

    def elbo_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image reconstruction log-likelihood and KL(q(z|x) || N(0, I)), both in nats.

        Both are sums over dimensions (never means), so the KL keeps its weight (docs/families.md).
        """
        mu, logvar = self.encoder(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # reparameterisation
        rec = self.log_likelihood(to_levels(x, self.levels), z)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=1)  # closed form
        return rec, kl

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pass (what DistributedDataParallel wraps): :meth:`elbo_terms`."""
        return self.elbo_terms(x)

    def elbo(self, x: torch.Tensor) -> torch.Tensor:
        rec, kl = self.elbo_terms(x)
        return rec - kl

    def iwae_chunks(self, samples: int, max_bytes: int = IWAE_CHUNK_BYTES) -> tuple[int, int]:
        """Images and importance samples per chunk of :meth:`log_prob`: as many decodes as keep
        their float32 logits (images x samples x C x H x W x levels x 4 bytes) within
        ``max_bytes``, all of an image's samples at once when they fit; at least one decode."""
        c = self.config
        decodes = max(1, max_bytes // (c.channels * c.height * c.width * c.levels * 4))
        per_image = min(samples, decodes)
        return max(1, decodes // per_image), per_image

    def log_prob(
        self,
        x: torch.Tensor,
        samples: int = 128,
        max_bytes: int = IWAE_CHUNK_BYTES,
        progress: Callable[[int], object] | None = None,
    ) -> torch.Tensor:
        """The importance-weighted lower bound L_k on log p(x), nats per image (Burda et al. eq. 8).

        ``samples`` is k; k = 1 is the ELBO. The work goes in chunks of images and of samples
        (:meth:`iwae_chunks`), so memory stays bounded whatever k and the image size; each image
        draws its own noise, so the chunking does not change the result. ``progress`` is called
        with the number of images done after each chunk of images.
        """
        images, per_chunk = self.iwae_chunks(samples, max_bytes)
        out = []
        for xb in torch.split(x, images):
            mu, logvar = self.encoder(xb)
            # one draw per image, in order: the same noise however the images are chunked
            draws = [torch.randn(samples, self.latent_dim, device=mu.device) for _ in xb]
            eps = torch.stack(draws, dim=1)  # k, N, D
            levels = to_levels(xb, self.levels)
            log_w = torch.cat(
                [self._log_weights(levels, mu, logvar, e) for e in torch.split(eps, per_chunk)]
            )
            out.append(torch.logsumexp(log_w, dim=0) - math.log(samples))
            if progress is not None:
                progress(len(xb))
        return torch.cat(out)

    def _log_weights(
        self, levels: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor
    ) -> torch.Tensor:
        """log p(x, z) - log q(z|x), ``s, N``, for noise ``eps`` ``s, N, D`` (z = mu + std eps)."""
        s = len(eps)
        z = mu + (0.5 * logvar).exp() * eps
        log_px_z = self.log_likelihood(levels.repeat(s, 1, 1, 1), z.flatten(0, 1)).view(s, -1)
        log_pz = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)
        log_qz = -0.5 * (eps.pow(2) + math.log(2 * math.pi) + logvar).sum(-1)
        return log_px_z + log_pz - log_qz
