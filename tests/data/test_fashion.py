"""Fashion-MNIST from the files of the Debian package (scripts/setup.sh installs it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from latentlab.data import DataError
from latentlab.data.fashion import FASHION_CLASSES, load_fashion_split


def test_the_split_is_55000_5000_10000_labelled_28x28_images() -> None:
    split = load_fashion_split()
    assert [len(split.train), len(split.validation), len(split.test)] == [55_000, 5_000, 10_000]
    for part in (split.train, split.validation, split.test):
        assert part.image_shape == (1, 28, 28) and part.levels == 256
        assert part.label_names == FASHION_CLASSES
        assert part.labels is not None and set(np.unique(part.labels)) == set(range(10))
    # the validation images are the last 5,000 training images, not test images
    assert not np.array_equal(split.validation.images[:10], split.test.images[:10])


def test_missing_files_name_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LATENTLAB_FASHION_MNIST", str(tmp_path / "absent"))
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_split()
