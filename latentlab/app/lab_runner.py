"""The lab's fits on worker threads: build a :class:`~latentlab.explore.lab_flow.FlowLab` or
an :class:`~latentlab.explore.lab_em.EMLab` (torch: never on the GUI thread), run it live, and
hand its views to the window, newest first. While a fit runs, pause, the cursor and the layer
reach it through its thread-safe setters; once it has stopped, each cursor or layer change asks
for one fresh view (latest wins: one request in flight, newer ones coalesced)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from latentlab.app.jobs import Job, JobRunner
from latentlab.app.lab_flow_views import colour_groups
from latentlab.app.worker import Worker
from latentlab.explore.lab_em import EMLab, EMLabView
from latentlab.explore.lab_flow import FlowLab, FlowLabView
from latentlab.models.flow2d import Flow2DStep

__all__ = ["EM_ITERATIONS", "EM_PACE_S", "FLOW_STEPS", "BuiltFlow", "LabRunner"]

FLOW_STEPS = 3000  # a run's length in Adam steps (Stop ends it sooner)
EM_ITERATIONS = 300
EM_PACE_S = 0.3  # seconds per EM iteration, slow enough to watch the ellipses move
CURSOR_MS = 30  # mouse moves within this long make one view request

LabView = FlowLabView | EMLabView


class BuiltFlow(NamedTuple):
    lab: FlowLab
    steps: list[Flow2DStep]  # its leaf layers
    groups: list[np.ndarray]  # the colour groups of the points its views show, in their order


def _build_flow(points: np.ndarray, kind: str, layers: int) -> BuiltFlow:
    """A fit of a new flow (worker thread: builds a torch module)."""
    lab = FlowLab(points, kind, layers)
    return BuiltFlow(lab, list(lab.flow.steps), colour_groups(lab.shown_points))


class LabRunner(QObject):
    """One fit at a time on the ``lab worker`` thread; CSV files and sampling take turns on the
    ``lab helper`` thread, so that they never wait for a fit.

    Signals (GUI thread): ``built(flow)`` when a new fit is in place (a :class:`BuiltFlow`, or
    None for a mixture); ``viewed(view)`` with the newest view (views that came in while the
    GUI was busy are dropped, not queued); ``progressed(fraction)``; ``runningChanged(running)``;
    ``ended(view)`` when a run finished (its last view) or stopped (None); ``failed(message)``.
    """

    built = Signal(object)
    viewed = Signal(object)
    progressed = Signal(float)
    runningChanged = Signal(bool)
    ended = Signal(object)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workers = (Worker("lab worker"), Worker("lab helper"))
        self.jobs, self.helper_jobs = JobRunner(self), JobRunner(self)
        # JobRunner.call needs only a Worker's submit (attach is typed for the model worker)
        for runner, worker in zip((self.jobs, self.helper_jobs), self.workers, strict=True):
            runner.attach(worker)  # type: ignore[arg-type]
        self.lab: FlowLab | EMLab | None = None
        self.last_view: LabView | None = None
        self.run_job: Job | None = None
        self.view_job: Job | None = None
        self.view_wanted = self.stop_wanted = self.step_wanted = self.paused = False
        self.cursor: tuple[float, float] | None = None
        self.layer = 0
        self.pending: LabView | None = None
        self.relay = QTimer(self)  # hands on only the newest of the views that came in
        self.relay.setSingleShot(True)
        self.relay.setInterval(0)
        self.relay.timeout.connect(self._relay)
        self.view_timer = QTimer(self)
        self.view_timer.setSingleShot(True)
        self.view_timer.setInterval(CURSOR_MS)
        self.view_timer.timeout.connect(self._request_view)

    @property
    def running(self) -> bool:
        """Whether a fit is being built or run."""
        return self.run_job is not None

    def call(self, function: Callable[..., Any], *args: Any) -> Job:
        """``function(*args)`` on the helper thread (file I/O, sampling)."""
        return self.helper_jobs.call(function, *args)

    # -- fits ----------------------------------------------------------------------------------

    def discard(self) -> None:
        """Stop and forget the fit (the data or the model changed)."""
        if self.run_job is not None:
            self.run_job.cancel()
        self._set_job(None)
        self.lab = self.last_view = self.pending = None
        self.relay.stop()
        self.step_wanted = False

    def fit(
        self, points: np.ndarray, model: str, layers: int, components: int, step: bool = False
    ) -> None:
        """Build a new fit of ``points`` (``model``: a flow kind, or "em") and run it; with
        ``step``, a mixture starts with one EM iteration (pause it first to see just that)."""
        self.discard()
        self.stop_wanted, self.step_wanted = False, step
        if model == "em":
            build = self.jobs.call(EMLab, points.copy(), components)
        else:
            build = self.jobs.call(_build_flow, points.copy(), model, layers)
        build.finished.connect(lambda built: self._on_built(build, built))
        build.failed.connect(self._on_failed)
        self._set_job(build)

    def _on_built(self, build: Job, built: EMLab | BuiltFlow) -> None:
        if build is not self.run_job:
            return  # discarded meanwhile
        if isinstance(built, BuiltFlow):
            self.lab = built.lab
            built.lab.set_layer(self.layer)
            built.lab.set_cursor(self.cursor)
            self.built.emit(built)
        else:
            self.lab = built
            self.built.emit(None)
        if self.stop_wanted:  # stopped while it was being built: keep it for the views
            self._on_ended(build, None)
            self.want_view()
            return
        self._run(self.lab)

    def _run(self, lab: FlowLab | EMLab) -> None:
        """Run ``lab`` live from where it is."""
        lab.set_paused(self.paused)
        if isinstance(lab, EMLab):
            if self.step_wanted:
                lab.request_step()
            job = self.jobs.call(lab.run, EM_ITERATIONS, EM_PACE_S)
        else:
            job = self.jobs.call(lab.run, FLOW_STEPS)
        self.step_wanted = self.stop_wanted = False
        job.previewed.connect(self._on_view)
        job.progressed.connect(self.progressed)
        job.finished.connect(lambda view: self._on_ended(job, view))
        job.cancelled.connect(lambda: self._on_ended(job, None))
        job.failed.connect(self._on_failed)
        self._set_job(job)

    def _set_job(self, job: Job | None) -> None:
        was = self.running
        self.run_job = job
        if self.running != was:
            self.runningChanged.emit(self.running)

    def _on_ended(self, job: Job, view: LabView | None) -> None:
        if job is not self.run_job:
            return
        self._set_job(None)
        if view is not None:
            self._on_view(view)
        self.ended.emit(view)

    def _on_failed(self, message: str) -> None:
        self._set_job(None)
        self.failed.emit(message)

    def set_paused(self, paused: bool) -> None:
        """Pause or resume (a paused run still yields views)."""
        self.paused = paused
        if self.lab is not None:
            self.lab.set_paused(paused)

    def stop(self) -> None:
        """Stop the fit where it is; the model stays for the views."""
        if self.run_job is not None:
            self.stop_wanted = True
            self.run_job.cancel()

    def step(self) -> bool:
        """One EM iteration of the mixture: now if it runs, first thing if it is being built,
        or going on from where a stopped, unconverged fit is. False if there is none to step
        (then start a fit with ``step=True``)."""
        if isinstance(self.lab, EMLab) and self.running:
            self.lab.request_step()
            return True
        view = self.last_view
        stopped = isinstance(self.lab, EMLab) and not (
            isinstance(view, EMLabView) and view.converged
        )
        if not (self.running or stopped):
            return False
        self.step_wanted = True
        if stopped and not self.running:
            assert self.lab is not None  # an EMLab: stopped
            self._run(self.lab)
        return True

    # -- views ---------------------------------------------------------------------------------

    def _on_view(self, view: LabView) -> None:
        self.pending = view
        if not self.relay.isActive():
            self.relay.start()

    def _relay(self) -> None:
        view, self.pending = self.pending, None
        if view is not None and view is not self.last_view:  # a waiting run yields it again
            self.last_view = view
            self.viewed.emit(view)

    def set_cursor(self, point: tuple[float, float] | None) -> None:
        self.cursor = point
        if isinstance(self.lab, FlowLab):
            self.lab.set_cursor(point)
            self.want_view()

    def set_layer(self, index: int) -> None:
        self.layer = index
        if isinstance(self.lab, FlowLab):
            self.lab.set_layer(index)
            self.want_view()

    def want_view(self) -> None:
        """A fresh view of the stopped flow, soon (a running one sends its own)."""
        if not self.running and not self.view_timer.isActive():
            self.view_timer.start()

    def _request_view(self) -> None:
        if not isinstance(self.lab, FlowLab) or self.running:
            return
        if self.view_job is not None:
            self.view_wanted = True
            return
        lab = self.lab
        job = self.jobs.call(lab.view)
        self.view_job = job
        job.finished.connect(lambda view: self._on_view_made(lab, view))
        job.failed.connect(lambda _message: self._on_view_made(lab, None))

    def _on_view_made(self, lab: FlowLab, view: FlowLabView | None) -> None:
        self.view_job = None
        if view is not None and lab is self.lab and not self.running:
            self._on_view(view)
        if self.view_wanted:
            self.view_wanted = False
            self._request_view()

    def close(self) -> None:
        """Stop both threads without waiting (a fit stops at its next step)."""
        self.view_timer.stop()
        self.relay.stop()
        for worker in self.workers:
            worker.stop()
