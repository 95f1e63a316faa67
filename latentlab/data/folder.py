"""A folder of the user's own images, read into a model's shape.

Files are read in sorted order; unreadable ones are skipped and reported, so one bad file does
not stop a folder of thousands. What was done to the images (resizing, cropping, converting) is
summarised as notices, one per distinct change with the number of images it applied to.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latentlab.data.dataset import DataError, ImageDataset
from latentlab.data.images import load_image_levels

__all__ = ["IMAGE_SUFFIXES", "FolderImages", "load_image_folder"]

IMAGE_SUFFIXES = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".bmp",
        ".gif",
        ".tif",
        ".tiff",
        ".webp",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
    }
)


@dataclass
class FolderImages(ImageDataset):
    """An :class:`ImageDataset` that remembers each image's file and what loading it noticed."""

    paths: list[Path] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def _image_files(folder: Path, recursive: bool) -> tuple[list[Path], int]:
    """Image files by suffix in sorted order (hidden ones left out), and how many others."""
    found, others = [], 0
    for root, dirs, files in os.walk(folder):  # never follows links to folders: no loops
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        for name in sorted(files):
            if name.startswith("."):
                continue
            if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append(Path(root, name))
            else:
                others += 1
    return sorted(found, key=lambda p: p.relative_to(folder).parts), others


def load_image_folder(
    path: str | os.PathLike[str],
    image_shape: tuple[int, int, int],
    levels: int,
    limit: int = 10_000,
    recursive: bool = False,
) -> FolderImages:
    """Up to ``limit`` images from a folder as uint8 level indices ``N,C,H,W`` in
    0..levels-1, skipping unreadable files; ``DataError`` when none can be read."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    folder = Path(path)
    if not folder.exists():
        raise DataError(f"{folder.name}: no such folder")
    if not folder.is_dir():
        raise DataError(f"{folder.name}: not a folder")
    candidates, others = _image_files(folder, recursive)
    if not candidates:
        raise DataError(
            f"{folder.name}: no image files here (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    images: list[np.ndarray] = []
    paths: list[Path] = []
    skipped: list[str] = []
    changes: Counter[str] = Counter()
    for file in candidates:
        if len(images) == limit:
            break
        try:
            array, notices = load_image_levels(file, image_shape, levels)
        except DataError as exc:
            skipped.append(f"skipped {exc}")
            continue
        images.append(array)
        paths.append(file)
        changes.update(notices)
    if not images:
        raise DataError(
            f"{folder.name}: none of its {len(candidates)} image files could be "
            f"read (first: {skipped[0].removeprefix('skipped ')})"
        )
    notices = [f"{change} ({count} of {len(images)} images)" for change, count in changes.items()]
    notices += skipped
    if others:
        notices.append(f"ignored {others} file(s) whose names do not end in an image suffix")
    unread = len(candidates) - len(images) - len(skipped)
    if unread:
        notices.append(f"stopped at the limit of {limit} images; {unread} more were not read")
    return FolderImages(np.stack(images), levels, paths=paths, notices=notices)
