"""Fashion-MNIST (Xiao et al. 2017): 70,000 28x28 grey images of garments in 10 classes.

Read from the files of the Debian package ``dataset-fashion-mnist`` (or the folder named by
``LATENTLAB_FASHION_MNIST``) with the IDX reader. The split: the first 55,000 training images
train, the last 5,000 validate, the 10,000 test images test. Only training and benchmarks read
it; the app never needs it (bundled models carry their reference thumbnails).
"""

from __future__ import annotations

import os
from pathlib import Path

from latentlab.data.dataset import DataError, Split
from latentlab.data.mnist import load_mnist

__all__ = ["FASHION_CLASSES", "fashion_folder", "load_fashion_split"]

PACKAGE_FOLDER = Path("/usr/share/datasets/fashion-mnist")
ENVIRONMENT_VARIABLE = "LATENTLAB_FASHION_MNIST"
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
TRAIN_IMAGES = 55_000


def fashion_folder() -> Path:
    """The folder holding the IDX files; DataError (one line naming the package) if absent."""
    folder = Path(os.environ.get(ENVIRONMENT_VARIABLE) or PACKAGE_FOLDER)
    if not folder.is_dir():
        raise DataError(
            f"Fashion-MNIST is not installed ({folder} is missing): install it with "
            f"'apt-get install dataset-fashion-mnist' or set {ENVIRONMENT_VARIABLE} to a "
            "folder holding its IDX files"
        )
    return folder


def load_fashion_split() -> Split:
    """Train (55,000), validation (5,000) and test (10,000) images, ``N,1,28,28`` with 256
    levels, labelled with :data:`FASHION_CLASSES`."""
    folder = fashion_folder()
    train, test = load_mnist(folder, "train"), load_mnist(folder, "test")
    for data in (train, test):
        if data.labels is None or data.image_shape != (1, 28, 28):
            raise DataError(f"{folder}: these are not Fashion-MNIST's labelled 28x28 images")
        data.label_names = list(FASHION_CLASSES)
    return Split(
        "fashion",
        train.subset(slice(0, TRAIN_IMAGES)),
        train.subset(slice(TRAIN_IMAGES, None)),
        test,
    )
