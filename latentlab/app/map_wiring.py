"""The map's wiring: the map view and its controls on one side, the Explorer's plane, point,
reference points and the user's images on the other; for a VAE also the ellipses of q(z|x) of
the image shown and of the user's images, computed on the worker."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from latentlab.app.jobs import Job
from latentlab.app.map_controls import BY_LABEL
from latentlab.explore.explorer import OpenedModel
from latentlab.explore.plane import PLANE_KINDS, LatentPlane, make_plane
from latentlab.explore.user_images import UserImages

if TYPE_CHECKING:
    from latentlab.app.main_window import MainWindow
    from latentlab.app.map_view import MapView
    from latentlab.explore.ops import EncodedImages
    from latentlab.explore.posterior_ellipse import PosteriorEllipses

# Model code (torch) is imported in the methods that submit it: the window shows before torch
# has loaded (latentlab.app.model_code).

__all__ = ["MapWiring"]


class MapWiring(QObject):
    """Signals (GUI thread): ``imagesEncoded(count)`` when the user's image files were encoded
    and placed on the map (``count``: all of the user's images now); ``planeShown(kind)`` when
    the map shows a plane (a new model's, one chosen, or one undo went back to);
    ``ellipsesShown(whose)`` when the map shows new posterior ellipses of the "current" image or
    of the "user"'s images."""

    imagesEncoded = Signal(int)
    planeShown = Signal(str)
    ellipsesShown = Signal(str)
    view: MapView  # attached once the window has built it

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window, self.explorer = window, window.explorer
        self._draw_pending = False
        self._ellipse_jobs: dict[str, Job] = {}  # whose -> the job computing them
        self._stale: set[str] = set()  # whose ellipses changed while their job ran
        self.explorer.model_changed.connect(self._on_model_opened)
        self.controls = window.map_controls
        self.controls.planeChosen.connect(self.choose_plane)
        self.controls.colourChosen.connect(self.colour_by)
        self.explorer.plane_changed.connect(self._on_model_plane_changed)
        self.explorer.user_images_changed.connect(self._on_model_user_images_changed)
        self.explorer.directions_changed.connect(self._on_model_directions_changed)
        window.imageDisplayed.connect(lambda _seq: self.update_ellipses("current"))

    def attach(self, view: MapView) -> None:
        """The map view, once the window has built it (before any model is installed)."""
        self.view = view
        view.handleMoved.connect(self.explorer.move_to)
        view.imagePicked.connect(self.explorer.pick_user_image)
        view.imageDragged.connect(self.explorer.drag_user_image)

    def _on_model_opened(self, opened: OpenedModel) -> None:
        """Offer the new model's planes and colourings, and draw it on its starting plane."""
        for whose in ("current", "user"):
            self.view.set_ellipses(whose, None)
        self.view.clear_selection()  # the points selected were the last model's
        if opened.plane is None:
            return
        ref = opened.loaded.reference
        colourings = [BY_LABEL] + ([] if ref is None else sorted(ref.attributes))
        self.controls.reset(self.explorer.plane_inputs(), opened.plane.kind, colourings)
        self.view.colour_by(None, repaint=False)
        # drawn in a later turn of the event loop than the one that installs the model:
        # together they held the GUI thread for over 100 ms on a busy machine
        self._draw_soon()

    def choose_plane(self, kind: str, x: str = "", y: str = "") -> None:
        """Show the map on another plane (a kind of ``PLANE_KINDS``), keeping the current image;
        the plane is made on the worker (a PCA is an SVD)."""
        if not self.explorer.has_latent:
            return
        inputs = self.explorer.plane_inputs()
        if kind in PLANE_KINDS and not PLANE_KINDS[kind].available(inputs):
            self.window.show_status(f"Cannot show that plane: {PLANE_KINDS[kind].needs}", 8000)
            return
        job = self.window.jobs.call(partial(make_plane, kind, x, y, inputs=inputs))
        job.finished.connect(self._on_plane_made)
        job.failed.connect(
            lambda message: self.window.show_status(f"Cannot show that plane: {message}")
        )

    def _on_plane_made(self, plane: LatentPlane) -> None:
        self.explorer.set_plane(plane)  # the map follows through plane_changed
        self.window.show_status(f"Map: {plane.name}", 5000)

    def _on_model_plane_changed(self, _plane: LatentPlane) -> None:
        """Draw the map at the next turn of the event loop, once however many planes came
        before it: a resumed session changes the plane the moment its model opens, and the
        second map of 1,000 thumbnails drawn in the same turn doubled the GUI thread's stall.
        The posterior ellipses on the new plane are computed on the worker."""
        self._draw_soon()
        for whose in ("current", "user"):
            self.update_ellipses(whose)

    def _draw_soon(self) -> None:
        """Draw the map in a later turn of the event loop (once, however often asked)."""
        if not self._draw_pending:
            self._draw_pending = True
            self.window.turns.add(self._draw_plane)

    def _draw_plane(self) -> None:
        self._draw_pending = False
        loaded, state = self.explorer.loaded, self.explorer.state
        if loaded is None or state is None:  # the model has gone meanwhile
            return
        plane, ref = state.plane, loaded.reference
        if ref is not None:
            labels = None if ref.labels is None else ref.labels.numpy()
            names = loaded.meta["dataset"].get("label_names", [])
            self.view.set_reference(
                self.explorer.reference_points(), labels, ref.images.numpy(), names
            )
        else:
            self.view.set_reference(np.zeros((0, 2)), None, None, [])
        self._show_user_images()
        self.view.set_axes_labels(*plane.axis_labels)
        self.view.set_handle(*state.point)
        if plane.kind:
            self.controls.show_kind(plane.kind, *plane.choices())
        self.planeShown.emit(plane.kind)

    def colour_by(self, name: str) -> None:
        """Colour the reference points by their labels (``BY_LABEL``) or by the values of the
        attribute ``name`` that the reference images were drawn with."""
        loaded = self.explorer.loaded
        ref = loaded.reference if loaded is not None else None
        if ref is None or name not in ref.attributes:
            self.view.colour_by(None)
            self.controls.show_key(None)
        else:
            self.controls.show_key(self.view.colour_by(ref.attributes[name].numpy()))

    def encode_images(self, paths: list[Path]) -> None:
        """Read, convert and encode image files on the worker; place them on the map."""
        loaded = self.explorer.loaded
        if loaded is None or "encode" not in loaded.model.capabilities:
            self.window.show_error("Cannot encode images", "This model cannot encode images.")
            return
        from latentlab.explore import ops

        title = f"Encoding {len(paths)} image(s)…"
        self.window.run_long_job(title, ops.encode_files, paths).finished.connect(self._on_encoded)

    def _on_encoded(self, encoded: EncodedImages) -> None:
        for message in encoded.errors:  # each file that could not be read, skipped
            self.window.notify(f"Skipped {message}")
        for notice in encoded.notices:  # what converting a file changed
            self.window.notify(notice)
        if len(encoded.latents) == 0:
            self.window.show_error("No image could be read", "\n".join(encoded.errors))
            return
        self.explorer.add_user_images(encoded.names, encoded.images, encoded.latents)
        self.window.show_status(f"Encoded {len(encoded.names)} image(s)", 5000)
        assert self.explorer.user_images is not None  # a model that encodes has a latent
        self.imagesEncoded.emit(len(self.explorer.user_images))

    def _show_user_images(self) -> None:
        images = self.explorer.user_images
        assert images is not None  # a model with a plane to show them on has them
        self.view.set_user_images(self.explorer.user_points(), images.images)

    def _on_model_user_images_changed(self, _images: UserImages) -> None:
        self._show_user_images()
        self.update_ellipses("user")
        self.controls.set_available(self.explorer.plane_inputs())

    def _on_model_directions_changed(self, _names: list[str]) -> None:
        self.controls.set_available(self.explorer.plane_inputs())

    # -- the VAE's posterior ellipses ------------------------------------------------------------

    def _ellipse_images(self, whose: str) -> np.ndarray | None:
        """The images (``N,C,H,W``) whose q(z|x) the map shows as ellipses: the image shown
        ("current") or the user's ("user"); None when there are none or the model is no VAE."""
        loaded, state = self.explorer.loaded, self.explorer.state
        if loaded is None or state is None or loaded.model.family != "vae":
            return None
        if self.window.jobs.worker is None:  # closing, or changing models: this one is gone
            return None
        if whose == "user":
            user = self.explorer.user_images
            return None if user is None or len(user) == 0 else user.images
        image = self.window.current_image()
        # an image of the model before may still be shown while this one opens
        if image is None or image.shape != loaded.model.image_shape:
            return None
        return image[None]

    def update_ellipses(self, whose: str) -> None:
        """Compute the ellipses of ``whose`` ("current" or "user") on the worker and show them;
        while a computation runs, the newest request waits for it (latest wins)."""
        if whose in self._ellipse_jobs:
            self._stale.add(whose)
            return
        images, state = self._ellipse_images(whose), self.explorer.state
        if images is None or state is None:
            self.view.set_ellipses(whose, None)
            return
        from latentlab.explore.posterior_ellipse import posterior_ellipses

        job = self.window.jobs.submit(posterior_ellipses, images, state.plane)
        self._ellipse_jobs[whose] = job
        job.finished.connect(partial(self._on_ellipses, whose))
        job.failed.connect(partial(self._on_ellipse_job_ended, whose))
        job.cancelled.connect(partial(self._on_ellipse_job_ended, whose))

    def _on_ellipses(self, whose: str, ellipses: PosteriorEllipses) -> None:
        stale = whose in self._stale
        self._on_ellipse_job_ended(whose)
        if not stale:
            self.view.set_ellipses(whose, ellipses.outlines)
            self.ellipsesShown.emit(whose)

    def _on_ellipse_job_ended(self, whose: str, *_message: str) -> None:
        del self._ellipse_jobs[whose]
        if whose in self._stale:
            self._stale.discard(whose)
            self.update_ellipses(whose)
