"""What a VAE makes of one image: the two terms of its ELBO and how much of the KL each latent
dimension carries, beside the same per dimension averaged over the reference set. Dimensions
that carry no KL on average are ones the VAE does not use ("inactive units", Burda, Grosse &
Salakhutdinov 2016, §5.2): their posterior is the prior whatever the image. And a few draws from
the posterior by the reparameterisation z = m + sigma * e, e ~ N(0, I) (Kingma & Welling 2014,
§2.4), decoded: what the images the encoder thinks this one could be look like."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import torch

from latentlab.explore import ops
from latentlab.models.base import bits_per_dim, to_levels
from latentlab.models.vae import VAE

__all__ = [
    "IN_USE_KL_NATS",
    "PosteriorDraws",
    "PosteriorReport",
    "posterior_draws",
    "posterior_report",
    "reference_kl_per_dim",
]

#: A latent dimension is in use when its KL, averaged over the reference images, exceeds this
#: many nats. An unused one carries next to none: its posterior is the prior for every image.
#: (Burda et al. test the variance of the posterior mean against 10^-2 instead; the mean KL
#: is what the panel's bars show.)
IN_USE_KL_NATS = 0.1
REFERENCE_CHUNK = 256  # reference images per step of reference_kl_per_dim


@dataclass
class PosteriorReport:
    reconstruction: float  # E_q[log p(x|z)] in nats, by Monte Carlo over ``samples`` draws
    kl: float  # KL(q(z|x) || N(0, I)) in nats, exact
    kl_per_dim: np.ndarray  # D: that KL dimension by dimension
    reference_kl_per_dim: np.ndarray | None  # D: the mean over the reference images
    mean: np.ndarray  # D: the posterior mean (the encoding) ...
    std: np.ndarray  # D: ... and standard deviation
    image_shape: tuple[int, int, int]

    @property
    def elbo(self) -> float:
        return self.reconstruction - self.kl

    @property
    def bits_per_dim(self) -> float:
        """-ELBO in bits per sub-pixel: a bound on the image's bits/dim, as the flows report."""
        return bits_per_dim(-self.elbo, self.image_shape)

    @property
    def dimensions_in_use(self) -> int | None:
        """How many latent dimensions the reference images use (see :data:`IN_USE_KL_NATS`);
        None without a reference set."""
        if self.reference_kl_per_dim is None:
            return None
        return int((self.reference_kl_per_dim > IN_USE_KL_NATS).sum())


def _kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1)  # closed form, N, D


@torch.inference_mode()
def posterior_report(
    model: VAE,
    image: np.ndarray,
    reference_kl: np.ndarray | None = None,
    samples: int = 64,
    seed: int = 0,
) -> PosteriorReport:
    """The report for ``image`` (``C,H,W`` in [0, 1]), beside the reference set's average KL
    per dimension ``reference_kl`` (:func:`reference_kl_per_dim`) when it is known.
    Deterministic for a ``seed``."""
    x = ops.model_input(model, image)[None]
    mu, logvar = model.posterior(x)
    std = (0.5 * logvar).exp()
    generator = ops.model_generator(model, seed)
    z = mu + std * torch.randn(samples, mu.shape[1], generator=generator, device=generator.device)
    levels = to_levels(x, model.levels).expand(samples, *x.shape[1:])
    reconstruction = model.log_likelihood(levels, z).mean().item()
    kl = _kl_per_dim(mu, logvar)[0]
    return PosteriorReport(
        reconstruction,
        kl.sum().item(),
        ops.to_numpy(kl, double=True),
        reference_kl,
        ops.to_numpy(mu[0], double=True),
        ops.to_numpy(std[0], double=True),
        model.image_shape,
    )


def reference_kl_per_dim(
    model: VAE, reference: np.ndarray, chunk: int = REFERENCE_CHUNK
) -> Generator[float, None, np.ndarray]:
    """The average over ``reference`` (``N,C,H,W`` in [0, 1]) of KL(q(z|x) || p(z)) per latent
    dimension: the same for every image of a model, so computed once. A long job (seconds for
    2,000 28x28 images): it yields the fraction done after each ``chunk`` of images, so that
    it can be cancelled, and returns the ``D`` averages."""
    if not len(reference):
        raise ValueError("the reference set is empty")
    total = np.zeros(model.latent_dim)
    for start in range(0, len(reference), chunk):
        with torch.inference_mode():
            mu, logvar = model.posterior(ops.model_input(model, reference[start : start + chunk]))
            total += ops.to_numpy(_kl_per_dim(mu, logvar).sum(0), double=True)
        yield min(1.0, (start + chunk) / len(reference))
    return total / len(reference)


@dataclass(frozen=True)
class PosteriorDraws:
    """``latents`` z = m + sigma * e (``N, D``) for the standard normal ``noise`` e (``N, D``),
    and their decodes ``images`` (``N,C,H,W`` in [0, 1])."""

    latents: np.ndarray
    noise: np.ndarray
    images: np.ndarray


@torch.inference_mode()
def posterior_draws(model: VAE, image: np.ndarray, n: int = 6, seed: int = 0) -> PosteriorDraws:
    """``n`` draws from q(z|x) of ``image`` (``C,H,W`` in [0, 1]) by the reparameterisation,
    decoded. Deterministic for a ``seed``."""
    mu, logvar = model.posterior(ops.model_input(model, image)[None])
    generator = ops.model_generator(model, seed)
    e = torch.randn(n, mu.shape[1], generator=generator, device=generator.device)
    z = mu + (0.5 * logvar).exp() * e  # N, D
    return PosteriorDraws(
        ops.to_numpy(z, double=True),
        ops.to_numpy(e, double=True),
        ops.to_numpy(model.decode(z).clamp(0, 1)),
    )
