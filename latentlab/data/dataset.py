"""The small containers every data loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["DataError", "ImageDataset", "Split"]


class DataError(Exception):
    """Input data cannot be used; the message says why in one line."""


@dataclass
class ImageDataset:
    """uint8 images ``N,C,H,W`` with values in 0..levels-1, optional integer labels, and
    optional named attributes (name -> float32 array of length N, e.g. ``smiling``)."""

    images: np.ndarray
    levels: int
    labels: np.ndarray | None = None
    label_names: list[str] = field(default_factory=list)
    attributes: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError("images must be a uint8 array N,C,H,W")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError("labels and images differ in length")
        for name, values in self.attributes.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"attribute name {name!r} is not a non-empty string")
            if not isinstance(values, np.ndarray) or values.dtype != np.float32:
                raise ValueError(f"attribute {name!r} must be a float32 array")
            if values.shape != (len(self.images),):
                raise ValueError(
                    f"attribute {name!r} has shape {values.shape}, expected ({len(self.images)},)"
                )

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def attribute_names(self) -> list[str]:
        """The attribute names in their stored order."""
        return list(self.attributes)

    def class_attributes(self) -> dict[str, np.ndarray]:
        """One is-this-class flag per named class (lower case, e.g. ``trouser``), so that
        labelled data without attributes still gives directions such as trouser versus the
        rest; empty without labels or names."""
        if self.labels is None or not self.label_names:
            return {}
        flags = {}
        for index, name in enumerate(self.label_names):
            has = self.labels == index
            if has.any() and not has.all():
                flags[name.lower()] = has.astype(np.float32)
        return flags

    def subset(self, index: slice | np.ndarray) -> ImageDataset:
        labels = None if self.labels is None else self.labels[index]
        attributes = {name: values[index] for name, values in self.attributes.items()}
        return ImageDataset(self.images[index], self.levels, labels, self.label_names, attributes)

    def as_float(self) -> np.ndarray:
        """Images as float32 in [0, 1] (level / (levels - 1))."""
        return self.images.astype(np.float32) / (self.levels - 1)


@dataclass
class Split:
    name: str
    train: ImageDataset
    validation: ImageDataset
    test: ImageDataset
