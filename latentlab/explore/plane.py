"""Latent planes: the 2D maps of latent space that the user drags points on.

A plane has an origin ``o`` and orthonormal directions ``u``, ``v``. The point ``(a, b)`` with
residual ``r`` is the latent ``z = o + a*u + b*v + r``; projecting ``z`` gives back ``(a, b)`` and
the residual ``r`` orthogonal to the plane, so a projected latent lifts back to itself exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PLANE_KINDS", "LatentPlane", "make_plane"]

PLANE_KINDS = ("pca", "attributes", "axes", "images")


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

    @classmethod
    def axes(cls, dim: int, i: int = 0, j: int = 1) -> LatentPlane:
        """The plane of latent axes ``i`` and ``j`` through the origin."""
        if dim < 2 or not (0 <= i < dim and 0 <= j < dim) or i == j:
            raise ValueError(f"need two different axes of a latent of size {dim} >= 2")
        eye = np.eye(dim)
        return cls(
            np.zeros(dim), eye[i], eye[j], f"latent axes z{i}, z{j}", (f"z{i}", f"z{j}"), "axes"
        )

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
        _, _, vt = np.linalg.svd(latents - mean, full_matrices=False)
        u, v = vt[0], vt[1] if len(vt) > 1 else _orthogonal_to(vt[0])
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
        u = d1 / np.linalg.norm(d1)
        v = d2 - (d2 @ u) * u
        norm = np.linalg.norm(v)
        if norm < 1e-9 * max(1.0, np.linalg.norm(d2)):
            raise ValueError("the two directions are parallel; they do not span a plane")
        return cls(np.asarray(origin, dtype=np.float64), u, v / norm, name, axis_labels, kind)

    def project(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates ``N, 2`` of latents ``N, D`` and their residuals ``N, D``."""
        d = np.atleast_2d(np.asarray(z, dtype=np.float64)) - self.origin
        ab = np.stack([d @ self.u, d @ self.v], axis=1)
        residual = d - ab[:, :1] * self.u - ab[:, 1:] * self.v
        return ab, residual

    def lift(self, ab: np.ndarray, residual: np.ndarray | None = None) -> np.ndarray:
        """Latents ``N, D`` of plane points ``N, 2`` plus optional residuals."""
        ab = np.atleast_2d(np.asarray(ab, dtype=np.float64))
        z = self.origin + ab[:, :1] * self.u + ab[:, 1:] * self.v
        return z if residual is None else z + residual


def make_plane(
    kind: str,
    x: str = "",
    y: str = "",
    *,
    current: np.ndarray,
    reference: np.ndarray | None = None,
    directions: dict[str, np.ndarray] | None = None,
    images: np.ndarray | None = None,
) -> LatentPlane:
    """The plane of one of the ``PLANE_KINDS``, as the map offers them:

    - "pca": the principal components of the ``reference`` latents;
    - "attributes": through the ``current`` latent along the directions named ``x`` and ``y``,
      so the current image stays where it is and moving the point edits those attributes;
    - "axes": latent coordinates ``int(x)`` and ``int(y)``;
    - "images": through the last three latents of ``images`` (the user's), which then lie on
      it exactly.

    Raises ValueError with a message for the user when the plane cannot be made.
    """
    if kind == "pca":
        if reference is None:
            raise ValueError("this model has no reference set to take components from")
        return LatentPlane.pca(reference)
    if kind == "attributes":
        directions = directions or {}
        if x not in directions or y not in directions:
            raise ValueError("pick two attribute directions of this model")
        if x == y:
            raise ValueError("pick two different attributes")
        return LatentPlane.through(
            current, directions[x], directions[y], f"attributes {x} and {y}", (x, y), "attributes"
        )
    if kind == "axes":
        return LatentPlane.axes(len(current), int(x), int(y))
    if kind == "images":
        if images is None or len(images) < 3:
            raise ValueError("open three of your images first (Ctrl+I)")
        a, b, c = np.asarray(images[-3:], dtype=np.float64)
        return LatentPlane.through(
            a,
            b - a,
            c - a,
            "through your last three images",
            ("image 1 → 2", "towards image 3"),
            "images",
        )
    raise ValueError(f"unknown kind of plane {kind!r}")


def _orthogonal_to(u: np.ndarray) -> np.ndarray:
    v = np.zeros_like(u)
    v[np.argmin(abs(u))] = 1.0
    v -= (v @ u) * u
    return v / np.linalg.norm(v)
