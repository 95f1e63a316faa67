"""Deep convolutional GAN: a generator and its discriminator, both kept in the model.

Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks" (ICLR 2016), §3 architecture guidelines: strided (transposed)
convolutions and no pooling, no fully connected hidden layers, batch normalisation in both
networks (not on the generator's output nor the discriminator's input), ReLU and a tanh output
in the generator, LeakyReLU(0.2) in the discriminator, weights drawn from N(0, 0.02).

A GAN has no likelihood. It has no encoder either: :meth:`DCGAN.invert` finds a latent for an
image by gradient descent on the reconstruction error (GAN inversion), as a long job that
reports progress and can be stopped between steps.

BatchNorm policy (docs/families.md, DCGAN): the networks train in train mode (batch statistics); for
everything shown to a user the model is in eval mode, so BatchNorm uses running statistics and
each image depends on its own z only, never on the rest of the batch. Because running averages
collected while the generator was changing describe an older generator, the trainer
re-estimates them at the end with :meth:`DCGAN.recalibrate` over batches of generated images.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from latentlab.models.adam import Adam
from latentlab.models.base import ConfigError, GenerativeModel, ImageConfig, bounded, run_to_end

__all__ = ["DCGAN", "DCGANConfig", "Discriminator", "ImageGenerator", "init_weights"]

# The generator's first layer makes a 4x4 or a 7x7 map from 1x1; each stride-2 layer after it
# doubles the side (7x7 -> 14 -> 28 for MNIST-sized images).
SIZES = (8, 14, 16, 28, 32, 56, 64)


@dataclass
class DCGANConfig(ImageConfig):
    latent_dim: int = bounded(100, 1, 512, "size of the latent z (the paper uses 100)")
    ngf: int = bounded(
        64, 4, 128, "generator channels before its output layer (doubled at each coarser scale)"
    )
    ndf: int = bounded(
        64, 4, 128, "discriminator channels after its input layer (doubled at each coarser scale)"
    )

    def check(self) -> None:
        if self.height != self.width or self.height not in SIZES:
            raise ConfigError(
                f"DCGAN images must be square with a side of "
                f"{', '.join(map(str, SIZES))} pixels, not "
                f"{self.height}x{self.width}"
            )

    @property
    def base_side(self) -> int:
        """The side of the first feature map (4 or 7), which the image side is a multiple of."""
        return 4 if self.height % 7 else 7

    @property
    def stages(self) -> int:
        """Stride-2 layers between the first feature map and the image."""
        return (self.height // self.base_side).bit_length() - 1


class ImageGenerator(nn.Module):
    """z ``N, latent_dim`` -> images ``N, C, H, W`` in (-1, 1) (tanh)."""

    def __init__(self, c: DCGANConfig) -> None:
        super().__init__()
        width = c.ngf * 2 ** (c.stages - 1)
        # No bias where BatchNorm follows: its shift would be removed by the normalisation.
        layers: list[nn.Module] = [
            # 1x1 -> 4x4 or 7x7
            nn.ConvTranspose2d(c.latent_dim, width, c.base_side, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        ]
        for _ in range(c.stages - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),  # side x2
                nn.BatchNorm2d(width // 2),
                nn.ReLU(),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, c.channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])  # N, D -> N, D, 1, 1


class Discriminator(nn.Module):
    """Images ``N, C, H, W`` in [-1, 1] -> one logit per image ``N`` (real is positive)."""

    def __init__(self, c: DCGANConfig) -> None:
        super().__init__()
        width = c.ndf
        # No BatchNorm on the first layer: the inputs are already normalised (Radford et al. §3).
        layers: list[nn.Module] = [
            nn.Conv2d(c.channels, width, 4, 2, 1, bias=False),  # side/2
            nn.LeakyReLU(0.2),
        ]
        for _ in range(c.stages - 1):
            layers += [
                nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False),  # side / 2
                nn.BatchNorm2d(2 * width),
                nn.LeakyReLU(0.2),
            ]
            width *= 2
        layers.append(nn.Conv2d(width, 1, c.base_side, 1, 0, bias=False))  # -> 1x1 logit
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()  # N, 1, 1, 1 -> N


def init_weights(module: nn.Module) -> None:
    """DCGAN §4: every weight from N(0, 0.02); BatchNorm scales from N(1, 0.02), shifts 0.
    For training (``model.apply(init_weights)``): a model built to load a file keeps torch's
    defaults, since the file replaces them, and on the meta device ``normal_`` would import
    torch's compiler (a second of import and 130,000 objects for the app's GC to walk)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGAN(GenerativeModel):
    family = "dcgan"
    config_class = DCGANConfig
    capabilities = frozenset({"sample", "decode", "encode"})
    metric_name = "none (a GAN has no likelihood)"

    @classmethod
    def tiny_config(cls) -> DCGANConfig:
        return DCGANConfig(height=8, width=8, latent_dim=4, ngf=4, ndf=4)

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__(config)
        self.generator = ImageGenerator(config)
        self.discriminator = Discriminator(config)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def sample_latent(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        z = torch.randn(n, self.latent_dim, generator=generator, device=self._device())
        return temperature * z

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """The generator's images for latents ``N, D``, continuous in [0, 1] (differentiable)."""
        return (self.generator(z) + 1) / 2

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] on the data's level grid (k / (levels - 1)), as the data were.

        In eval mode (as loaded) each image depends on its own z only; see the module's
        BatchNorm policy.
        """
        steps = self.levels - 1
        return torch.round(self.generate(z) * steps) / steps

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """D's logit per image for images ``N, C, H, W`` in [0, 1]; sigmoid gives P(real)."""
        return self.discriminator(x * 2 - 1)

    @torch.no_grad()
    def recalibrate(
        self, batches: int = 50, batch_size: int = 128, generator: torch.Generator | None = None
    ) -> None:
        """Re-estimate the generator's BatchNorm running statistics as the exact average of
        the batch statistics over ``batches`` batches of generated images, then switch the
        generator to eval mode (docs/families.md, DCGAN)."""
        norms = [m for m in self.generator.modules() if isinstance(m, nn.BatchNorm2d)]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # None: a cumulative average over every batch seen
        self.generator.train()
        for _ in range(batches):
            self.generator(self.sample_latent(batch_size, generator=generator))
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        self.generator.eval()

    def invert(
        self,
        x: torch.Tensor,
        steps: int = 100,
        lr: float = 0.1,
        candidates: int = 64,
        restarts: int = 4,
        generator: torch.Generator | None = None,
    ) -> Generator[tuple[float, float], None, tuple[torch.Tensor, torch.Tensor]]:
        """GAN inversion: latents z whose generated images are closest to ``x`` (``N,C,H,W`` in
        [0, 1]), by Adam on ||G(z) - x||^2 (as in Zhu et al., "Generative Visual Manipulation
        on the Natural Image Manifold", 2016, §3.1, without their encoder).

        For each image, ``candidates`` random z are scored and the best ``restarts`` of them are
        optimised together for ``steps`` steps; the best one wins. A generator function: each
        step yields ``(fraction done, current mean squared error)`` so a caller can show
        progress and stop between steps; it returns ``(z N,D, mse N)``, the MSE being that of
        :meth:`decode` (what a user sees). Works when called under ``torch.inference_mode()``:
        gradients are switched on for each step only, never across a ``yield``, so the caller's
        mode is untouched while it holds the generator.
        """
        n, r = len(x), restarts
        was_training = self.generator.training
        self.generator.eval()  # running statistics: each image's z must not see the others
        try:
            with torch.inference_mode(False), torch.no_grad():
                target = x.detach().clone().to(self._device())  # a normal tensor, not inference
                draws = self.sample_latent(n * candidates, generator=generator)
                owner = torch.arange(n * candidates, device=draws.device) // candidates
                error = torch.cat(
                    [
                        self._mse(self.generate(d), target[i])
                        for d, i in zip(  # in chunks
                            torch.split(draws, 256), torch.split(owner, 256), strict=True
                        )
                    ]
                )
                draws = draws.view(n, candidates, -1)  # N*candidates, D -> N, candidates, D
                error = error.view(n, candidates)
                best = error.topk(min(r, candidates), dim=1, largest=False).indices
                start = draws.gather(1, best[:, :, None].expand(-1, -1, draws.shape[2]))
                z = start.flatten(0, 1).requires_grad_()  # N*r, D (image-major)
                targets = target.repeat_interleave(start.shape[1], dim=0)
                adam = Adam([z], lr)
            for step in range(steps):
                with torch.inference_mode(False), torch.enable_grad():
                    error = self._mse(self.generate(z), targets)  # N*r
                    # Only z needs a gradient: autograd.grad skips the weights' gradients.
                    (gradient,) = torch.autograd.grad(error.sum(), [z])
                    adam.step([gradient])
                    current = error.detach().view(n, -1).min(dim=1).values.mean().item()
                yield (step + 1) / steps, current
            with torch.inference_mode(False), torch.no_grad():
                error = self._mse(self.decode(z), targets).view(n, -1)  # N, r
                winner = error.argmin(dim=1)
                z_best = z.detach().view(n, -1, self.latent_dim)[torch.arange(n), winner]
                return z_best.clone(), error[torch.arange(n), winner].clone()
        finally:
            self.generator.train(was_training)

    @staticmethod
    def _mse(images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(images, target, reduction="none").flatten(1).mean(1)  # per image

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latents for images ``x`` by :meth:`invert` with its defaults (seconds per image)."""
        return run_to_end(self.encode_steps(x))

    def encode_steps(self, x: torch.Tensor) -> Generator[float, None, torch.Tensor]:
        steps = self.invert(x)
        while True:
            try:
                fraction, _mse = next(steps)
            except StopIteration as done:
                return done.value[0]
            yield fraction
