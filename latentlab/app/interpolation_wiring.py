"""The interpolation panel's wiring: endpoints taken from the current point, the strip of the
walk between them decoded on the worker, a step chosen on it, and exports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from latentlab.app.jobs import Job
from latentlab.explore.explorer import Endpoint

if TYPE_CHECKING:
    from latentlab.app.main_window import MainWindow

# Model code (torch) is imported in the methods that submit it: the window shows before torch
# has loaded (latentlab.app.model_code).

__all__ = ["InterpolationWiring"]


class InterpolationWiring(QObject):
    """Signals (GUI thread): ``stripDisplayed()`` when the strip shows a new walk."""

    stripDisplayed = Signal()

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window, self.explorer = window, window.explorer
        self.panel = window.interpolation_panel
        self._strip_job: Job | None = None
        self._shown_walk: np.ndarray | None = None  # the latents of the strip on show
        self.panel.endpointRequested.connect(self.set_endpoint)
        self.panel.pathChanged.connect(self.update_strip)
        self.panel.exportRequested.connect(self.export)
        self.panel.stepChosen.connect(self._on_view_step_chosen)
        self.explorer.endpoints_changed.connect(self._on_model_endpoints_changed)
        self.explorer.model_changed.connect(lambda _opened: self._on_model_endpoints_changed({}))

    def set_endpoint(self, which: str) -> None:
        """Take the current latent, and the image shown, as endpoint ``which`` ("A" or "B")."""
        self.explorer.set_endpoint(which, self.window.current_image())

    def _on_model_endpoints_changed(self, endpoints: dict[str, Endpoint]) -> None:
        for which in "AB":
            endpoint = endpoints.get(which)
            self.panel.set_endpoint(which, endpoint.image if endpoint else None)
        missing = [k for k, e in sorted(endpoints.items()) if e.image is None]
        if missing:  # a resumed session's: decode them
            latents = np.stack([endpoints[k].latent for k in missing])
            job = self._decode(latents)
            job.finished.connect(lambda images: self._on_endpoints_decoded(missing, images))
        self.update_strip()

    def _decode(self, latents: np.ndarray) -> Job:
        from latentlab.explore import ops

        return self.window.submit(ops.decode, latents)

    def _on_endpoints_decoded(self, names: list[str], images: np.ndarray) -> None:
        self.explorer.fill_endpoint_images(dict(zip(names, images, strict=True)))
        for which, image in zip(names, images, strict=True):
            self.panel.set_endpoint(which, image)

    def walk(self) -> np.ndarray:
        """The latents of the walk the panel asks for (``steps, D``)."""
        return self.explorer.walk(self.panel.steps.value(), self.panel.spherical.isChecked())

    def update_strip(self) -> None:
        if not self.explorer.can_walk:
            self._shown_walk = None
            self.panel.set_strip(None)
            return
        walk = self.walk()
        job = self._strip_job = self._decode(walk)
        job.finished.connect(lambda images: self._on_strip(job, walk, images))

    def _on_strip(self, job: Job, walk: np.ndarray, images: np.ndarray) -> None:
        if job is self._strip_job:  # else a newer walk is on its way
            self._shown_walk = walk
            self.panel.set_strip(images)
            self.stripDisplayed.emit()

    def _on_view_step_chosen(self, index: int) -> None:
        """The step clicked on the strip on show (a newer walk may not be drawn yet)."""
        if self.explorer.can_walk and self._shown_walk is not None:
            self.explorer.set_latent(self._shown_walk[index])

    def export(self, kind: str) -> None:
        """Ask where, then decode and save the walk as a PNG strip or GIF, with progress."""
        if not self.explorer.can_walk:
            self.window.show_status("Pick endpoints A and B first (Interpolation tab)", 5000)
            return
        suffix = "GIF animations (*.gif)" if kind == "gif" else "PNG images (*.png)"
        if not (chosen := self.window.ask_save("Export interpolation", f"walk.{kind}", suffix)):
            return
        path = Path(chosen)
        if path.suffix.lower() not in (".png", ".gif"):
            path = path.with_suffix(f".{kind}")
        from latentlab.explore.export import export_walk

        job = self.window.run_long_job(f"Exporting {path.name}…", export_walk, self.walk(), path)
        job.finished.connect(self.window.report_written)
