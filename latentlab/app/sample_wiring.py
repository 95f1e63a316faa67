"""The sampling grid's wiring: samples drawn on the worker at the panel's temperature and seed,
and a sample clicked becoming the current point (or the image shown, without a latent)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from latentlab.app.jobs import Job
from latentlab.app.sample_panel import SAMPLES
from latentlab.explore.explorer import OpenedModel, Samples

if TYPE_CHECKING:
    from latentlab.app.main_window import MainWindow

# Model code (torch) is imported in the methods that submit it: the window shows before torch
# has loaded (latentlab.app.model_code).

__all__ = ["SampleWiring"]


class SampleWiring(QObject):
    """Signals (GUI thread): ``samplesDisplayed()`` each time the grid is filled."""

    samplesDisplayed = Signal()

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window, self.explorer = window, window.explorer
        self.panel = window.sample_panel
        self._job: Job | None = None
        self.panel.set_enabled(False)
        self.panel.sampleRequested.connect(self.request)
        self.panel.sampleChosen.connect(self._on_view_sample_chosen)
        self.explorer.model_changed.connect(self._on_model_opened)
        self.explorer.samples_changed.connect(self._on_model_samples_changed)

    def _on_model_opened(self, opened: OpenedModel) -> None:
        model = opened.loaded.model
        self.panel.set_enabled("sample" in model.capabilities)
        self.panel.set_temperature(model.default_temperature)
        # in a later turn: the decode of the current point, asked for once the model is
        # installed, goes first to the model's worker (a Glow's samples took 0.1 s before it)
        self.window.turns.add(
            lambda: self.request(self.panel.temperature_value, self.panel.seed.value()),
            key="samples",
        )

    def request(self, temperature: float, seed: int) -> None:
        loaded = self.explorer.loaded
        if loaded is None or "sample" not in loaded.model.capabilities:
            return
        from latentlab.explore import ops

        if self._job is not None:  # its samples would be replaced: stop drawing them
            self._job.drop()
        job = self._job = self.window.submit(ops.sample_steps, SAMPLES, temperature, seed)
        job.finished.connect(lambda result: self._on_sampled(job, result))
        job.progressed.connect(lambda fraction: self._on_progressed(job, fraction))
        for ended in (job.finished, job.failed, job.cancelled):
            ended.connect(lambda *_: self._on_progressed(job, None))

    def _on_progressed(self, job: Job, fraction: float | None) -> None:
        if job is self._job:  # else a newer request is on its way and shows its own
            self.panel.show_progress(fraction if fraction is None or fraction < 1 else None)

    def _on_sampled(self, job: Job, result: tuple[np.ndarray | None, np.ndarray]) -> None:
        if job is self._job:  # else a newer request is on its way
            self.explorer.set_samples(Samples(*result))

    def _on_model_samples_changed(self, samples: Samples) -> None:
        self.panel.set_samples(samples.images, clickable=True)
        if not self.explorer.has_latent and self.window.current_image() is None:
            self.window.show_image(samples.images[0])
        self.samplesDisplayed.emit()

    def _on_view_sample_chosen(self, index: int) -> None:
        if self.explorer.has_latent:
            self.explorer.choose_sample(index)
        elif self.explorer.samples is not None:
            self.window.show_image(self.explorer.samples.images[index])
