"""What the app does with a Gaussian mixture: sample one chosen component, and fit a mixture to
the model's training images by EM one iteration at a time, so that the components and the
log-likelihood can be watched as they change (a long job)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import torch

from latentlab.data import DataError, ImageDataset, load_digits_split, synthfaces_split
from latentlab.data.fashion import load_fashion_split
from latentlab.explore import ops
from latentlab.modelfile import LoadedModel, Reference
from latentlab.models.base import bits_per_dim
from latentlab.models.gmm import GMM, GMMConfig, dequantize, em_steps

__all__ = [
    "EMProgress",
    "component_latent",
    "component_means",
    "component_samples",
    "fit_gmm",
    "offline_training_images",
]

PAUSE_SLICE_S = 0.02  # a paused fit yields this often, letting other work on the model run


@dataclass
class EMProgress:
    """One EM iteration as the user sees it: the mean log-likelihood bound of the training
    images (nats per image, and in bits/dim), the component means as images and their weights."""

    iteration: int
    log_likelihood: float
    bits_per_dim: float
    means: np.ndarray  # K, C, H, W float in [0, 1]
    weights: np.ndarray  # K


@torch.inference_mode()
def component_samples(
    model: GMM, component: int, n: int, temperature: float = 1.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples of one component as (flat latents, images): x~ = mu_k + L_k e with
    e ~ N(0, temperature^2 I)."""
    z = model.component_latent(component).repeat(n, 1)  # n, K + D: the mean, no noise yet
    generator = ops.model_generator(model, seed)
    e = torch.randn(
        n, model.config.dim, generator=generator, device=generator.device, dtype=torch.float64
    )
    z[:, model.config.components :] = temperature * e
    return ops.to_numpy(z, double=True), ops.to_numpy(model.decode(z))


@torch.inference_mode()
def component_latent(model: GMM, component: int) -> np.ndarray:
    """The flat latent of one component's mean (float64, on the CPU)."""
    return ops.to_numpy(model.component_latent(component), double=True)


def component_means(model: GMM) -> tuple[np.ndarray, np.ndarray]:
    """Every component's mean as an image (``K,C,H,W`` in [0, 1]) and its weight (``K``)."""
    return ops.to_numpy(model.component_images()), ops.to_numpy(model.log_weights.exp(), True)


def offline_training_images(dataset: str) -> ImageDataset:
    """Training images of a dataset the app can make or find without the user's files:
    digits, faces, and the first 2,000 Fashion-MNIST images when its package is installed (a
    live fit on all 55,000 would take minutes)."""
    if dataset == "digits":
        return load_digits_split().train
    if dataset == "synthfaces":
        return synthfaces_split(n_train=2000, n_validation=1, n_test=1).train
    if dataset == "fashion":
        return load_fashion_split().train.subset(slice(0, 2000))
    raise DataError(
        f"the model was trained on '{dataset}'; only digits, synthfaces and fashion can be "
        "refitted in the app (use python -m training.gmm for other data)"
    )


def fit_gmm(
    model: GMM,
    loaded: LoadedModel,
    components: int,
    covariance: str,
    reg_covar: float = 1e-3,
    max_iter: int = 200,
    seed: int = 0,
    pace: float = 0.0,
) -> Generator[tuple[float, EMProgress] | None, None, LoadedModel]:
    """A long job: fit a fresh mixture of ``components`` to the open model's training images,
    yielding ``(fraction, EMProgress)`` after every iteration (then pausing ``pace`` seconds,
    so that a fast fit can be watched, yielding None meanwhile), and return it as a new, unsaved
    model."""
    data = offline_training_images(loaded.meta["dataset"]["name"])
    c, h, w = model.image_shape
    config = GMMConfig(
        channels=c,
        height=h,
        width=w,
        levels=model.levels,
        components=components,
        covariance=covariance,
    )
    config.check()  # a full covariance on large images is refused before any work
    if components > len(data):
        raise ValueError(
            f"{components} components need at least as many training images (there are {len(data)})"
        )
    x = dequantize(
        torch.from_numpy(data.as_float()),
        model.levels,
        generator=torch.Generator("cpu").manual_seed(seed),  # the fit runs on the CPU
    )  # N, D
    offset = config.dim * math.log(model.levels)  # log p(x~) - D log(levels) is the bound
    mixture, fitting, clock = None, 0.0, time.perf_counter()
    for step in em_steps(x, components, covariance, reg_covar, max_iter=max_iter, seed=seed):
        fitting += time.perf_counter() - clock  # the time EM took, without the pauses
        mixture = step.mixture
        fitted = GMM.from_mixture(mixture, model.image_shape, model.levels)
        nats = step.log_likelihood - offset
        progress = EMProgress(
            step.iteration,
            nats,
            bits_per_dim(-nats, model.image_shape),
            fitted.component_images().numpy(),
            mixture.weights.numpy().astype(np.float32),
        )
        yield (1.0 if mixture.converged else step.iteration / max_iter), progress
        resume = time.perf_counter() + pace
        while (left := resume - time.perf_counter()) > 0:
            time.sleep(min(left, PAUSE_SLICE_S))
            yield None  # pausing: the worker runs other work on the model meanwhile
        clock = time.perf_counter()
    assert mixture is not None
    return _as_loaded(
        GMM.from_mixture(mixture, model.image_shape, model.levels), loaded, mixture.n_iter, fitting
    )


def _as_loaded(model: GMM, source: LoadedModel, iterations: int, seconds: float) -> LoadedModel:
    """The fitted model with the source's dataset description and reference images."""
    meta = copy.deepcopy(source.meta)
    meta["config"] = {
        **meta["config"],
        "components": model.config.components,
        "covariance": model.config.covariance,
    }
    meta["training"] = {
        "command": "fitted by EM in LatentLab",
        "epochs": iterations,
        "steps": iterations,
        "seconds": seconds,
        "device": "cpu",
    }
    reference = None
    if source.reference is not None:
        images = source.reference.images  # uint8 thumbnails of images on the level grid
        with torch.no_grad():
            latents = model.encode(images.float() / 255).float()
        reference = Reference(latents, images, source.reference.labels)
    return LoadedModel(model, meta, None, {}, reference)
