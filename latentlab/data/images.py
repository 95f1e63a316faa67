"""Reading untrusted image files into a model's shape, and writing PNGs and GIFs atomically.

Any size or mode is accepted: transparency is composited onto white, the mode is converted to
greyscale or RGB, the image is centre-cropped to the model's aspect ratio and resized, and the
values are quantised to the model's levels. Each such change is reported as a short notice, so
the user learns what was done to their picture. Every failure raises :class:`DataError` with a
one-line message that starts with the file name.

Files are untrusted: a file is read whole with a size limit (never a pipe or a device), only
common photo formats are opened, an image must fit a budget of pixels and of bytes before any
pixel is decoded, a large JPEG is decoded at a reduced scale, and every image is cropped and
resized before its mode is converted, so no copy of the full-size image is ever widened.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from latentlab.data.dataset import DataError
from latentlab.fileio import ReadError, atomic_write_bytes, read_bounded
from latentlab.untrusted import shorten

__all__ = [
    "MAX_DECODE_BYTES",
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "load_image",
    "load_image_levels",
    "save_gif",
    "save_png",
]

MAX_FILE_BYTES = 256 * 2**20  # the file is read whole into memory first, at most this much
MAX_PIXELS = 50_000_000  # of the image as decoded (a JPEG is decoded reduced where it can be)
# What decoding may hold at once, counted in bytes because a 16-bit, transparent or palette
# image costs several times its pixel count: the decoded image and the copy that converting
# it for resizing makes. Every photo of MAX_PIXELS fits; a decompression bomb does not.
MAX_DECODE_BYTES = 256 * 2**20
# The formats of latentlab.suffixes.IMAGE_SUFFIXES; others (EPS runs Ghostscript, for one) are
# refused before any decoding.
_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM")  # JPEG covers MPO
_EXIF_ORIENTATION = 0x0112
_HIGH_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
# What ImageOps.exif_transpose does for each EXIF orientation
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _fail(path: Path, why: str) -> DataError:
    return DataError(f"{path.name}: {why}")


def _describe(exc: BaseException) -> str:
    return shorten(" ".join(str(exc).split()) or type(exc).__name__, 200)


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
        data = read_bounded(path, MAX_FILE_BYTES, "an image file")
    except ReadError as exc:
        raise _fail(path, str(exc)) from None
    if not data:
        raise _fail(path, "the file is empty")
    Image.init()  # registers every format, so that _FORMATS can name those beyond the basic few
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb warning fires above its limit; ours are stricter
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=_FORMATS)
    except Image.DecompressionBombError:
        raise _fail(
            path,
            f"the image is larger than the {MAX_PIXELS // 1_000_000}-megapixel "
            "limit (a possible decompression bomb)",
        ) from None
    except UnidentifiedImageError:
        raise _fail(path, "not an image file that LatentLab can read") from None
    except Exception as exc:  # decoders of untrusted files raise many kinds of error
        raise _fail(path, f"the image is damaged or truncated ({_describe(exc)})") from None
    w, h = img.size
    if w == 0 or h == 0:
        img.close()
        raise _fail(path, f"the image has no pixels ({w}x{h})")
    return img


def _decode_bytes(img: Image.Image) -> int:
    """The bytes decoding ``img`` and preparing it for resizing hold at once.

    Pillow keeps 1 byte a pixel for 1-bit, greyscale and palette images, 2 for 16-bit ones and
    4 for every other mode; a palette, 1-bit or colour-keyed image is converted (to at most 4
    bytes a pixel) before resizing, and a transparent one is premultiplied for resizing (4
    more).
    """
    mode, transparent = img.mode, img.has_transparency_data
    stored = 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4
    converted = mode in ("1", "P", "PA") or (transparent and mode not in ("LA", "RGBA"))
    return img.width * img.height * (stored + 4 * converted + 4 * transparent)


def _check_size(path: Path, img: Image.Image, w: int, h: int) -> None:
    """Refuse an image too large to decode, as ``img`` will be decoded (after ``draft``)."""
    if img.width * img.height > MAX_PIXELS:
        raise _fail(
            path,
            f"the image is {w}x{h}, larger than the {MAX_PIXELS // 1_000_000}-megapixel "
            "limit (a possible decompression bomb)",
        )
    needed = _decode_bytes(img)
    if needed > MAX_DECODE_BYTES:
        raise _fail(
            path,
            f"the image is {w}x{h} in mode {img.mode}, which needs {needed // 2**20} MiB to "
            f"decode, more than the {MAX_DECODE_BYTES // 2**20} MiB limit",
        )


def _depth_scale(img: Image.Image) -> float:
    """The factor that takes a high-depth image's values to 0..255: float images usually hold
    [0, 1], integer ones are 16-bit. Read from the whole image, before resizing rings."""
    if img.mode != "F":
        return 1 / 257
    high = img.getextrema()[1]
    return 255.0 if isinstance(high, float) and high <= 1.0 else 1.0


def _shrink(img: Image.Image, size: tuple[int, int], target_mode: str) -> Image.Image:
    """``img`` centre-cropped and resized to ``size`` in a mode that keeps its values, so that
    every later conversion works on the small image."""
    straight_alpha = img.mode in ("LA", "RGBA")
    if img.mode in ("1", "P", "PA") or (img.has_transparency_data and not straight_alpha):
        # resampling needs colours, not palette indices or a transparent colour key
        img = img.convert("RGBA" if img.has_transparency_data else target_mode)
    box = _centre_box(*img.size, *size)
    if (box[2] - box[0], box[3] - box[1]) != size:
        # box averaging first, as fast as a JPEG draft; 16-bit images do not support it
        gap = None if img.mode.startswith("I;16") else 3.0
        return img.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=gap)
    return img.crop(box) if box != (0, 0, *img.size) else img


def _to_mode(
    img: Image.Image, mode: str, original: str, scale: float, notices: list[str]
) -> Image.Image:
    """Convert ``img`` to ``mode`` ("L" or "RGB"), compositing transparency onto white.

    ``original`` is the mode of the file's image, which the notices name; a high-depth image
    has its values multiplied by ``scale``.
    """
    if img.mode in _HIGH_DEPTH_MODES:
        values = np.nan_to_num(np.asarray(img, dtype=np.float64))
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
            w, h = img.size
            original = img.mode
            # JPEG only: decode at a reduced scale that is still at least twice the target
            img.draft(None, (2 * max(width, height),) * 2)
            # before anything decodes pixels (reading a PNG's EXIF or a GIF's frames can)
            _check_size(path, img, w, h)
            if getattr(img, "is_animated", False):
                notices.append("used the first frame of an animated image")
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
            if orientation not in _TRANSPOSE:
                orientation = 1  # upright, or malformed (ImageOps.exif_transpose ignores it too)
            size = (width, height)
            if orientation in (5, 6, 7, 8):  # the displayed image is rotated by 90 degrees
                w, h, size = h, w, (height, width)
            img.load()
            scale = _depth_scale(img) if img.mode in _HIGH_DEPTH_MODES else 1.0
            out = _shrink(img, size, mode)
            if orientation != 1:
                out = out.transpose(_TRANSPOSE[orientation])
                notices.append("rotated as its EXIF orientation says")
            out = _to_mode(out, mode, original, scale, notices)
            # notices describe the original image; the work was done on the (drafted) one
            crop = _centre_box(w, h, width, height)
            cw, ch = crop[2] - crop[0], crop[3] - crop[1]
            if (cw, ch) != (w, h):
                notices.append(f"cropped {w}x{h} to {cw}x{ch} at the centre")
            if (cw, ch) != (width, height):
                notices.append(f"resized {cw}x{ch} to {width}x{height}")
            array = np.asarray(out, dtype=np.uint8)
        except DataError:
            raise
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
