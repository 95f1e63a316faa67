"""scikit-learn's bundled 8x8 digits (1,797 real images, 17 grey levels), split as in Tomczak's
intro_dgm examples: first 1,000 train, next 350 validation, last 447 test."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from latentlab.data.dataset import ImageDataset, Split

__all__ = ["DIGITS_LEVELS", "load_digits_split"]

DIGITS_LEVELS = 17


def _digits_file() -> Path | None:
    """scikit-learn's copy of the digits, found without importing scikit-learn: importing it
    (and SciPy with it) took about a second and left some 60,000 long-lived objects that every
    full garbage collection of the app walked again (scripts/soak.py)."""
    spec = importlib.util.find_spec("sklearn")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return path
    return None


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """Images ``N, 8, 8`` (values 0..16) and their labels."""
    path = _digits_file()
    if path is None:  # a scikit-learn that keeps the file elsewhere
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images, bunch.target
    with gzip.open(path, "rt") as rows:
        table = np.loadtxt(rows, delimiter=",", dtype=np.int64)  # 64 pixels, then the label
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1]


def load_digits_split() -> Split:
    images, labels = _read_digits()
    full = ImageDataset(
        images.astype(np.uint8)[:, None],  # N, 1, 8, 8
        DIGITS_LEVELS,
        labels.astype(np.int64),
        [str(d) for d in range(10)],
    )
    return Split(
        "digits",
        full.subset(slice(0, 1000)),
        full.subset(slice(1000, 1350)),
        full.subset(slice(1350, None)),
    )
