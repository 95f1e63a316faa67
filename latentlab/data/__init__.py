"""Datasets. Every loader returns uint8 images ``N,C,H,W`` plus optional labels and attributes."""

from __future__ import annotations

from latentlab.data.dataset import DataError, ImageDataset, Split
from latentlab.data.digits import load_digits_split
from latentlab.data.folder import FolderImages, load_image_folder
from latentlab.data.images import load_image, load_image_levels, save_gif, save_png
from latentlab.data.mnist import load_mnist, read_idx
from latentlab.data.synthfaces import make_faces, synthfaces_split

__all__ = [
    "DataError",
    "FolderImages",
    "ImageDataset",
    "Split",
    "load_digits_split",
    "load_image",
    "load_image_folder",
    "load_image_levels",
    "load_mnist",
    "make_faces",
    "read_idx",
    "save_gif",
    "save_png",
    "synthfaces_split",
]
