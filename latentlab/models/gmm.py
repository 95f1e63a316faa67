"""The Gaussian mixture image model (family ``gmm``), fitted by EM (:mod:`latentlab.models.em`).

Its data are dequantized onto [0, 1) as the flows do (docs/families.md): x~ = (k + u) /
levels with k the integer level and u ~ U[0, 1), so ``log_prob`` = log p(x~) - D log(levels)
bounds the discrete log-likelihood in nats. The flat latent is ``[one-hot(k) (K values), e (D
values)]`` with x~ = mu_k + L_k e (docs/architecture.md): decoding takes the component from
the argmax of the first K values, so a walk between two components jumps where a VAE glides.

The EM API (:func:`fit_em`, :func:`em_steps`, :class:`Mixture`) is re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from latentlab.models.base import (
    ConfigError,
    GenerativeModel,
    ImageConfig,
    bounded,
    level_bins,
)
from latentlab.models.base import dequantize as base_dequantize
from latentlab.models.em import (
    COVARIANCES,
    EMConvergenceWarning,
    EMStep,
    Mixture,
    em_steps,
    fit_em,
    initial_mixture,
    kmeans_plusplus,
)

__all__ = [
    "COVARIANCES",
    "GMM",
    "EMConvergenceWarning",
    "EMStep",
    "GMMConfig",
    "Mixture",
    "dequantize",
    "em_steps",
    "fit_em",
    "initial_mixture",
    "kmeans_plusplus",
]

MAX_COVARIANCE_VALUES = 2**24  # K*D*D of a full mixture: 128 MiB of float64


def dequantize(
    x: torch.Tensor, levels: int, noise: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Images on the level grid (N,C,H,W in [0, 1]) -> x~ = (k + u) / levels, N, D float64,
    with u ~ U[0, 1) drawn afresh or u = 1/2 (the bin centre) when ``noise`` is False."""
    return base_dequantize(x, levels, noise, torch.float64, generator).flatten(1)  # N, D


@dataclass
class GMMConfig(ImageConfig):
    components: int = bounded(10, 1, 256, "mixture components K")
    covariance: str = field(
        default="full",
        metadata={"choices": COVARIANCES, "doc": "a full or a diagonal covariance per component"},
    )

    @property
    def dim(self) -> int:
        return self.channels * self.height * self.width

    def check(self) -> None:
        if self.covariance == "full" and self.components * self.dim**2 > MAX_COVARIANCE_VALUES:
            raise ConfigError(
                f"a full-covariance mixture of {self.components} component(s) on "
                f"{self.dim} values per image is too large; use fewer components, "
                "smaller images or covariance 'diag'"
            )


class GMM(GenerativeModel):
    """The image model: a :class:`Mixture` on dequantized images x~ in [0, 1)^D."""

    family = "gmm"
    config_class = GMMConfig
    capabilities = frozenset({"sample", "decode", "encode", "log_prob"})
    metric_name = "bits/dim"

    @classmethod
    def tiny_config(cls) -> GMMConfig:
        return GMMConfig(channels=1, height=4, width=4, levels=5, components=3)

    def __init__(self, config: GMMConfig) -> None:
        super().__init__(config)
        k, d = config.components, config.dim

        def fixed(t: torch.Tensor) -> nn.Parameter:  # fitted by EM, never by gradients
            return nn.Parameter(t, requires_grad=False)

        # Unfitted: equal weights, mid-grey means, wide components. No eye or linalg here: on the
        # meta device (model-file checks) they import torch's decompositions, costing a second.
        self.log_weights = fixed(torch.full((k,), -math.log(k), dtype=torch.float64))
        self.means = fixed(torch.full((k, d), 0.5, dtype=torch.float64))
        if config.covariance == "full":
            tril = torch.zeros(k, d, d, dtype=torch.float64)
            tril.diagonal(dim1=1, dim2=2).fill_(0.25)
            self.scale_tril = fixed(tril)  # K, D, D: L_k, Sigma_k = L_k L_k^T
        else:
            self.stddev = fixed(torch.full((k, d), 0.25, dtype=torch.float64))  # K, D

    @classmethod
    def from_mixture(cls, mixture: Mixture, image_shape: tuple[int, int, int], levels: int) -> GMM:
        """The image model of a mixture fitted to dequantized images (see :func:`dequantize`)."""
        c, h, w = image_shape
        config = GMMConfig(
            channels=c,
            height=h,
            width=w,
            levels=levels,
            components=mixture.components,
            covariance=mixture.covariance,
        )
        config.check()
        if mixture.dim != config.dim:
            raise ValueError(f"the mixture has {mixture.dim} dimensions, images {config.dim}")
        model = cls(config)
        with torch.no_grad():
            model.log_weights.copy_(mixture.log_weights)
            model.means.copy_(mixture.means)
            model._scale.copy_(mixture.scale)
        return model.eval()

    @property
    def _scale(self) -> nn.Parameter:
        return self.scale_tril if self.config.covariance == "full" else self.stddev

    @property
    def mixture(self) -> Mixture:
        """The mixture on x~ in [0, 1)^D, sharing this model's tensors."""
        return Mixture(
            self.log_weights.detach(),
            self.means.detach(),
            self._scale.detach(),
            self.config.covariance,
        )

    @property
    def latent_dim(self) -> int:
        return self.config.components + self.config.dim

    def latent_groups(self) -> list[tuple[str, int]]:
        return [("component", self.config.components), ("noise", self.config.dim)]

    def sample_latent(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return self.mixture.sample_latent(n, temperature, generator).float()

    def dequantize(self, x: torch.Tensor, noise: bool = True) -> torch.Tensor:
        return dequantize(x, self.levels, noise)

    def log_density(self, x_tilde: torch.Tensor) -> torch.Tensor:
        """log p(x~) of the continuous mixture in nats per image, x~ flat N, D."""
        return self.mixture.log_prob(x_tilde)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Dequantization bound on log P(x) in nats per image: log p(x~) - D log(levels), with
        fresh noise (as :meth:`FlowModel.log_prob`)."""
        nats = self.log_density(self.dequantize(x)) - self.config.dim * math.log(self.levels)
        return nats.to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_prob(x)

    def responsibilities(self, x: torch.Tensor) -> torch.Tensor:
        """p(k | x~) at the bin centres of images ``x``: N, K."""
        return self.mixture.responsibilities(self.dequantize(x, noise=False))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        z = self.mixture.encode(self.dequantize(x, noise=False))
        return z.to(x.dtype if x.is_floating_point() else torch.float32)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images on the level grid: x~ = mu_k + L_k e floored to its bin (as the flows)."""
        x_tilde = self.mixture.decode(z)
        k = level_bins(x_tilde, self.levels)  # N, D
        # divide in float32, as ImageDataset.as_float does, so encode/decode round-trips exactly
        return (k.float() / (self.levels - 1)).view(-1, *self.image_shape)

    def component_latent(self, k: int) -> torch.Tensor:
        """The flat latent of component ``k``'s mean, one-hot k and zero noise: K + D float32.
        Built here only, so that every view of a component's mean decodes the same latent."""
        components = self.config.components
        if not 0 <= k < components:
            raise ValueError(f"component {k} does not exist (the model has {components})")
        z = torch.zeros(self.latent_dim, device=self.means.device)  # K + D
        z[k] = 1
        return z

    def component_images(self) -> torch.Tensor:
        """The mean of every component as an image on the level grid: K, C, H, W."""
        latents = [self.component_latent(k) for k in range(self.config.components)]
        return self.decode(torch.stack(latents))  # K, K + D -> K, C, H, W
