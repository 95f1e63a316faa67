"""scikit-learn's bundled 8x8 digits (1,797 real images, 17 grey levels), split as in Tomczak's
intro_dgm examples: first 1,000 train, next 350 validation, last 447 test."""

from __future__ import annotations

import numpy as np

from latentlab.data.dataset import ImageDataset, Split

__all__ = ["DIGITS_LEVELS", "load_digits_split"]

DIGITS_LEVELS = 17


def load_digits_split() -> Split:
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)[:, None]  # N, 1, 8, 8 with values 0..16
    labels = bunch.target.astype(np.int64)
    full = ImageDataset(images, DIGITS_LEVELS, labels, [str(d) for d in range(10)])
    return Split(
        "digits",
        full.subset(slice(0, 1000)),
        full.subset(slice(1000, 1350)),
        full.subset(slice(1350, None)),
    )
