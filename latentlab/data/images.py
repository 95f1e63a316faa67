"""Reading untrusted image files into a model's shape, and writing PNGs and GIFs atomically.

Any size or mode is accepted: transparency is composited onto white, the mode is converted to
greyscale or RGB, the image is centre-cropped to the model's aspect ratio and resized, and the
values are quantised to the model's levels. Each such change is reported as a short notice, so
the user learns what was done to their picture. Every failure raises :class:`DataError` with a
one-line message that starts with the file name.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from latentlab.data.dataset import DataError
from latentlab.fileio import atomic_write_bytes

__all__ = ["MAX_PIXELS", "load_image", "load_image_levels", "save_gif", "save_png"]

MAX_PIXELS = 50_000_000  # a decompression-bomb guard, well above any camera photo we expect
_EXIF_ORIENTATION = 0x0112
_HIGH_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def _fail(path: Path, why: str) -> DataError:
    return DataError(f"{path.name}: {why}")


def _describe(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _centre_box(w: int, h: int, width: int, height: int) -> tuple[int, int, int, int]:
    """The largest box of aspect ``width:height`` centred in a ``w`` x ``h`` image."""
    if w * height > h * width:  # too wide
        cw = max(1, round(h * width / height))
        left = (w - cw) // 2
        return left, 0, left + cw, h
    ch = max(1, round(w * height / width))
    top = (h - ch) // 2
    return 0, top, w, top + ch


def _open(path: Path) -> Image.Image:
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise _fail(path, "no such file") from None
    except OSError as exc:
        raise _fail(path, f"cannot read the file ({exc.strerror or _describe(exc)})") from None
    if stat.S_ISDIR(info.st_mode):
        raise _fail(path, "this is a folder, not an image file")
    if not stat.S_ISREG(info.st_mode):  # a pipe or a device might never end
        raise _fail(path, "not a regular file")
    if info.st_size == 0:
        raise _fail(path, "the file is empty")
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb warning fires above its limit; we apply our stricter one below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError:
        raise _fail(
            path,
            f"the image is larger than the {MAX_PIXELS // 1_000_000}-megapixel "
            "limit (a possible decompression bomb)",
        ) from None
    except UnidentifiedImageError:
        raise _fail(path, "not an image file that LatentLab can read") from None
    except OSError as exc:
        if exc.errno is not None:  # the system could not read it
            raise _fail(path, f"cannot read the file ({exc.strerror})") from None
        raise _fail(path, f"the image is damaged or truncated ({_describe(exc)})") from None
    w, h = img.size
    if w * h > MAX_PIXELS:
        img.close()
        raise _fail(
            path,
            f"the image is {w}x{h}, larger than the "
            f"{MAX_PIXELS // 1_000_000}-megapixel limit (a possible "
            "decompression bomb)",
        )
    if w == 0 or h == 0:
        img.close()
        raise _fail(path, f"the image has no pixels ({w}x{h})")
    return img


def _to_mode(img: Image.Image, mode: str, notices: list[str]) -> Image.Image:
    """Convert ``img`` to ``mode`` ("L" or "RGB"), compositing transparency onto white."""
    original = img.mode
    if original in _HIGH_DEPTH_MODES:
        values = np.nan_to_num(np.asarray(img, dtype=np.float64))
        # float images usually hold [0, 1]; integer ones are 16-bit
        scale = (
            255.0
            if original == "F" and values.max() <= 1.0
            else (1.0 if original == "F" else 1 / 257)
        )
        img = Image.fromarray(np.clip(np.round(values * scale), 0, 255).astype(np.uint8), "L")
        notices.append(f"reduced {original} to 8 bits per pixel")
    if img.has_transparency_data:
        rgba = img.convert("RGBA")
        if np.asarray(rgba.getchannel("A")).min() < 255:
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            rgba = Image.alpha_composite(white, rgba)
            notices.append("composited transparency onto white")
        img = rgba
    if ("L" if original in _HIGH_DEPTH_MODES else original) != mode:
        notices.append(f"converted {original} to {'greyscale' if mode == 'L' else 'RGB'}")
    return img if img.mode == mode else img.convert(mode)


def _read(path: Path, image_shape: tuple[int, int, int]) -> tuple[np.ndarray, list[str]]:
    """Decode ``path`` to uint8 ``C,H,W`` in the model's shape, with notices."""
    channels, height, width = image_shape
    if channels not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, not {channels}")
    mode = "L" if channels == 1 else "RGB"
    notices: list[str] = []
    with _open(path) as img:
        try:
            if getattr(img, "is_animated", False):
                notices.append("used the first frame of an animated image")
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
            if orientation not in range(1, 9):
                orientation = 1  # malformed; ImageOps.exif_transpose ignores it too
            w, h = img.size
            if orientation in (5, 6, 7, 8):
                w, h = h, w  # the displayed image is rotated by 90 degrees
            # JPEG only: decode at a reduced scale that is still at least twice the target
            img.draft(None, (2 * max(width, height),) * 2)
            img.load()
            out = img
            if orientation != 1:
                out = ImageOps.exif_transpose(img)
                notices.append("rotated as its EXIF orientation says")
            out = _to_mode(out, mode, notices)
            # notices describe the original image; the work is done on the (drafted) one
            crop = _centre_box(w, h, width, height)
            cw, ch = crop[2] - crop[0], crop[3] - crop[1]
            if (cw, ch) != (w, h):
                notices.append(f"cropped {w}x{h} to {cw}x{ch} at the centre")
            if (cw, ch) != (width, height):
                notices.append(f"resized {cw}x{ch} to {width}x{height}")
            box = _centre_box(*out.size, width, height)
            if (box[2] - box[0], box[3] - box[1]) != (width, height):
                out = out.resize(
                    (width, height), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0
                )
            elif box != (0, 0, *out.size):
                out = out.crop(box)
            array = np.asarray(out, dtype=np.uint8)
        except Exception as exc:  # decoders of untrusted files raise many kinds of error
            raise _fail(path, f"cannot read the image ({_describe(exc)})") from None
    if array.ndim == 2:
        array = array[:, :, None]
    return np.ascontiguousarray(array.transpose(2, 0, 1)), notices


def load_image_levels(
    path: str | os.PathLike[str], image_shape: tuple[int, int, int], levels: int
) -> tuple[np.ndarray, list[str]]:
    """Read an image file as uint8 level indices ``C,H,W`` in 0..levels-1, with notices.

    A pixel value ``v`` in 0..255 becomes level ``round(v / 255 * (levels - 1))``.
    """
    if not 2 <= levels <= 256:
        raise ValueError(f"levels must be in 2..256, not {levels}")
    pixels, notices = _read(Path(path), image_shape)
    if levels == 256:
        return pixels, notices
    notices.append(f"quantised to {levels} levels")
    return np.round(pixels * ((levels - 1) / 255)).astype(np.uint8), notices


def load_image(
    path: str | os.PathLike[str], image_shape: tuple[int, int, int], levels: int
) -> tuple[np.ndarray, list[str]]:
    """Read an image file as float32 ``C,H,W`` in [0, 1] on the model's levels, with notices."""
    indices, notices = load_image_levels(path, image_shape, levels)
    return indices.astype(np.float32) / (levels - 1), notices


def _to_pil(path: Path, array: np.ndarray) -> Image.Image:
    array = np.asarray(array)
    if (
        array.dtype != np.uint8
        or array.ndim != 3
        or array.shape[2] not in (1, 3, 4)
        or 0 in array.shape
    ):
        raise _fail(
            path,
            f"not saved: expected a uint8 array H,W,C with 1, 3 or 4 channels, "
            f"got {array.dtype} {list(array.shape)}",
        )
    if array.shape[2] == 1:
        return Image.fromarray(np.ascontiguousarray(array[:, :, 0]), "L")
    return Image.fromarray(np.ascontiguousarray(array), "RGB" if array.shape[2] == 3 else "RGBA")


def _write(path: Path, payload: bytes) -> None:
    try:
        atomic_write_bytes(path, payload)
    except OSError as exc:
        raise _fail(path, f"cannot write the file ({exc.strerror or _describe(exc)})") from None


def save_png(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write a uint8 ``H,W,C`` image (C = 1, 3 or 4) to a PNG file, atomically."""
    path = Path(path)
    buffer = io.BytesIO()
    _to_pil(path, image).save(buffer, format="PNG")
    _write(path, buffer.getvalue())


def save_gif(
    path: str | os.PathLike[str],
    frames: Sequence[np.ndarray],
    duration_ms: int,
    loop: bool = True,
) -> None:
    """Write uint8 ``H,W,C`` frames as an animated GIF shown ``duration_ms`` each, atomically."""
    path = Path(path)
    if len(frames) == 0:
        raise _fail(path, "not saved: an animation needs at least one frame")
    if duration_ms <= 0:
        raise _fail(path, f"not saved: frame duration must be positive, not {duration_ms} ms")
    if len({np.shape(f) for f in frames}) != 1:
        raise _fail(path, "not saved: the frames differ in size")
    images = [_to_pil(path, f) for f in frames]
    options = {"loop": 0} if loop else {}  # loop=0 means forever; without it, play once
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=duration_ms,
        **options,
    )
    _write(path, buffer.getvalue())
