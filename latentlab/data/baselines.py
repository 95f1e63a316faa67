"""Simple baselines for image likelihoods, in nats per image on a test split.

- uniform: every level equally likely.
- independent categorical: one categorical per sub-pixel fitted on the training split with
  add-one (Laplace) smoothing; no sub-pixel knows any other.
- independent Gaussian: one Gaussian per sub-pixel fitted to uniformly dequantized training
  data, evaluated as the flows are (the dequantization bound of docs/families.md).
"""

from __future__ import annotations

import math

import numpy as np

from latentlab.data.dataset import ImageDataset

__all__ = ["categorical_nats", "gaussian_nats", "uniform_nats"]


def uniform_nats(data: ImageDataset) -> float:
    return math.prod(data.image_shape) * math.log(data.levels)


def categorical_nats(train: ImageDataset, test: ImageDataset) -> float:
    levels = train.levels
    x_train = train.images.reshape(len(train), -1)
    x_test = test.images.reshape(len(test), -1)
    dims = x_train.shape[1]
    counts = np.stack([np.bincount(x_train[:, d], minlength=levels) for d in range(dims)]) + 1
    log_p = np.log(counts / counts.sum(axis=1, keepdims=True))  # D, levels
    return float(-log_p[np.arange(dims), x_test].sum(axis=1).mean())


def gaussian_nats(train: ImageDataset, test: ImageDataset, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    levels = train.levels

    def dequantized(data: ImageDataset) -> np.ndarray:
        x = data.images.reshape(len(data), -1).astype(np.float64)
        return (x + rng.random(x.shape)) / levels  # in [0, 1)

    x_train, x_test = dequantized(train), dequantized(test)
    mean, var = x_train.mean(axis=0), x_train.var(axis=0) + 1e-6
    log_p = -0.5 * (np.log(2 * np.pi * var) + (x_test - mean) ** 2 / var)
    return float(-(log_p.sum(axis=1) - x_test.shape[1] * math.log(levels)).mean())
