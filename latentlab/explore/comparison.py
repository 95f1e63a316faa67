"""A mixture beside a VAE trained on the same data: the lecture's point that the VAE is the
distributed version of the mixture. A Gaussian mixture explains an image by one of K discrete
prototypes plus noise; a VAE by a point of a continuous latent space, every point of which
decodes to an image (Kingma & Welling 2014, Fig. 4 shows such a grid of decodes; Bishop 2006,
§9.2 the mixture as a discrete latent variable)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from latentlab.explore import ops
from latentlab.explore.state import default_plane
from latentlab.modelfile import LoadedModel, load_model
from latentlab.models.gmm import GMM
from latentlab.models.vae import VAE

__all__ = ["Comparison", "compare_with_mixture", "manifold_grid", "mixture_for"]

GRID_QUANTILES = (0.05, 0.95)  # the manifold spans these quantiles of the prior on each axis


@dataclass(frozen=True)
class Comparison:
    """The mixture's component means (``prototypes``, ``K,C,H,W``) and ``weights`` (``K``),
    largest weight first; the VAE's decodes of a ``rows`` x ``rows`` grid of its plane
    (``manifold``, row-major, the top row highest on the plane's second axis), named
    ``plane_name``."""

    prototypes: np.ndarray
    weights: np.ndarray
    manifold: np.ndarray
    rows: int
    plane_name: str


def mixture_for(loaded: LoadedModel, bundled: dict[str, Path]) -> Path | None:
    """The bundled mixture fitted on the dataset of ``loaded`` (a VAE), if there is one:
    ``gmm-<dataset>`` among ``bundled`` (name -> path)."""
    return bundled.get(f"gmm-{loaded.meta['dataset'].get('name', '')}")


@torch.inference_mode()
def manifold_grid(
    model: VAE, rows: int, reference_latents: np.ndarray | None = None
) -> tuple[np.ndarray, str]:
    """Decodes ``rows*rows, C,H,W`` of a square grid on the VAE's map plane (its own for a 2-D
    latent, else the first two principal directions of ``reference_latents``), at the prior's
    quantiles ``GRID_QUANTILES`` scaled by the spread of the reference along each axis; and
    the plane's name."""
    plane = default_plane(model.latent_dim, reference_latents)
    quantiles = torch.linspace(*GRID_QUANTILES, rows, dtype=torch.float64, device="cpu")
    steps = torch.special.ndtri(quantiles).numpy()  # equal steps of probability, not of z
    spread = np.ones(2)
    if reference_latents is not None and len(reference_latents) >= 2:
        spread = plane.project(reference_latents)[0].std(axis=0)
    a, b = np.meshgrid(steps * spread[0], steps[::-1] * spread[1])  # top row: largest b
    z = plane.lift(np.stack([a.ravel(), b.ravel()], axis=1))
    return ops.decode(model, z), plane.name


def compare_with_mixture(
    model: VAE, mixture_path: Path, rows: int = 8, reference_latents: np.ndarray | None = None
) -> Comparison:
    """Read the mixture ``mixture_path`` and set its components beside the VAE's manifold.
    Raises :class:`~latentlab.modelfile.ModelFileError` for a bad file and ValueError when it
    is no mixture of images like the VAE's."""
    mixture = load_model(mixture_path).model
    if not isinstance(mixture, GMM) or mixture.image_shape != model.image_shape:
        raise ValueError(
            f"{mixture_path.name} is not a mixture of {'x'.join(map(str, model.image_shape))} "
            "images like this VAE's"
        )
    with torch.inference_mode():
        means = mixture.component_images().clamp(0, 1).numpy()
        weights = mixture.log_weights.exp().numpy()
    order = np.argsort(-weights, kind="stable")
    manifold, plane_name = manifold_grid(model, rows, reference_latents)
    return Comparison(means[order], weights[order], manifold, rows, plane_name)
