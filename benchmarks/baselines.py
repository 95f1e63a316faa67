"""Simple baselines on the test splits, in the units of the bundled models' metrics.

    python benchmarks/baselines.py

- uniform: every level equally likely: log2(levels) bits/dim.
- independent pixels (categorical): one categorical per sub-pixel fitted on the training
  split with add-one (Laplace) smoothing; no sub-pixel knows any other.
- independent pixels (Gaussian): one Gaussian per sub-pixel fitted to uniformly dequantized
  training data, evaluated as the flows are (dequantization bound, REFERENCES §0.2).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from latentlab.data import ImageDataset, load_digits_split, synthfaces_split


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


def main() -> int:
    for split in (load_digits_split(), synthfaces_split()):
        dims = int(np.prod(split.train.image_shape))
        rows = [("uniform", dims * math.log(split.train.levels)),
                ("independent pixels, categorical", categorical_nats(split.train, split.test)),
                ("independent pixels, Gaussian", gaussian_nats(split.train, split.test))]
        print(f"{split.name} (test split, {len(split.test)} images of "
              f"{'x'.join(map(str, split.train.image_shape))}, {split.train.levels} levels)")
        for name, nats in rows:
            print(f"  {name:34s} {nats:9.2f} nats/image  {nats / (dims * math.log(2)):.3f} "
                  "bits/dim")
    return 0


if __name__ == "__main__":
    sys.exit(main())
