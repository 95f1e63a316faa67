"""Simple baselines on the digits test split, in the units of the bundled models' metrics.

    python benchmarks/baselines.py

- uniform: every one of the 17 levels equally likely: 64 * ln 17 nats per image.
- independent pixels: one categorical per pixel, fitted on the training split with add-one
  (Laplace) smoothing; no pixel knows any other.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from latentlab.data import load_digits_split


def main() -> int:
    split = load_digits_split()
    levels, dims = split.train.levels, int(np.prod(split.train.image_shape))
    train = split.train.images.reshape(len(split.train), -1)
    test = split.test.images.reshape(len(split.test), -1)
    counts = np.stack([np.bincount(train[:, d], minlength=levels) for d in range(dims)]) + 1
    log_p = np.log(counts / counts.sum(axis=1, keepdims=True))  # D, levels
    independent = -log_p[np.arange(dims), test].sum(axis=1).mean()
    uniform = dims * math.log(levels)
    for name, nats in (("uniform over 17 levels", uniform), ("independent pixels", independent)):
        print(f"{name:24s} {nats:7.2f} nats/image  {nats / (dims * math.log(2)):.3f} bits/dim")
    return 0


if __name__ == "__main__":
    sys.exit(main())
