"""The Explorer: what the user is doing with the open model, with no widgets.

It owns the loaded model, the exploration state and its undo history, the latest samples, the
user's images (as latents), the reference latents, the interpolation endpoints, the groups of
reference points for a new direction, and the attribute directions. Views call its methods and
observe its events; a session is made from it and restores into it. Model computation happens
elsewhere (the app's model worker runs :mod:`latentlab.explore.ops`); the Explorer only takes
the results.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from latentlab.explore.attributes import group_direction, spreads_along
from latentlab.explore.events import Event
from latentlab.explore.history import History
from latentlab.explore.interpolate import interpolation_path
from latentlab.explore.plane import LatentPlane, PlaneInputs
from latentlab.explore.session import Session, SessionError
from latentlab.explore.state import ExploreState, Snapshot, default_plane
from latentlab.explore.user_images import UserImages

if TYPE_CHECKING:  # the app's window imports this module before torch has loaded
    from latentlab.modelfile import LoadedModel

__all__ = ["Endpoint", "Explorer", "ExplorerSnapshot", "OpenedModel", "Samples", "prepare"]


@dataclass(frozen=True)
class OpenedModel:
    """A model made ready to explore: its reference latents as float64 (``N, D``), the plane
    the map starts on (None for a model without a latent) and the residual off that plane the
    point starts with (None: none)."""

    loaded: LoadedModel
    reference_latents: np.ndarray | None
    plane: LatentPlane | None
    start_residual: np.ndarray | None = None


def prepare(loaded: LoadedModel) -> OpenedModel:
    """Convert the reference latents and make the starting plane (a PCA: an SVD that can take a
    second, so the app runs this on its loader thread, not the GUI thread)."""
    dim = loaded.model.latent_dim
    ref = loaded.reference
    latents = None if ref is None or dim is None else ref.latents.double().numpy()
    plane = None if dim is None else default_plane(dim, latents)
    return OpenedModel(loaded, latents, plane, typical_residual(plane, latents))


def typical_residual(plane: LatentPlane | None, latents: np.ndarray | None) -> np.ndarray | None:
    """The residual off ``plane`` of the reference latent nearest its origin. A plane through
    the reference latents' mean holds no typical latent in many dimensions: the mean of a
    GAN's 100 Gaussian coordinates, at length 0.6 where samples have length 10, decoded to a
    black image. With this residual the map's centre is a latent like those the model saw."""
    if plane is None or latents is None or len(latents) == 0:
        return None
    nearest = latents[np.argmin((plane.coordinates(latents) ** 2).sum(axis=1))]
    return plane.project(nearest)[1][0]


@dataclass(frozen=True)
class Samples:
    """Samples from the prior: their flat ``latents`` (None for a model without one) and
    ``images`` (``N,C,H,W`` in [0, 1])."""

    latents: np.ndarray | None
    images: np.ndarray


@dataclass(frozen=True)
class Endpoint:
    """One end of the interpolation: a flat latent and, once known, its image (``C,H,W``)."""

    latent: np.ndarray
    image: np.ndarray | None = None


@dataclass(frozen=True)
class ExplorerSnapshot:
    """What undo goes back to: the state's snapshot and the endpoints."""

    state: Snapshot
    endpoints: tuple[tuple[str, Endpoint], ...]

    def same_as(self, other: ExplorerSnapshot) -> bool:
        return (
            self.state.same_as(other.state)
            and [k for k, _ in self.endpoints] == [k for k, _ in other.endpoints]
            and all(
                np.array_equal(a.latent, b.latent)
                for (_, a), (_, b) in zip(self.endpoints, other.endpoints, strict=True)
            )
        )


class Explorer:
    """The app's state model (see the module docstring).

    Events (emitted synchronously on the caller's thread, the GUI thread in the app):
      ``model_changed(opened)``: another model is open (everything else starts afresh);
      ``point_changed(z)``, ``plane_changed(plane)``, ``amounts_changed(amounts)``: the
      exploration state's events (see :class:`ExploreState`);
      ``samples_changed(samples)``; ``user_images_changed(images)``;
      ``endpoints_changed(endpoints)``; ``directions_changed(names)``;
      ``groups_changed(sizes)``: the sizes of groups "A" and "B".
    """

    def __init__(self) -> None:
        self.loaded: LoadedModel | None = None
        self.state: ExploreState | None = None
        self.history: History | None = None
        self.reference_latents: np.ndarray | None = None
        self.samples: Samples | None = None
        self.user_images: UserImages | None = None
        self.endpoints: dict[str, Endpoint] = {}
        self.groups: dict[str, np.ndarray] = {}
        self._saved_directions: set[str] = set()  # the directions a file holds
        self.model_changed = Event()
        self.point_changed = Event()
        self.plane_changed = Event()
        self.amounts_changed = Event()
        self.samples_changed = Event()
        self.user_images_changed = Event()
        self.endpoints_changed = Event()
        self.directions_changed = Event()
        self.groups_changed = Event()

    # -- the model -------------------------------------------------------------------------------

    @property
    def has_latent(self) -> bool:
        return self.state is not None

    @property
    def directions(self) -> dict[str, np.ndarray]:
        return {} if self.state is None else self.state.directions

    def direction_spreads(self) -> dict[str, float]:
        """For each direction, the amount that is one standard deviation of the reference
        latents along it (the attribute sliders' unit)."""
        spreads = spreads_along(self.reference_latents, list(self.directions.values()))
        return dict(zip(self.directions, spreads, strict=True))

    def open(self, opened: OpenedModel) -> None:
        """Make ``opened`` the model explored, starting afresh; the point starts at the plane's
        origin (with ``opened.start_residual``) until :meth:`start_at`."""
        loaded = self.loaded = opened.loaded
        self.reference_latents = opened.reference_latents
        self.samples = None
        self.endpoints, self.groups = {}, {}
        self.state = self.history = self.user_images = None
        self._saved_directions = set(loaded.attributes)
        if opened.plane is not None:
            directions = {k: v.double().numpy() for k, v in loaded.attributes.items()}
            self.state = ExploreState(opened.plane, directions)
            if opened.start_residual is not None:
                self.state.residual = opened.start_residual.copy()
            self.state.point_changed.connect(self.point_changed.emit)
            self.state.plane_changed.connect(self.plane_changed.emit)
            self.state.amounts_changed.connect(self.amounts_changed.emit)
            dim = opened.plane.dim
            self.user_images = UserImages.none(loaded.model.image_shape, dim)
        self.model_changed.emit(opened)

    def start_at(self, a: float, b: float) -> None:
        """Put the point at ``(a, b)``, where undo history begins."""
        if self.state is not None:
            self.state.move_to(a, b)
            self.history = History(self)

    # -- undo ------------------------------------------------------------------------------------

    def snapshot(self) -> ExplorerSnapshot:
        assert self.state is not None
        return ExplorerSnapshot(self.state.snapshot(), tuple(sorted(self.endpoints.items())))

    def restore(self, snapshot: ExplorerSnapshot) -> None:
        assert self.state is not None
        now = self.snapshot()
        if not snapshot.state.same_as(now.state):
            self.state.restore(snapshot.state)
        if not snapshot.same_as(ExplorerSnapshot(snapshot.state, now.endpoints)):
            self.endpoints = dict(snapshot.endpoints)
            self.endpoints_changed.emit(dict(self.endpoints))

    def checkpoint(self) -> None:
        """End an action: undo comes back to where the state is now."""
        if self.history is not None:
            self.history.checkpoint()

    def undo(self) -> bool:
        return self.history is not None and self.history.undo()

    def redo(self) -> bool:
        return self.history is not None and self.history.redo()

    # -- the current point -----------------------------------------------------------------------

    def move_to(self, a: float, b: float) -> None:
        if self.state is not None:
            self.state.move_to(a, b)

    def set_latent(self, z: np.ndarray) -> None:
        """Make flat latent ``z`` the current point: a jump, an action of its own for undo."""
        if self.state is not None:
            self.checkpoint()
            self.state.set_latent(z)

    def set_plane(self, plane: LatentPlane) -> None:
        """Show the map on ``plane``, keeping the current latent."""
        if self.state is not None:
            self.checkpoint()
            self.state.set_plane(plane)
            self.checkpoint()

    def plane_inputs(self) -> PlaneInputs:
        """What a new plane is made from, copied so that it can be made on another thread."""
        assert self.state is not None and self.user_images is not None
        return PlaneInputs(
            self.state.base_latent.copy(),
            self.reference_latents,
            dict(self.state.directions),
            self.user_images.latents.copy(),
        )

    def reference_points(self) -> np.ndarray:
        """The reference latents projected on the map's plane (``N, 2``)."""
        if self.state is None or self.reference_latents is None:
            return np.zeros((0, 2))
        return self.state.plane.coordinates(self.reference_latents)

    # -- samples ---------------------------------------------------------------------------------

    def set_samples(self, samples: Samples) -> None:
        self.samples = samples
        self.samples_changed.emit(samples)

    def choose_sample(self, index: int) -> None:
        """Make sample ``index`` the current point (models with a latent)."""
        if self.samples is not None and self.samples.latents is not None:
            self.set_latent(self.samples.latents[index])

    # -- attribute edits -------------------------------------------------------------------------

    def set_amount(self, name: str, amount: float) -> None:
        if self.state is not None:
            self.state.set_amount(name, amount)

    def set_edit_groups(self, flags: list[bool]) -> None:
        """Let attribute edits change only the latent groups (a multi-scale flow's scales)
        whose flag is set."""
        assert self.state is not None and self.loaded is not None
        sizes = [size for _, size in self.loaded.model.latent_groups()]
        self.state.set_edit_mask(np.repeat(np.array(flags, dtype=bool), sizes))

    def take_group(self, which: str, indices: list[int]) -> None:
        """Take the reference points ``indices`` as group ``which`` ("A" or "B"); ValueError
        if some are not this model's (points selected on a map drawn for another model)."""
        count = 0 if self.reference_latents is None else len(self.reference_latents)
        if any(not 0 <= i < count for i in indices):
            raise ValueError(f"the selection is not among this model's {count} reference points")
        self.groups[which] = np.array(sorted(indices), dtype=int)
        self.groups_changed.emit({k: len(v) for k, v in self.groups.items()})

    def add_direction(self, name: str) -> None:
        """Add the direction from group A's mean latent to group B's as attribute ``name``;
        ValueError says what is missing."""
        if not name:
            raise ValueError("give the direction a name")
        if self.state is None or self.reference_latents is None:
            raise ValueError("this model has no reference points to take groups from")
        empty = np.zeros(0, dtype=int)
        a, b = (self.reference_latents[self.groups.get(w, empty)] for w in "AB")
        self.state.add_direction(name, group_direction(a, b))
        self.directions_changed.emit(sorted(self.state.directions))

    def unsaved_work(self) -> list[str]:
        """What the user made in the app that no file holds yet, in words."""
        if self.loaded is None:
            return []
        work = []
        if self.loaded.path is None:
            work.append(f"the {self.loaded.meta['family']} model made in the app")
        added = sorted(set(self.directions) - self._saved_directions)
        if added:
            work.append(f"the direction(s) {', '.join(added)} added in the app")
        return work

    def saved_as(self, path: Path, directions: list[str]) -> None:
        """The open model and ``directions`` are now held by the file ``path``."""
        assert self.loaded is not None
        self._saved_directions |= set(directions)
        if self.loaded.path is None:  # a model made in the app now has a file
            self.loaded.path = Path(path)

    # -- the user's images -----------------------------------------------------------------------

    def add_user_images(self, names: list[str], images: np.ndarray, latents: np.ndarray) -> None:
        """Put more of the user's images on the map; the last becomes the current point."""
        assert self.user_images is not None
        self.user_images = self.user_images.plus(names, images, latents)
        self.user_images_changed.emit(self.user_images)
        self.set_latent(self.user_images.latents[-1])

    def user_points(self) -> np.ndarray:
        """Where the user's images lie on the map's plane (``N, 2``)."""
        if self.state is None or self.user_images is None:
            return np.zeros((0, 2))
        return self.state.plane.project(self.user_images.latents)[0]

    def _has_user_image(self, index: int) -> bool:
        """Whether image ``index`` exists (a marker's signal can arrive after another model
        opened and took the images away)."""
        return self.user_images is not None and 0 <= index < len(self.user_images)

    def pick_user_image(self, index: int) -> None:
        if self._has_user_image(index):
            assert self.user_images is not None
            self.set_latent(self.user_images.latents[index])

    def drag_user_image(self, index: int, a: float, b: float) -> None:
        """Move the user's image ``index`` to ``(a, b)`` on the map, keeping its residual off
        the plane, and the current point with it."""
        if not self._has_user_image(index):
            return
        assert self.state is not None and self.user_images is not None
        plane = self.state.plane
        _, residual = plane.project(self.user_images.latents[index])
        self.user_images = self.user_images.moved(index, plane.lift([a, b], residual)[0])
        self.state.move_to(a, b)

    # -- interpolation ---------------------------------------------------------------------------

    def set_endpoint(self, which: str, image: np.ndarray | None) -> None:
        """Take the current latent (whose image is ``image``) as endpoint ``which``."""
        if self.state is not None:
            self.checkpoint()
            self.endpoints[which] = Endpoint(self.state.latent.copy(), image)
            self.endpoints_changed.emit(dict(self.endpoints))
            self.checkpoint()

    def fill_endpoint_images(self, images: dict[str, np.ndarray]) -> None:
        """The images of endpoints that had none (decoded after a session was resumed)."""
        for which, image in images.items():
            if which in self.endpoints:
                self.endpoints[which] = Endpoint(self.endpoints[which].latent, image)

    def walk(self, steps: int, spherical: bool) -> np.ndarray:
        """The latents ``steps, D`` of the walk from endpoint A to B."""
        a, b = self.endpoints["A"].latent, self.endpoints["B"].latent
        return interpolation_path(a, b, steps, spherical=spherical)

    @property
    def can_walk(self) -> bool:
        return {"A", "B"} <= self.endpoints.keys()

    # -- sessions --------------------------------------------------------------------------------

    def session(self) -> Session:
        """Where the user is, to be saved; ValueError when there is nothing to save."""
        if self.state is None or self.loaded is None or self.loaded.path is None:
            raise ValueError("open a model with a latent space from a file first")
        endpoints = {k: e.latent for k, e in self.endpoints.items()}
        images = self.user_images if self.user_images else None
        return Session(Path(self.loaded.path).resolve(), self.state.snapshot(), endpoints, images)

    def resume(self, session: Session) -> None:
        """Go where ``session`` was in the open model; SessionError (nothing changed) when it
        does not fit it."""
        if self.state is None or self.loaded is None:
            raise SessionError("this model has no latent space")
        model = self.loaded.model
        assert model.latent_dim is not None  # a model with an exploration state has a latent
        session.check_fits(model.latent_dim, list(self.state.directions), model.image_shape)
        self.state.restore(session.snapshot)
        self.endpoints = {k: Endpoint(z) for k, z in session.endpoints.items()}
        self.endpoints_changed.emit(dict(self.endpoints))
        if session.images is not None:
            self.user_images = session.images
            self.user_images_changed.emit(self.user_images)
        self.history = History(self)
