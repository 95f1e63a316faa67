"""The exploration state of one open model: the map's plane and the current point.

Views observe it through its events and edit it only through its methods; it knows no widgets.
"""

from __future__ import annotations

import numpy as np

from latentlab.explore.events import Event
from latentlab.explore.plane import LatentPlane

__all__ = ["ExploreState", "default_plane"]


def default_plane(latent_dim: int, reference_latents: np.ndarray | None) -> LatentPlane:
    """A 2D latent is its own plane; otherwise the PCA plane of the reference latents, or the
    first two latent axes when there are none."""
    if latent_dim == 2 or reference_latents is None or len(reference_latents) < 2:
        return LatentPlane.axes(latent_dim)
    return LatentPlane.pca(reference_latents)


class ExploreState:
    """Plane, current point ``(a, b)`` on it and the current point's residual off it.

    Events (emitted synchronously on the caller's thread):
      ``point_changed(z)``: the current latent changed; ``z`` is its flat latent (``D``).
      ``plane_changed(plane)``: the map's plane changed (the current latent is kept).
    """

    def __init__(self, plane: LatentPlane) -> None:
        self.plane = plane
        self.point = np.zeros(2)
        self.residual = np.zeros(plane.dim)
        self.point_changed = Event()
        self.plane_changed = Event()

    @property
    def latent(self) -> np.ndarray:
        return self.plane.lift(self.point, self.residual[None])[0]

    def move_to(self, a: float, b: float) -> None:
        """Move the current point on the plane, keeping its residual."""
        self.point = np.array([a, b], dtype=np.float64)
        self.point_changed.emit(self.latent)

    def set_latent(self, z: np.ndarray) -> None:
        """Make ``z`` the current latent; the point projects onto the plane and keeps the
        residual, so it decodes to exactly ``z``."""
        ab, residual = self.plane.project(z)
        self.point, self.residual = ab[0], residual[0]
        self.point_changed.emit(self.latent)

    def set_plane(self, plane: LatentPlane) -> None:
        z = self.latent
        self.plane = plane
        ab, residual = plane.project(z)
        self.point, self.residual = ab[0], residual[0]
        self.plane_changed.emit(plane)
