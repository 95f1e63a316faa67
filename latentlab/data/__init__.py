"""Datasets. Every loader returns uint8 images ``N,C,H,W`` plus optional labels."""

from __future__ import annotations

from latentlab.data.dataset import DataError, ImageDataset, Split
from latentlab.data.digits import load_digits_split

__all__ = ["DataError", "ImageDataset", "Split", "load_digits_split"]
