"""A folder of the user's own images, read into a model's shape.

Two layouts. Images directly in the folder are read without labels. A folder with no images of
its own but subfolders holding images is read as one subfolder per class: each image is
labelled by its subfolder, the classes are the subfolders' names in sorted order. A folder with
both is read without labels from its top level; its subfolders are left out, with a notice, so
that a stray subfolder never turns thousands of unlabelled images into a few labelled ones.

Files are read in sorted order (by class, taking one file of each in turn, so that the limit
keeps every class); unreadable ones are skipped and reported, so one bad file does not stop a
folder of thousands. What was done to the images (resizing, cropping, converting) is
summarised as notices, one per distinct change with the number of images it applied to and
the first few of them by name.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latentlab.data.dataset import DataError, ImageDataset
from latentlab.data.images import load_image_levels
from latentlab.suffixes import IMAGE_SUFFIXES

__all__ = ["FolderImages", "load_image_folder"]


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


@dataclass
class _Layout:
    """The image files to read, in order, with their class indices if the folder has classes."""

    files: list[Path]
    labels: list[int] | None
    label_names: list[str]
    others: int  # files without an image suffix
    notices: list[str]


def _subfolders(folder: Path) -> list[Path]:
    """Its subfolders by name, hidden ones left out (none if it cannot be listed)."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    return sorted(d for d in entries if not d.name.startswith(".") and d.is_dir())


def _some(names: list[str], most: int = 5) -> str:
    return ", ".join(names[:most]) + (", ..." if len(names) > most else "")


def _layout(folder: Path, recursive: bool) -> _Layout:
    """Top-level images without labels, or else one class per subfolder that holds images."""
    top_files, top_others = _image_files(folder, recursive=False)
    if not top_files:
        return _class_layout(folder, recursive, top_others)
    files, others = _image_files(folder, recursive) if recursive else (top_files, top_others)
    return _unlabelled_layout(folder, recursive, files, others)


def _unlabelled_layout(folder: Path, recursive: bool, files: list[Path], others: int) -> _Layout:
    """The folder's image ``files`` (with those of its subfolders if ``recursive``),
    unlabelled; a notice names the subfolders with images that are left out."""
    subfolders = [] if recursive else _subfolders(folder)
    left_out = [d.name for d in subfolders if _image_files(d, recursive=False)[0]]
    notices = [
        f"ignored {len(left_out)} subfolder(s) with images ({_some(left_out)}): a folder with "
        "images at its top level is read without labels; for labels put every image in a "
        "subfolder per class"
    ]
    return _Layout(files, None, [], others, notices if left_out else [])


def _class_layout(folder: Path, recursive: bool, top_others: int) -> _Layout:
    """One class per subfolder holding images, in sorted order; its files taken in turn with
    those of the other classes. ``top_others``: the folder's own files that are not images."""
    found = [(d.name, *_image_files(d, recursive)) for d in _subfolders(folder)]
    classes = [(name, files) for name, files, _ in found if files]
    others = sum(n for _, _, n in found) + top_others
    empty = [name for name, files, _ in found if not files]
    notices = []
    if classes and empty:
        notices.append(f"ignored {len(empty)} subfolder(s) without image files ({_some(empty)})")
    in_turn = itertools.chain.from_iterable(
        itertools.zip_longest(*[[(f, k) for f in files] for k, (_, files) in enumerate(classes)])
    )
    pairs = [pair for pair in in_turn if pair is not None]
    names = [name for name, _ in classes]
    return _Layout([f for f, _ in pairs], [k for _, k in pairs], names, others, notices)


def load_image_folder(
    path: str | os.PathLike[str],
    image_shape: tuple[int, int, int],
    levels: int,
    limit: int = 10_000,
    recursive: bool = False,
) -> FolderImages:
    """Up to ``limit`` images from a folder as uint8 level indices ``N,C,H,W`` in
    0..levels-1, labelled by their class subfolders if the folder has them (see the module's
    docstring), skipping unreadable files; ``DataError`` when none can be read.

    ``recursive`` reads nested folders too: every image under the folder, unlabelled, when it
    has images of its own, else every image under each class's subfolder.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    folder = Path(path)
    if not folder.exists():
        raise DataError(f"{folder.name}: no such folder")
    if not folder.is_dir():
        raise DataError(f"{folder.name}: not a folder")
    layout = _layout(folder, recursive)
    if not layout.files:
        raise DataError(
            f"{folder.name}: no image files here or in its subfolders (looked for "
            f"{', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    images: list[np.ndarray] = []
    read: list[int] = []  # indices into layout.files
    skipped: list[str] = []
    changes: dict[str, list[str]] = {}  # what was done -> to which files
    for i, file in enumerate(layout.files):
        if len(images) == limit:
            break
        name = file.relative_to(folder).as_posix()
        try:
            array, notices = load_image_levels(file, image_shape, levels)
        except DataError as exc:  # its message starts with the file's name
            skipped.append(f"skipped {name}{str(exc).removeprefix(file.name)}")
            continue
        images.append(array)
        read.append(i)
        for change in notices:
            changes.setdefault(change, []).append(name)
    if not images:
        raise DataError(
            f"{folder.name}: none of its {len(layout.files)} image files could be "
            f"read (first: {skipped[0].removeprefix('skipped ')})"
        )
    notices = [_change_notice(change, names, len(images)) for change, names in changes.items()]
    notices += skipped + layout.notices
    if layout.others:
        notices.append(f"ignored {layout.others} file(s) whose names do not end in an image suffix")
    unread = len(layout.files) - len(images) - len(skipped)
    if unread:
        notices.append(f"stopped at the limit of {limit} images; {unread} more were not read")
    labels = None if layout.labels is None else np.array([layout.labels[i] for i in read])
    return FolderImages(
        np.stack(images),
        levels,
        labels,
        layout.label_names,
        paths=[layout.files[i] for i in read],
        notices=notices,
    )


def _change_notice(change: str, names: list[str], total: int) -> str:
    """``change`` with how many of the ``total`` images it applied to, naming the first few
    unless it applied to all."""
    if len(names) == total:
        return f"{change} (all {total} images)"
    return f"{change} ({len(names)} of {total} images: {_some(names, most=3)})"
