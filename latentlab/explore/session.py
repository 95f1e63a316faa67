"""Sessions: where the user was in a model's latent space, saved as JSON and read back.

A session file (``*.latentlab-session.json``) holds the model file's path, the map's plane, the
current point and its residual, the attribute amounts, the interpolation endpoints and the
user's images (their names, 8-bit thumbnails and latents). It is
untrusted input like any file: it is read with a size limit, every value is checked, and a
session that does not fit the model it names (another latent size, say) is refused with a
message instead of half applied.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from latentlab.explore.plane import PLANE_KINDS, LatentPlane
from latentlab.explore.state import Snapshot
from latentlab.explore.user_images import UserImages
from latentlab.fileio import ReadError, atomic_write_bytes, read_bounded
from latentlab.untrusted import is_finite_number, short_repr

__all__ = ["Session", "SessionError", "read_session", "write_session"]

FORMAT = "latentlab-session"
VERSION = 1
MAX_BYTES = 64 * 2**20
MAX_NAME = 255  # characters of an image's file name, a plane's name or label, an attribute
MAX_PATH = 4096  # characters of the model file's path (Linux's PATH_MAX)
# Largest magnitude of a latent coordinate (point, residual, plane origin, endpoints, images'
# latents). Latents of the priors lie within a few units of the origin and no drag goes far
# beyond the map; 1e4 leaves ample room, while a value like 1e308 would overflow the decoder
# into NaN images.
MAX_COORDINATE = 1e4
# Largest magnitude of an attribute amount: the app's sliders span -3..3 and the command
# line's --amount -10..10.
MAX_AMOUNT = 100.0


class SessionError(ValueError):
    """A session file cannot be used; the message says why in one line."""


@dataclass
class Session:
    """A model file and where the user was in its latent space."""

    model: Path
    snapshot: Snapshot
    endpoints: dict[str, np.ndarray] = field(default_factory=dict)  # "A"/"B" -> latent D
    images: UserImages | None = None  # the user's images, None when there are none

    def check_fits(
        self, latent_dim: int, directions: list[str], image_shape: tuple[int, int, int]
    ) -> None:
        """Raise SessionError unless the session fits a model of ``latent_dim`` and
        ``image_shape`` with these attribute ``directions``."""
        sizes = {
            self.snapshot.plane.dim,
            len(self.snapshot.residual),
            *(len(z) for z in self.endpoints.values()),
            *([] if self.images is None else [self.images.latents.shape[1]]),
        }
        if sizes != {latent_dim}:
            raise SessionError(
                f"the session is for a latent of size {min(sizes)}, this model has {latent_dim}"
            )
        unknown = sorted({name for name, _ in self.snapshot.amounts} - set(directions))
        if unknown:
            raise SessionError(f"the model has no attribute direction {unknown[0]!r}")
        if self.images is not None and self.images.images.shape[1:] != image_shape:
            shape = "x".join(map(str, self.images.images.shape[1:]))
            raise SessionError(
                f"the session's images are {shape}, this model's are "
                f"{'x'.join(map(str, image_shape))}"
            )


def write_session(path: str | Path, session: Session) -> None:
    """Write ``session`` as JSON, atomically."""
    snap, plane = session.snapshot, session.snapshot.plane
    document = {
        "format": FORMAT,
        "version": VERSION,
        "model": str(session.model),
        "plane": {
            "name": plane.name,
            "kind": plane.kind,
            "axis_labels": list(plane.axis_labels),
            "origin": plane.origin.tolist(),
            "u": plane.u.tolist(),
            "v": plane.v.tolist(),
        },
        "point": list(snap.point),
        "residual": snap.residual.tolist(),
        "amounts": dict(snap.amounts),
        "endpoints": {
            k: np.asarray(v, dtype=np.float64).tolist() for k, v in session.endpoints.items()
        },
    }
    if session.images is not None and len(session.images):
        document["images"] = _images_document(session.images)
    atomic_write_bytes(Path(path), json.dumps(document).encode())


def read_session(path: str | Path) -> Session:
    """Read and check a session file; raises SessionError with a one-line reason."""
    path = Path(path)
    try:
        data = read_bounded(path, MAX_BYTES, "a session file")
    except ReadError as exc:
        raise SessionError(f"{path.name}: {exc}") from None
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):  # also an integer with more digits than Python reads
        raise SessionError(f"{path.name}: not a LatentLab session (not JSON)") from None
    try:
        return _parse(document)
    except SessionError as exc:
        raise SessionError(f"{path.name}: {exc}") from None


def _parse(document: Any) -> Session:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SessionError("not a LatentLab session")
    version = document.get("version")
    if type(version) is not int or version != VERSION:
        raise SessionError(f"session version {short_repr(version)} is not supported")
    model = document.get("model")
    if not isinstance(model, str) or not model:
        raise SessionError("it names no model file")
    if len(model) > MAX_PATH or "\0" in model:
        raise SessionError(f"the model file's path {short_repr(model)} is not a valid path")
    plane = document.get("plane")
    if not isinstance(plane, dict):
        raise SessionError("the plane is missing")
    origin, u, v = (_vector(plane.get(key), f"plane {key}") for key in ("origin", "u", "v"))
    if not len(origin) == len(u) == len(v) >= 2:
        raise SessionError("the plane's vectors differ in size")
    if abs(u @ u - 1) > 1e-6 or abs(v @ v - 1) > 1e-6 or abs(u @ v) > 1e-6:
        raise SessionError("the plane's directions are not orthonormal")
    labels = plane.get("axis_labels")
    if not (isinstance(labels, list) and len(labels) == 2 and all(map(_is_name, labels))):
        raise SessionError(
            f"the plane's axis labels are not two strings of at most {MAX_NAME} characters"
        )
    kind, name = plane.get("kind"), plane.get("name")
    if kind not in ("", *PLANE_KINDS) or not _is_name(name):
        raise SessionError("the plane's kind or name is not valid")
    point = _vector(document.get("point"), "point")
    if len(point) != 2:
        raise SessionError("the point is not two numbers")
    amounts = document.get("amounts")
    if not isinstance(amounts, dict) or not all(
        _is_name(k) and is_finite_number(a) and abs(a) <= MAX_AMOUNT for k, a in amounts.items()
    ):
        raise SessionError(
            f"the attribute amounts are not names with numbers within ±{MAX_AMOUNT:g}"
        )
    endpoints = document.get("endpoints")
    if not isinstance(endpoints, dict) or not set(endpoints) <= {"A", "B"}:
        raise SessionError("the endpoints are not A and B")
    snapshot = Snapshot(
        LatentPlane(origin, u, v, name, (labels[0], labels[1]), kind),
        (float(point[0]), float(point[1])),
        _vector(document.get("residual"), "residual"),
        tuple(sorted((k, float(a)) for k, a in amounts.items())),
    )
    images = document.get("images")
    return Session(
        Path(model),
        snapshot,
        {k: _vector(z, f"endpoint {k}") for k, z in endpoints.items()},
        None if images is None else _parse_images(images),
    )


def _images_document(images: UserImages) -> dict[str, Any]:
    pixels = np.round(np.clip(images.images, 0, 1) * 255).astype(np.uint8)
    return {
        "names": list(images.names),
        "latents": images.latents.tolist(),
        "shape": list(pixels.shape),
        "pixels": base64.b64encode(pixels.tobytes()).decode("ascii"),
    }


def _parse_images(document: Any) -> UserImages:
    """The user's images: names, latents and 8-bit pixels, all checked to agree."""
    if not isinstance(document, dict):
        raise SessionError("the images are not a table of names, latents and pixels")
    names, latents, shape = document.get("names"), document.get("latents"), document.get("shape")
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise SessionError("the images' names are not a list of strings")
    if any(len(n) > MAX_NAME for n in names):
        raise SessionError(f"an image's name is longer than {MAX_NAME} characters")
    if not (isinstance(latents, list) and len(latents) == len(names)):
        raise SessionError("the images' latents do not match their names")
    vectors = [_vector(z, "image latent") for z in latents]
    if len({len(z) for z in vectors}) > 1:
        raise SessionError("the images' latents differ in size")
    if not (
        isinstance(shape, list)
        and len(shape) == 4
        and all(isinstance(x, int) and not isinstance(x, bool) and 0 < x <= 4096 for x in shape)
        and shape[0] == len(names)
        and shape[1] in (1, 3)
    ):
        raise SessionError("the images' shape is not N, channels (1 or 3), height, width")
    try:
        pixels = base64.b64decode(document.get("pixels", ""), validate=True)
    except (TypeError, ValueError, binascii.Error):
        raise SessionError("the images' pixels are not base64") from None
    if len(pixels) != math.prod(shape):
        raise SessionError("the images' pixels do not match their shape")
    images = np.frombuffer(pixels, dtype=np.uint8).reshape(shape).astype(np.float32) / 255
    latent_dim = len(vectors[0]) if vectors else 0
    return UserImages(tuple(names), images, np.array(vectors).reshape(len(names), latent_dim))


def _is_name(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) <= MAX_NAME


def _vector(values: Any, what: str) -> np.ndarray:
    """A list of numbers within ±MAX_COORDINATE, as float64."""
    if not isinstance(values, list) or not all(is_finite_number(x) for x in values):
        raise SessionError(f"the {what} is not a list of finite numbers")
    if any(abs(x) > MAX_COORDINATE for x in values):
        raise SessionError(f"the {what} has a coordinate beyond ±{MAX_COORDINATE:g}")
    return np.array(values, dtype=np.float64)
