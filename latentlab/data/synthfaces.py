"""Synthetic cartoon faces with known attributes: the offline stand-in for CelebA.

Every face is drawn from a handful of random parameters. Nine of them are the *attributes*
(``ATTRIBUTES``), each drawn independently of all others, so that an attribute direction learnt
from the labels means one thing only; the rest are nuisance (position, scale, lighting, noise,
eye spacing, mouth width, eyebrows, ...) so that a model has something to learn.

Drawing: each feature is an implicit shape (an inequality in the head's own coordinates)
evaluated on a supersampled pixel grid, vectorised over faces. Shapes write a layer index into a
label map in painter's order; the label map is turned into colours through a per-face palette and
averaged down to the output size (box-filter antialiasing). Head tilt rotates the sampling grid
about the head centre.

Determinism: faces are drawn in fixed chunks of ``CHUNK`` faces; chunk ``c`` of seed ``s`` takes
all its random numbers from ``numpy.random.default_rng([s, c])`` (first the parameters of all
``CHUNK`` faces, then their pixel noise), whatever ``n`` is. So face ``i`` depends only on
``(seed, i, size)``, ``make_faces(k, s)`` is a prefix of ``make_faces(n, s)`` for ``k <= n``, and
the attributes of a seed are the same at every size. Changing the draw order or ``CHUNK`` changes
the data set; don't.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from latentlab.data.dataset import ImageDataset, Split

__all__ = [
    "ATTRIBUTES",
    "ATTRIBUTE_RANGES",
    "BINARY_ATTRIBUTES",
    "CHUNK",
    "MAX_TILT_DEGREES",
    "SPLIT_SEEDS",
    "make_faces",
    "synthfaces_split",
]

ATTRIBUTES = (
    "smiling",
    "eyes_open",
    "glasses",
    "hair_colour",
    "hair_length",
    "skin_tone",
    "face_width",
    "head_tilt",
    "background",
)
BINARY_ATTRIBUTES = ("smiling", "eyes_open", "glasses")
ATTRIBUTE_RANGES = {name: (0.0, 1.0) for name in ATTRIBUTES} | {"head_tilt": (-1.0, 1.0)}
MAX_TILT_DEGREES = 20.0
CHUNK = 64
SPLIT_SEEDS = {"train": 20_240_001, "validation": 20_240_002, "test": 20_240_003}
MIN_SIZE, MAX_SIZE = 16, 128
NOISE_STD = 0.015
_BATCH_SAMPLES = 32_768  # supersampled pixels rendered at once: small arrays are faster

# Layers of the label map, painted in this order (later ones cover earlier ones).
(
    BACKGROUND,
    SHIRT,
    NECK,
    HAIR,
    SKIN,
    SHADOW,
    LID,
    EYE_WHITE,
    DARK,
    BROW,
    LIPS,
    MOUTH,
    TEETH,
    FRAME,
) = range(14)
_LAYERS = 14


class _Coords(NamedTuple):
    """Supersampled sample points of a batch of faces, each ``B,Hs,Ws``."""

    bx: np.ndarray  # body frame: centred on the head, scaled, not rotated
    by: np.ndarray
    u: np.ndarray  # head frame: also rotated by the tilt; u right, v down, head height ~1.2
    v: np.ndarray


# ---------------------------------------------------------------------------------- parameters


def _draw_parameters(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Parameters of ``CHUNK`` faces. The order of the draws defines the data set."""

    def uniform(low: float, high: float) -> np.ndarray:
        return rng.uniform(low, high, CHUNK)

    def coin(p: float = 0.5) -> np.ndarray:
        return (rng.random(CHUNK) < p).astype(np.float64)

    p = {
        "smiling": coin(),
        "eyes_open": coin(),
        "glasses": coin(),
        "hair_colour": uniform(0, 1),
        "hair_length": uniform(0, 1),
        "skin_tone": uniform(0, 1),
        "face_width": uniform(0, 1),
        "head_tilt": uniform(-1, 1),
        "background": uniform(0, 1),
    }
    p |= {
        "centre_x": uniform(-0.09, 0.09),
        "centre_y": uniform(-0.05, 0.09),
        "scale": uniform(0.95, 1.15),
        "head_height": uniform(0.56, 0.62),
        "eye_spacing": uniform(0.19, 0.25),
        "eye_height": uniform(-0.08, -0.02),
        "eye_size": uniform(1.0, 1.2),
        "gaze": uniform(-0.025, 0.025),
        "brows": coin(0.7),
        "brow_lift": uniform(0.0, 0.04),
        "nose": coin(0.8),
        "mouth_width": uniform(0.15, 0.21),
        "mouth_height": uniform(0.28, 0.34),
        "frown": uniform(-0.01, 0.05),
        "smile_curve": uniform(0.09, 0.13),
        "smile_open": uniform(0.13, 0.17),
        "lip": uniform(0.05, 0.065),
        "hairline": uniform(-0.40, -0.28),
        "parting": uniform(-0.3, 0.3),
        "frame_radius": uniform(0.135, 0.16),
        "frame_width": uniform(0.05, 0.065),
        "red_hair": uniform(0, 1) * coin(0.3),
        "light_angle": uniform(0, 2 * np.pi),
        "light_strength": uniform(0.0, 0.3),
    }
    p["shirt"] = rng.uniform(0.1, 0.9, (CHUNK, 3))
    p["skin_jitter"] = rng.uniform(-0.03, 0.03, (CHUNK, 3))
    p["background_jitter"] = rng.uniform(-0.08, 0.08, (CHUNK, 3))
    p["frame_colour"] = rng.uniform(0.02, 0.2, (CHUNK, 3))
    p["light_tint"] = rng.uniform(-0.05, 0.05, (CHUNK, 3))
    return p


def _with_derived(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The parameters plus their sines and cosines, taken over a whole chunk at once, so that
    a face's values never depend on how many faces share its batch."""
    tilt = math.radians(MAX_TILT_DEGREES) * p["head_tilt"]
    return p | {
        "tilt_cos": np.cos(tilt),
        "tilt_sin": np.sin(tilt),
        "light_x": np.cos(p["light_angle"]),
        "light_y": np.sin(p["light_angle"]),
    }


def _palette(p: dict[str, np.ndarray]) -> np.ndarray:
    """The colour of every layer for every face, ``B, _LAYERS, 3`` in [0, 1]."""

    def lerp(a: tuple[float, ...], b: tuple[float, ...], t: np.ndarray) -> np.ndarray:
        return np.asarray(a) + (np.asarray(b) - np.asarray(a)) * t[:, None]

    hair_t = p["hair_colour"]
    # dark brown -> mid brown -> blond, in two straight pieces; optional red tint on top
    hair = np.where(
        (hair_t < 0.5)[:, None],
        lerp((0.06, 0.04, 0.03), (0.42, 0.26, 0.14), hair_t * 2),
        lerp((0.42, 0.26, 0.14), (0.96, 0.82, 0.48), hair_t * 2 - 1),
    )
    hair = hair + np.asarray([0.25, -0.02, -0.08]) * (p["red_hair"] * (0.3 + hair_t))[:, None]
    skin = lerp((0.42, 0.27, 0.18), (0.99, 0.86, 0.76), p["skin_tone"]) + p["skin_jitter"]
    background = lerp((0.10, 0.14, 0.32), (0.92, 0.90, 0.70), p["background"])
    background = background + p["background_jitter"]
    palette = np.empty((len(hair_t), _LAYERS, 3))
    palette[:, BACKGROUND] = background
    palette[:, SHIRT] = p["shirt"]
    palette[:, NECK] = skin * 0.82
    palette[:, HAIR] = hair
    palette[:, SKIN] = skin
    palette[:, SHADOW] = skin * 0.72
    palette[:, LID] = skin * 0.6
    palette[:, EYE_WHITE] = (0.97, 0.97, 0.97)
    palette[:, DARK] = (0.08, 0.06, 0.06)
    palette[:, BROW] = hair * 0.6
    palette[:, LIPS] = skin * (0.55, 0.25, 0.25) + (0.25, 0.0, 0.0)
    palette[:, MOUTH] = (0.25, 0.03, 0.06)
    palette[:, TEETH] = (0.98, 0.98, 0.96)
    palette[:, FRAME] = p["frame_colour"]
    return np.clip(palette, 0, 1).astype(np.float32)


# ---------------------------------------------------------------------------------- features


_Scalar = float | np.ndarray  # a number, or one per face shaped B,1,1


def _ellipse(
    x: np.ndarray, y: np.ndarray, cx: _Scalar, cy: _Scalar, rx: _Scalar, ry: _Scalar
) -> np.ndarray:
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 < 1


def _half_width(p: dict[str, np.ndarray]) -> np.ndarray:
    return 0.40 + 0.16 * p["face_width"]


def _shoulders(c: _Coords, p: dict[str, np.ndarray]) -> np.ndarray:
    return _ellipse(c.bx, c.by, 0, 1.32, 0.8, 0.5)


def _neck(c: _Coords, p: dict[str, np.ndarray]) -> np.ndarray:
    return (np.abs(c.bx) < 0.17) & (c.by > 0.3)


def _ears(c: _Coords, p: dict[str, np.ndarray]) -> np.ndarray:
    return _ellipse(np.abs(c.u), c.v, _half_width(p), 0.02, 0.07, 0.11)


def _back_hair(c: _Coords, p: dict[str, np.ndarray]) -> np.ndarray:
    """The hair behind the head: a cap, falling beside the face down to a length set by
    ``hair_length`` (from above the eyes to the shoulders)."""
    a, b = _half_width(p), p["head_height"]
    bottom = -0.2 + 1.15 * p["hair_length"]
    outer = a + 0.08 + 0.06 * p["hair_length"]
    cap = _ellipse(c.u, c.v, 0, -0.04, outer, b + 0.1) & (c.v < bottom)
    fall = (np.abs(c.u) < outer) & (c.v >= -0.04) & (c.v < bottom - 0.1 * (c.u / outer) ** 2)
    return cap | fall


def _head(c: _Coords, p: dict[str, np.ndarray]) -> np.ndarray:
    # a little narrower at the chin than at the temples
    a, b = _half_width(p), p["head_height"]
    return _ellipse(c.u * (1 + 0.12 * np.clip(c.v / b, 0, None)), c.v, 0, 0, a, b)


def _fringe(c: _Coords, p: dict[str, np.ndarray]) -> np.ndarray:
    """Hair over the top of the forehead, down to a hairline that drops towards the sides."""
    a, b = _half_width(p), p["head_height"]
    line = p["hairline"] + 0.18 * ((c.u - p["parting"] * a) / a) ** 2
    return _ellipse(c.u, c.v, 0, -0.02, a + 0.03, b + 0.05) & (c.v < line)


def _nose(c: _Coords, p: dict[str, np.ndarray]) -> np.ndarray:
    return _ellipse(c.u, c.v, 0, 0.16, 0.045, 0.075) & (p["nose"] > 0)


def _eyebrows(c: _Coords, p: dict[str, np.ndarray]) -> np.ndarray:
    du = np.abs(c.u) - p["eye_spacing"]
    centre = p["eye_height"] - 0.16 - p["brow_lift"] + 0.6 * du**2
    return (np.abs(du) < 0.1) & (np.abs(c.v - centre) < 0.028) & (p["brows"] > 0)


def _eyes(c: _Coords, p: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Open eyes: whites with large dark pupils. Closed: shaded lids over a dark lash line.
    Open is brighter than closed on every skin tone (white vs shadow), so a linear classifier
    can tell them apart. Returns whites, lids, dark parts."""
    size = p["eye_size"]
    du, dv = np.abs(c.u) - p["eye_spacing"], c.v - p["eye_height"]
    is_open = p["eyes_open"] > 0
    eye = _ellipse(du, dv, 0, 0, 0.11 * size, 0.085 * size)
    gaze = np.sign(c.u) * p["gaze"]  # du is mirrored on the left: both eyes look one way
    pupil = _ellipse(du, dv, gaze, 0.005, 0.05 * size, 0.056 * size) & is_open
    lash_line = dv - 0.03 * (1 - (du / (0.11 * size)) ** 2)  # a downward arc
    lash = (np.abs(du) < 0.11 * size) & (np.abs(lash_line) < 0.022 * size) & ~is_open
    lid = eye & (lash_line < 0) & ~is_open
    return eye & is_open, lid, pupil | lash


def _mouth(c: _Coords, p: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neutral: a closed line, flat or with the corners slightly down. Smiling: corners well
    up and an open crescent with a row of teeth. Returns lips, inside, teeth."""
    smiling = p["smiling"] > 0
    t = c.u / (p["mouth_width"] * (1 + 0.2 * p["smiling"]))
    inside_width = np.abs(t) < 1
    curve = np.where(smiling, -p["smile_curve"], p["frown"]) * t**2  # v offset of the lip line
    lip = p["lip"]
    top = p["mouth_height"] + curve - lip / 2
    depth = np.where(smiling, p["smile_open"], 0.0) * (1 - t**2)
    bottom = top + lip + depth
    lips = inside_width & (c.v > top) & (c.v < bottom)
    inner = (
        lips & smiling & (c.v > top + 0.4 * lip) & (c.v < bottom - 0.6 * lip) & (np.abs(t) < 0.92)
    )
    teeth = inner & (c.v < top + 0.4 * lip + 0.15 * (depth - lip))
    return lips, inner, teeth


def _glasses(c: _Coords, p: dict[str, np.ndarray]) -> np.ndarray:
    """Round dark frames around both eyes, a bridge and the arms to the ears."""
    radius, width = p["frame_radius"], p["frame_width"]
    du, dv = np.abs(c.u) - p["eye_spacing"], c.v - p["eye_height"]
    ring = np.abs(np.sqrt(du**2 + dv**2) - radius) < width / 2
    bar = np.abs(dv + 0.02) < width / 2.5
    bridge = bar & (du < -radius)
    arms = bar & (du > radius) & (np.abs(c.u) < _half_width(p) + 0.02)
    return (ring | bridge | arms) & (p["glasses"] > 0)


# ---------------------------------------------------------------------------------- drawing


def _supersampling(size: int) -> int:
    return 3 if size < 32 else 2  # below 32 px, thin lines need finer coverage


def _coords(p: dict[str, np.ndarray], size: int, ss: int) -> _Coords:
    n = size * ss
    axis = (np.arange(n, dtype=np.float32) + 0.5) / n * 2 - 1
    x, y = axis[None, None, :], axis[None, :, None]
    bx = (x - p["centre_x"]) / p["scale"]
    by = (y - p["centre_y"]) / p["scale"]
    cos, sin = p["tilt_cos"], p["tilt_sin"]
    # positive tilt turns the head clockwise on screen (its top moves right)
    return _Coords(bx, by, cos * bx + sin * by, cos * by - sin * bx)


def _label_map(c: _Coords, p: dict[str, np.ndarray]) -> np.ndarray:
    labels = np.zeros(c.u.shape, dtype=np.uint8)

    def paint(mask: np.ndarray, layer: int) -> None:
        np.putmask(labels, mask, layer)

    paint(_shoulders(c, p), SHIRT)
    paint(_neck(c, p), NECK)
    paint(_ears(c, p), SKIN)
    paint(_back_hair(c, p), HAIR)
    paint(_head(c, p), SKIN)
    paint(_fringe(c, p), HAIR)
    paint(_nose(c, p), SHADOW)
    paint(_eyebrows(c, p), BROW)
    white, lid, dark = _eyes(c, p)
    paint(white, EYE_WHITE)
    paint(lid, LID)
    paint(dark, DARK)
    lips, inner, teeth = _mouth(c, p)
    paint(lips, LIPS)
    paint(inner, MOUTH)
    paint(teeth, TEETH)
    paint(_glasses(c, p), FRAME)
    return labels


def _lighting(p: dict[str, np.ndarray], size: int) -> np.ndarray:
    """A linear brightness gradient in a random direction, with a slight colour cast:
    a factor ``B,H,W,3`` to multiply the image by."""
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    ramp = p["light_x"] * axis[None, None, :] + p["light_y"] * axis[None, :, None]  # B,H,W
    return (1 + p["light_strength"] * ramp)[..., None] * (1 + p["light_tint"][:, None, None, :])


def _render(p: dict[str, np.ndarray], noise: np.ndarray, size: int) -> np.ndarray:
    """Faces ``B,3,size,size`` uint8 from their parameters and unit pixel noise ``B,H,W,3``."""
    ss = _supersampling(size)
    b = len(p["smiling"])
    # float32 throughout (half the memory traffic); per-face numbers shaped B,1,1
    flat = {k: (v[:, None, None] if v.ndim == 1 else v).astype(np.float32) for k, v in p.items()}
    labels = _label_map(_coords(flat, size, ss), flat)
    # the ss x ss samples of each pixel first, offset into the faces' palettes
    samples = labels.reshape(b, size, ss, size, ss).transpose(2, 4, 0, 1, 3)
    index = samples.reshape(ss * ss, b, size, size).astype(np.intp)
    index += (np.arange(b) * _LAYERS)[:, None, None]
    palette = _palette(p).reshape(b * _LAYERS, 3)
    colour = np.stack([np.take(palette[:, k], index).mean(axis=0) for k in range(3)], axis=-1)
    colour = colour * _lighting(flat, size) + NOISE_STD * noise
    return np.round(np.clip(colour, 0, 1) * 255).astype(np.uint8).transpose(0, 3, 1, 2)


def make_faces(n: int, seed: int, size: int = 32) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``n`` synthetic faces: uint8 RGB images ``n,3,size,size`` and their attributes
    (name -> float32 array ``n``; see ``ATTRIBUTES`` and ``ATTRIBUTE_RANGES``).

    Face ``i`` depends only on ``(seed, i, size)``, so fewer faces are a prefix of more.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, not {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    if (
        isinstance(size, bool)
        or not isinstance(size, (int, np.integer))
        or not MIN_SIZE <= size <= MAX_SIZE
    ):
        raise ValueError(f"size must be an integer from {MIN_SIZE} to {MAX_SIZE}, not {size!r}")
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    attributes = {name: np.empty(n, dtype=np.float32) for name in ATTRIBUTES}
    batch = max(4, _BATCH_SAMPLES // (size * _supersampling(size)) ** 2)
    for start in range(0, n, CHUNK):
        rng = np.random.default_rng([int(seed), start // CHUNK])
        params = _with_derived(_draw_parameters(rng))
        noise = rng.standard_normal((CHUNK, size, size, 3), dtype=np.float32)
        stop = min(n, start + CHUNK)
        for name in ATTRIBUTES:
            attributes[name][start:stop] = params[name][: stop - start]
        for first in range(0, stop - start, batch):
            last = min(stop - start, first + batch)
            images[start + first : start + last] = _render(
                {k: v[first:last] for k, v in params.items()}, noise[first:last], size
            )
    return images, attributes


def synthfaces_split(
    n_train: int = 10_000, n_validation: int = 1_000, n_test: int = 1_000, size: int = 32
) -> Split:
    """Train/validation/test faces (256 levels, attributes attached), each split drawn from
    its own fixed seed (``SPLIT_SEEDS``)."""

    def part(name: str, n: int) -> ImageDataset:
        images, attributes = make_faces(n, SPLIT_SEEDS[name], size)
        return ImageDataset(images, 256, attributes=attributes)

    return Split(
        "synthfaces", part("train", n_train), part("validation", n_validation), part("test", n_test)
    )
