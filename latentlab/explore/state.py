"""The exploration state of one open model: the map's plane, the current point on it, and the
attribute edits applied to it.

Views observe it through its events and edit it only through its methods; it knows no widgets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentlab.explore.attributes import apply_directions
from latentlab.explore.events import Event
from latentlab.explore.plane import LatentPlane

__all__ = ["ExploreState", "Snapshot", "default_plane"]


def default_plane(latent_dim: int, reference_latents: np.ndarray | None) -> LatentPlane:
    """A 2D latent is its own plane; otherwise the PCA plane of the reference latents, or the
    first two latent axes when there are none."""
    if latent_dim == 2 or reference_latents is None or len(reference_latents) < 2:
        return LatentPlane.axes(latent_dim)
    return LatentPlane.pca(reference_latents)


@dataclass(frozen=True)
class Snapshot:
    """Where an :class:`ExploreState` was: its plane, point, residual and attribute amounts."""

    plane: LatentPlane
    point: tuple[float, float]
    residual: np.ndarray
    amounts: tuple[tuple[str, float], ...]

    def same_as(self, other: Snapshot) -> bool:
        return (
            self.plane is other.plane
            and self.point == other.point
            and self.amounts == other.amounts
            and np.array_equal(self.residual, other.residual)
        )


class ExploreState:
    """The current point ``(a, b)`` on a plane, its residual off the plane, and attribute edits.

    The point and residual give the *base* latent; the current latent is the base moved by
    ``amounts[name]`` along each attribute direction, in the dimensions ``edit_mask`` allows.

    Events (emitted synchronously on the caller's thread):
      ``point_changed(z)``: the current latent changed; ``z`` is its flat latent (``D``).
      ``plane_changed(plane)``: the map's plane changed (the current latent is kept).
      ``amounts_changed(amounts)``: attribute amounts changed (e.g. reset by a new base).
    """

    def __init__(self, plane: LatentPlane, directions: dict[str, np.ndarray] | None = None) -> None:
        self.plane = plane
        self.point = np.zeros(2)
        self.residual = np.zeros(plane.dim)
        self.directions = dict(directions or {})
        self.amounts = dict.fromkeys(self.directions, 0.0)
        self.edit_mask: np.ndarray | None = None
        self.point_changed = Event()
        self.plane_changed = Event()
        self.amounts_changed = Event()

    @property
    def base_latent(self) -> np.ndarray:
        return self.plane.lift(self.point, self.residual[None])[0]

    @property
    def latent(self) -> np.ndarray:
        return apply_directions(self.base_latent, self.directions, self.amounts, self.edit_mask)

    def move_to(self, a: float, b: float) -> None:
        """Move the current point on the plane, keeping its residual and attribute edits."""
        self.point = np.array([a, b], dtype=np.float64)
        self.point_changed.emit(self.latent)

    def set_latent(self, z: np.ndarray) -> None:
        """Make ``z`` the current latent, with no attribute edits: the point projects onto the
        plane and keeps the residual, so it decodes to exactly ``z``."""
        ab, residual = self.plane.project(z)
        self.point, self.residual = ab[0], residual[0]
        if any(self.amounts.values()):
            self.amounts = dict.fromkeys(self.amounts, 0.0)
            self.amounts_changed.emit(dict(self.amounts))
        self.point_changed.emit(self.latent)

    def set_plane(self, plane: LatentPlane) -> None:
        ab, residual = plane.project(self.base_latent)
        self.plane = plane
        self.point, self.residual = ab[0], residual[0]
        self.plane_changed.emit(plane)

    def set_amount(self, name: str, amount: float) -> None:
        """Move the current latent ``amount`` along the direction ``name``."""
        if name not in self.directions:
            raise KeyError(f"no attribute direction named {name!r}")
        self.amounts[name] = float(amount)
        self.point_changed.emit(self.latent)

    def add_direction(self, name: str, direction: np.ndarray) -> None:
        self.directions[name] = np.asarray(direction, dtype=np.float64)
        self.amounts[name] = 0.0
        self.amounts_changed.emit(dict(self.amounts))

    def snapshot(self) -> Snapshot:
        return Snapshot(
            self.plane,
            (float(self.point[0]), float(self.point[1])),
            self.residual.copy(),
            tuple(sorted(self.amounts.items())),
        )

    def restore(self, snapshot: Snapshot) -> None:
        """Go back to ``snapshot`` (directions added since keep amount 0)."""
        if snapshot.plane is not self.plane:
            self.plane = snapshot.plane
            self.plane_changed.emit(self.plane)
        self.point, self.residual = np.array(snapshot.point), snapshot.residual.copy()
        amounts = dict.fromkeys(self.amounts, 0.0) | {
            name: amount for name, amount in snapshot.amounts if name in self.amounts
        }
        if amounts != self.amounts:
            self.amounts = amounts
            self.amounts_changed.emit(dict(amounts))
        self.point_changed.emit(self.latent)

    def set_edit_mask(self, mask: np.ndarray | None) -> None:
        """Limit attribute edits to the latent dimensions where ``mask`` is true (None: all)."""
        self.edit_mask = None if mask is None else np.asarray(mask, dtype=bool)
        self.point_changed.emit(self.latent)
