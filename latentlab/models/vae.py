"""Variational autoencoder with a convolutional (or a fully connected) encoder and decoder.

Kingma & Welling, "Auto-Encoding Variational Bayes" (2014); the importance-weighted bound is
from Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (2015).

The decoder's likelihood is a categorical distribution over the data's discrete levels for
every sub-pixel (17 levels for scikit-learn's digits), so the ELBO and the IWAE bound are
bounds on a true discrete log-likelihood and compare directly with other families' nats.

The ``mlp`` architecture with the ``bernoulli`` likelihood is the VAE of the pytorch/examples
repository (one hidden layer each way, sigmoid outputs), which LatentLab imports
(:mod:`latentlab.importers`). Its likelihood treats each grey value in [0, 1] as the
probability target of a Bernoulli: its bounds are not bounds on a discrete likelihood of the
levels and do not compare with other models' nats or bits/dim.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from latentlab.models.base import (
    ConfigError,
    GenerativeModel,
    ImageConfig,
    bounded,
    imported_variant,
    to_levels,
)

__all__ = ["ARCHITECTURES", "IWAE_CHUNK_BYTES", "LIKELIHOODS", "VAE", "VAEConfig"]

ARCHITECTURES = ("conv", "mlp")
LIKELIHOODS = ("categorical", "bernoulli")

# what the decoder's logits of one chunk of the IWAE bound may take
IWAE_CHUNK_BYTES = 256 * 2**20


@dataclass
class VAEConfig(ImageConfig):
    latent_dim: int = bounded(2, 1, 512, "size of the latent z")
    hidden: int = bounded(
        32, 4, 256, "channels of the first conv layer (doubled twice; conv architecture only)"
    )
    dense: int = bounded(256, 8, 2048, "width of the fully connected (hidden) layer")
    architecture: str = imported_variant(
        "conv",
        ARCHITECTURES,
        "conv: three convolutions each way around a dense layer; mlp: one hidden dense layer "
        "each way",
    )
    likelihood: str = imported_variant(
        "categorical",
        LIKELIHOODS,
        "categorical over the levels, or bernoulli on grey values in [0, 1]",
    )

    def check(self) -> None:
        if self.architecture == "conv" and (self.height % 4 or self.width % 4):
            raise ConfigError("VAE image height and width must be multiples of 4")

    @property
    def logits_per_subpixel(self) -> int:
        """The decoder's outputs per sub-pixel: one per level, or one Bernoulli logit."""
        return self.levels if self.likelihood == "categorical" else 1


def _conv_features(c: VAEConfig) -> int:
    """Values in the conv architecture's smallest feature map (4h x H/4 x W/4)."""
    return 4 * c.hidden * (c.height // 4) * (c.width // 4)


class Encoder(nn.Module):
    """x -> (mu, logvar) of the diagonal Gaussian posterior q(z|x). The conv architecture sees
    x scaled to [-1, 1]; the mlp one sees the pixels in [0, 1], as the pytorch/examples VAE."""

    def __init__(self, c: VAEConfig) -> None:
        super().__init__()
        h = c.hidden
        self.convs: nn.Sequential | None = None
        if c.architecture == "conv":
            self.convs = nn.Sequential(
                nn.Conv2d(c.channels, h, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(h, 2 * h, 4, stride=2, padding=1),
                nn.ReLU(),  # H/2
                nn.Conv2d(2 * h, 4 * h, 4, stride=2, padding=1),
                nn.ReLU(),  # H/4
            )
        flat = _conv_features(c) if self.convs is not None else c.channels * c.height * c.width
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(flat, c.dense), nn.ReLU())
        self.out = nn.Linear(c.dense, 2 * c.latent_dim)  # linear output for mu and log sigma^2

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = x if self.convs is None else self.convs(x * 2 - 1)
        mu, logvar = self.out(self.dense(features)).chunk(2, dim=1)
        return mu, logvar


class Decoder(nn.Module):
    """z -> logits ``N, C, K, H, W``: K = levels of a categorical per sub-pixel, or K = 1
    Bernoulli logit."""

    def __init__(self, c: VAEConfig) -> None:
        super().__init__()
        h, k = c.hidden, c.logits_per_subpixel
        self.c = c
        self.deconvs: nn.Sequential | None = None
        if c.architecture == "conv":
            self.dense = nn.Sequential(
                nn.Linear(c.latent_dim, c.dense),
                nn.ReLU(),
                nn.Linear(c.dense, _conv_features(c)),
                nn.ReLU(),
            )
            self.deconvs = nn.Sequential(
                nn.ConvTranspose2d(4 * h, 2 * h, 4, stride=2, padding=1),
                nn.ReLU(),  # H/2
                nn.ConvTranspose2d(2 * h, h, 4, stride=2, padding=1),
                nn.ReLU(),  # H
                nn.Conv2d(h, c.channels * k, 3, padding=1),
            )
        else:
            self.dense = nn.Sequential(
                nn.Linear(c.latent_dim, c.dense),
                nn.ReLU(),
                nn.Linear(c.dense, c.channels * k * c.height * c.width),
            )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c = self.c
        logits = self.dense(z)
        if self.deconvs is not None:
            logits = self.deconvs(logits.view(-1, 4 * c.hidden, c.height // 4, c.width // 4))
        return logits.view(-1, c.channels, c.logits_per_subpixel, c.height, c.width)


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
        """The mean image of p(x|z) in [0, 1]: the expected level of each sub-pixel, or the
        Bernoulli's mean."""
        logits = self.decoder(z)
        if self.config.likelihood == "bernoulli":
            return logits.squeeze(2).sigmoid()
        return (logits.softmax(dim=2) * self.level_values).sum(dim=2)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)[0]

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x)."""
        return self.encoder(x)

    def log_likelihood(self, x_levels: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) in nats per image, summed over every sub-pixel; ``x_levels`` are the
        images' levels (:func:`to_levels`), which a Bernoulli takes as grey values in [0, 1]."""
        logits = self.decoder(z)  # N, C, K, H, W
        if self.config.likelihood == "bernoulli":
            target = (x_levels.to(logits.dtype) / (self.levels - 1)).unsqueeze(2)
            bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            return -bce.sum(dim=(1, 2, 3, 4))
        logp = logits.log_softmax(dim=2)
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
        their float32 logits (images x samples x C x H x W x K x 4 bytes, K logits per
        sub-pixel) within ``max_bytes``, all of an image's samples at once when they fit; at
        least one decode."""
        c = self.config
        decodes = max(1, max_bytes // (c.channels * c.height * c.width * c.logits_per_subpixel * 4))
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
