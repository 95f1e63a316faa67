"""Latent planes: the 2D maps of latent space that the user drags points on.

A plane has an origin ``o`` and orthonormal directions ``u``, ``v``. The point ``(a, b)`` with
residual ``r`` is the latent ``z = o + a*u + b*v + r``; projecting ``z`` gives back ``(a, b)`` and
the residual ``r`` orthogonal to the plane, so a projected latent lifts back to itself exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["PLANE_KINDS", "LatentPlane", "PlaneInputs", "PlaneKind", "framing", "make_plane"]


@dataclass(frozen=True)
class LatentPlane:
    origin: np.ndarray  # D
    u: np.ndarray  # D, unit length
    v: np.ndarray  # D, unit length, orthogonal to u
    name: str = "plane"
    axis_labels: tuple[str, str] = ("u", "v")
    kind: str = ""  # one of PLANE_KINDS, where it is one

    @property
    def dim(self) -> int:
        return int(self.origin.shape[0])

    def choices(self) -> tuple[str, str]:
        """The ``x`` and ``y`` that :func:`make_plane` takes to make this plane again: latent
        indices as text for "axes", attribute names for "attributes", empty otherwise."""
        if self.kind == "axes":
            x, y = self.axis_labels
            return x.removeprefix("z"), y.removeprefix("z")  # as ``axes`` names them
        if self.kind == "attributes":
            return self.axis_labels
        return "", ""

    @classmethod
    def axes(cls, dim: int, i: int = 0, j: int = 1) -> LatentPlane:
        """The plane of latent axes ``i`` and ``j`` through the origin."""
        if dim < 2 or not (0 <= i < dim and 0 <= j < dim) or i == j:
            raise ValueError(f"need two different axes of a latent of size {dim} >= 2")
        u, v = np.zeros(dim), np.zeros(dim)  # not rows of np.eye: they would keep all D x D
        u[i] = v[j] = 1.0
        return cls(np.zeros(dim), u, v, f"latent axes z{i}, z{j}", (f"z{i}", f"z{j}"), "axes")

    @classmethod
    def pca(cls, latents: np.ndarray) -> LatentPlane:
        """The plane of the two principal components of ``latents`` (``N, D``) through their mean.

        Component signs are fixed (largest coordinate positive) so the map does not flip
        between runs.
        """
        latents = np.asarray(latents, dtype=np.float64)
        n, dim = latents.shape
        if dim < 2 or n < 2:
            raise ValueError("PCA needs at least two latents of dimension two or more")
        mean = latents.mean(axis=0)
        u, v = _principal_axes(latents - mean)
        u, v = u * np.sign(u[np.argmax(abs(u))]), v * np.sign(v[np.argmax(abs(v))])
        return cls(mean, u, v, "PCA of reference latents", ("PC1", "PC2"), "pca")

    @classmethod
    def through(
        cls,
        origin: np.ndarray,
        d1: np.ndarray,
        d2: np.ndarray,
        name: str,
        axis_labels: tuple[str, str] = ("u", "v"),
        kind: str = "",
    ) -> LatentPlane:
        """The plane through ``origin`` spanned by ``d1`` and ``d2`` (orthonormalised)."""
        length = float(np.linalg.norm(d1))
        if not length > 1e-12:  # also NaN
            raise ValueError("a direction of the plane is zero (two of its points are the same)")
        u = d1 / length
        v = d2 - (d2 @ u) * u
        norm = np.linalg.norm(v)
        if norm < 1e-9 * max(1.0, float(np.linalg.norm(d2))):
            raise ValueError("the two directions are parallel; they do not span a plane")
        return cls(np.asarray(origin, dtype=np.float64), u, v / norm, name, axis_labels, kind)

    def project(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates ``N, 2`` of latents ``N, D`` and their residuals ``N, D``."""
        d = np.atleast_2d(np.asarray(z, dtype=np.float64)) - self.origin
        ab = np.stack([d @ self.u, d @ self.v], axis=1)
        residual = d - ab[:, :1] * self.u - ab[:, 1:] * self.v
        return ab, residual

    def coordinates(self, z: np.ndarray) -> np.ndarray:
        """The coordinates ``N, 2`` of :meth:`project` without the residuals (a fraction of
        the work for many latents: the map's reference points on every model opened), in the
        precision of ``z`` when it is float32 (a float64 copy of a Glow's 2,000 reference
        latents took longer than the product, on the GUI thread)."""
        z = np.atleast_2d(np.asarray(z))
        precision = np.float32 if z.dtype == np.float32 else np.float64
        basis = np.stack([self.u, self.v], axis=1)  # D, 2
        projected = z.astype(precision, copy=False) @ basis.astype(precision)
        return projected.astype(np.float64) - self.origin @ basis

    def lift(self, ab: ArrayLike, residual: np.ndarray | None = None) -> np.ndarray:
        """Latents ``N, D`` of plane points ``N, 2`` plus optional residuals."""
        ab = np.atleast_2d(np.asarray(ab, dtype=np.float64))
        z = self.origin + ab[:, :1] * self.u + ab[:, 1:] * self.v
        return z if residual is None else z + residual


@dataclass(frozen=True)
class PlaneInputs:
    """What planes are made from: the ``current`` latent (``D``), the ``reference`` latents
    (``N, D``), the attribute ``directions`` and the user's ``images`` (their latents, ``M, D``)."""

    current: np.ndarray
    reference: np.ndarray | None = None
    directions: dict[str, np.ndarray] = field(default_factory=dict)
    images: np.ndarray | None = None

    @property
    def image_count(self) -> int:
        return 0 if self.images is None else len(self.images)


def _pca(_x: str, _y: str, inputs: PlaneInputs) -> LatentPlane:
    assert inputs.reference is not None  # available() checked it
    return LatentPlane.pca(inputs.reference)


def _attributes(x: str, y: str, inputs: PlaneInputs) -> LatentPlane:
    if x not in inputs.directions or y not in inputs.directions:
        raise ValueError("pick two attribute directions of this model")
    if x == y:
        raise ValueError("pick two different attributes")
    d = inputs.directions
    return LatentPlane.through(
        inputs.current, d[x], d[y], f"attributes {x} and {y}", (x, y), "attributes"
    )


def _axes(x: str, y: str, inputs: PlaneInputs) -> LatentPlane:
    return LatentPlane.axes(len(inputs.current), int(x), int(y))


def _images(_x: str, _y: str, inputs: PlaneInputs) -> LatentPlane:
    assert inputs.images is not None  # available() checked it
    a, b, c = np.asarray(inputs.images[-3:], dtype=np.float64)
    return LatentPlane.through(
        a,
        b - a,
        c - a,
        "through your last three images",
        ("image 1 → 2", "towards image 3"),
        "images",
    )


@dataclass(frozen=True)
class PlaneKind:
    """One kind of plane the map offers: what the menu calls it (``text``), what its two axes
    name (``axes``: "attributes", "latent axes" or "" when it has no choices), when it can be
    made (``available``), what to tell the user when it cannot (``needs``), and how it is made
    (``make(x, y, inputs)``)."""

    name: str
    text: str
    axes: str
    needs: str
    available: Callable[[PlaneInputs], bool]
    make: Callable[[str, str, PlaneInputs], LatentPlane]


#: The kinds of plane, in the order the map's menu lists them.
PLANE_KINDS: dict[str, PlaneKind] = {
    kind.name: kind
    for kind in (
        PlaneKind(
            "pca",
            "principal components",
            "",
            "this model has no reference set to take components from",
            lambda i: i.reference is not None and len(i.reference) >= 2,
            _pca,
        ),
        PlaneKind(
            "attributes",
            "two attributes",
            "attributes",
            "this model has fewer than two attribute directions",
            lambda i: len(i.directions) >= 2,
            _attributes,
        ),
        PlaneKind(
            "axes",
            "two latent axes",
            "latent axes",
            "the latent has fewer than two axes",
            lambda i: len(i.current) >= 2,
            _axes,
        ),
        PlaneKind(
            "images",
            "your last three images",
            "",
            "open three of your images first (Ctrl+I)",
            lambda i: i.image_count >= 3,
            _images,
        ),
    )
}


def make_plane(kind: str, x: str = "", y: str = "", *, inputs: PlaneInputs) -> LatentPlane:
    """The plane of kind ``kind`` (a key of ``PLANE_KINDS``) through ``inputs``; ``x`` and ``y``
    name its axes where the kind has choices (attribute names, latent indices as text).

    Raises ValueError with a message for the user when the plane cannot be made.
    """
    if kind not in PLANE_KINDS:
        raise ValueError(f"unknown kind of plane {kind!r}")
    plane_kind = PLANE_KINDS[kind]
    if not plane_kind.available(inputs):
        raise ValueError(plane_kind.needs)
    return plane_kind.make(x, y, inputs)


def _principal_axes(centred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two leading principal axes (orthonormal) of the centred ``N, D`` data. With fewer
    points than dimensions they come from the eigenvectors of the ``N, N`` Gram matrix, not
    from an SVD of the data: 17 ms instead of 160 ms for a reference of 300 latents of 3,072
    (the default model's, computed as each model opens)."""
    n, dim = centred.shape
    if n >= dim:
        rows = np.linalg.svd(centred, full_matrices=False)[2][:2]
    else:
        _, vectors = np.linalg.eigh(centred @ centred.T)  # eigenvalues ascending
        rows = vectors[:, :-3:-1].T @ centred  # the largest two: singular value x axis
    scale = float(np.linalg.norm(rows[0]))
    if scale == 0:  # all latents alike: any plane will do
        u = np.zeros(dim)
        u[0] = 1.0
    else:
        u = rows[0] / scale
    v = rows[1] - (rows[1] @ u) * u if len(rows) > 1 else np.zeros(dim)
    length = float(np.linalg.norm(v))
    if length <= 1e-12 * max(1.0, scale):  # the latents lie on a line
        return u, _orthogonal_to(u)
    return u, v / length


def _orthogonal_to(u: np.ndarray) -> np.ndarray:
    v = np.zeros_like(u)
    v[np.argmin(abs(u))] = 1.0
    v -= (v @ u) * u
    return v / np.linalg.norm(v)


def framing(points: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """The x and y ranges of a map of ``points`` (``N, 2``): the middle 98% of them on each
    axis, padded (a few outliers, which a flow's latents have, would otherwise shrink the
    bulk); -3 to 3 without points. The point of a new model starts at its centre."""
    points = points[np.isfinite(points).all(axis=1)]
    if len(points):
        low, high = np.percentile(points, 1, axis=0), np.percentile(points, 99, axis=0)
    else:
        low, high = np.array([-3.0, -3.0]), np.array([3.0, 3.0])
    pad = 0.08 * max(float((high - low).max()), 1e-3)
    return (low[0] - pad, high[0] + pad), (low[1] - pad, high[1] + pad)
