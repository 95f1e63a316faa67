"""MNIST-style IDX files (images ``idx3-ubyte``, labels ``idx1-ubyte``, optionally gzipped).

The format (LeCun et al., http://yann.lecun.com/exdb/mnist/): two zero bytes, a dtype code, the
number of dimensions, one big-endian uint32 size per dimension, then the data, big-endian, in C
order. Files are untrusted: the header is checked against the file's length, and sizes are
capped, before anything is allocated.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import re
import stat
import struct
import zlib
from pathlib import Path

import numpy as np

from latentlab.data.dataset import DataError, ImageDataset

__all__ = ["MAX_IDX_BYTES", "load_mnist", "read_idx"]

MAX_IDX_BYTES = 512 * 2**20  # the full MNIST training images are 47 MB
MAX_IMAGE_SIDE = 1024
_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def _fail(path: Path, why: str) -> DataError:
    return DataError(f"{path.name}: {why}")


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed if gzipped, refusing more than ``MAX_IDX_BYTES``."""
    limit = f"larger than {MAX_IDX_BYTES // 2**20} MiB"
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise _fail(path, "not a file")
        if info.st_size > MAX_IDX_BYTES:
            raise _fail(path, f"the file is {limit}")
        with path.open("rb") as f:
            data = f.read(MAX_IDX_BYTES + 1)  # it may have grown since stat
        if len(data) > MAX_IDX_BYTES:
            raise _fail(path, f"the file is {limit}")
        if data[:2] == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as g:
                data = g.read(MAX_IDX_BYTES + 1)  # bounded: a small gzip can expand enormously
            if len(data) > MAX_IDX_BYTES:
                raise _fail(path, f"the decompressed data is {limit}")
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise _fail(path, f"the gzip data is corrupt or truncated ({exc})") from None
    except (FileNotFoundError, NotADirectoryError):
        raise _fail(path, "no such file") from None
    except OSError as exc:
        raise _fail(path, f"cannot read the file ({exc.strerror or exc})") from None
    return data


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """The array stored in an IDX file (gzipped or not), in native byte order."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise _fail(path, "the file is too short to be an IDX file")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0:
        raise _fail(path, "not an IDX file (its magic number does not start with two zeros)")
    if code not in _DTYPES:
        raise _fail(path, f"not an IDX file (unknown data type code 0x{code:02x})")
    if not 1 <= ndim <= 4:
        raise _fail(path, f"an IDX file with {ndim} dimensions is not supported (1 to 4)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise _fail(path, "the file is truncated (in its header)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_DTYPES[code])
    expected = math.prod(shape) * dtype.itemsize
    if expected > MAX_IDX_BYTES:
        raise _fail(
            path,
            f"its header declares {expected:,} bytes of data, more than the "
            f"{MAX_IDX_BYTES // 2**20} MiB limit",
        )
    body = len(data) - header
    if body < expected:
        raise _fail(
            path,
            f"the file is truncated: its header declares shape {list(shape)} "
            f"({expected:,} bytes) but it holds {body:,}",
        )
    if body > expected:
        raise _fail(
            path,
            f"the file has {body - expected:,} bytes beyond its declared shape "
            f"{list(shape)}; it is corrupt",
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def _images_file(folder: Path, split: str) -> Path:
    prefix = {"train": "train", "test": "t10k"}[split]
    pattern = re.compile(rf"{prefix}-images[-.]idx3-ubyte(\.gz)?")
    matches = sorted(p for p in folder.iterdir() if pattern.fullmatch(p.name))
    if not matches:
        raise _fail(
            folder,
            f"no MNIST {split} images here (expected a file named "
            f"{prefix}-images-idx3-ubyte, optionally ending in .gz)",
        )
    return matches[0]


def _labels_file(images: Path) -> Path | None:
    """The labels file beside an images file, by MNIST's naming, if there is one."""
    name = images.name.replace("images", "labels").replace("idx3", "idx1")
    if name == images.name:
        return None
    stem = name.removesuffix(".gz")
    for candidate in (images.with_name(stem), images.with_name(stem + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def load_mnist(path: str | os.PathLike[str], split: str = "train") -> ImageDataset:
    """MNIST images (``N,1,H,W`` uint8, 256 levels) with labels when the labels file is beside.

    ``path`` is an images file or a folder holding the standard file names; in a folder,
    ``split`` ("train" or "test") picks the files.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    path = Path(path)
    if path.is_dir():
        path = _images_file(path, split)
    images = read_idx(path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise _fail(
            path,
            f"not an MNIST images file: expected unsigned bytes in 3 dimensions, "
            f"got {images.dtype} in {images.ndim}",
        )
    n, height, width = images.shape
    if n == 0:
        raise _fail(path, "the file holds no images")
    if not (1 <= height <= MAX_IMAGE_SIDE and 1 <= width <= MAX_IMAGE_SIDE):
        raise _fail(path, f"images of {height}x{width} pixels are not supported")
    labels, label_names = None, []
    labels_path = _labels_file(path)
    if labels_path is not None:
        raw = read_idx(labels_path)
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise _fail(
                labels_path,
                "not an MNIST labels file: expected unsigned bytes in "
                f"1 dimension, got {raw.dtype} in {raw.ndim}",
            )
        if len(raw) != n:
            raise _fail(labels_path, f"holds {len(raw)} labels for {n} images in {path.name}")
        labels = raw.astype(np.int64)
        label_names = [str(i) for i in range(int(labels.max()) + 1)]
    return ImageDataset(np.ascontiguousarray(images[:, None]), 256, labels, label_names)
