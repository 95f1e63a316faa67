"""The lab's fits: a flow in the app's lab process (:mod:`latentlab.app.lab_process`), where
the window's painting cannot slow it; a mixture's EM on a worker thread (an
:class:`~latentlab.explore.lab_em.EMLab`: torch, never on the GUI thread). Either runs live
and hands its views to the window, newest first. While a fit runs, pause, the cursor and the
layer reach it as they change; once it has stopped, each cursor or layer change asks for one
fresh view (latest wins: one request in flight, newer ones coalesced)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from latentlab.app.jobs import Job, JobRunner
from latentlab.app.lab_flow_views import colour_groups
from latentlab.app.lab_process import LabProcess, lab_process
from latentlab.app.worker import Worker
from latentlab.explore.lab_em import EMLab, EMLabView
from latentlab.explore.lab_flow import FlowLabView
from latentlab.explore.lab_messages import (
    Built,
    Controls,
    Discard,
    Ended,
    Failed,
    Fit,
    Reply,
    Stop,
    Viewed,
    ViewWanted,
)
from latentlab.models.flow2d import Flow2DStep

__all__ = ["EM_ITERATIONS", "EM_PACE_S", "FLOW_STEPS", "BuiltFlow", "LabRunner"]

FLOW_STEPS = 3000  # a run's length in Adam steps (Stop ends it sooner)
EM_ITERATIONS = 300
EM_PACE_S = 0.3  # seconds per EM iteration, slow enough to watch the ellipses move
CURSOR_MS = 30  # mouse moves within this long make one view request

LabView = FlowLabView | EMLabView


class BuiltFlow(NamedTuple):
    steps: list[Flow2DStep]  # the flow's leaf layers
    groups: list[np.ndarray]  # the colour groups of the points its views show, in their order


class LabRunner(QObject):
    """One fit at a time: a flow in the lab process, a mixture on the ``lab worker`` thread;
    CSV files and sampling take turns on the ``lab helper`` thread, so that they never wait
    for a fit. The lab process is the app's, started (if it is not running) with the runner.

    Signals (GUI thread): ``built(flow)`` when a new fit is in place (a :class:`BuiltFlow`, or
    None for a mixture); ``viewed(view)`` with the newest view (views that came in while the
    GUI was busy are dropped, not queued); ``progressed(fraction)``; ``runningChanged(running)``;
    ``ended(view)`` when a run finished (its last view) or stopped (None); ``failed(message)``,
    also when the lab process died (the next flow fit starts a new one).
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
        self.mixture: EMLab | None = None
        self.run_job: Job | None = None  # the mixture's build or run
        self.process: LabProcess | None = None  # the lab process, while it has our flow
        self.flow: int | None = None  # the number of our flow's fit there, kept once stopped
        self.flow_running = False
        self.announced_running = False  # what runningChanged last said
        self.last_view: LabView | None = None
        self.view_asked = self.view_wanted = self.stop_wanted = self.step_wanted = False
        self.paused = False
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
        lab_process()  # started now: it takes seconds, which the user spends choosing a fit

    @property
    def running(self) -> bool:
        """Whether a fit is being built or run."""
        return self.run_job is not None or self.flow_running

    def _announce_running(self) -> None:
        """``runningChanged`` if ``running`` is not what it last said."""
        if self.running != self.announced_running:
            self.announced_running = self.running
            self.runningChanged.emit(self.running)

    def call(self, function: Callable[..., Any], *args: Any) -> Job:
        """``function(*args)`` on the helper thread (file I/O, sampling)."""
        return self.helper_jobs.call(function, *args)

    # -- fits ----------------------------------------------------------------------------------

    def discard(self) -> None:
        """Stop and forget the fit (the data or the model changed)."""
        if self.run_job is not None:
            self.run_job.cancel()
        self.run_job = self.mixture = None
        self._send(Discard())
        self._let_go_of_flow()
        self.last_view = self.pending = None
        self.relay.stop()
        self.step_wanted = False
        self._announce_running()

    def fit(
        self, points: np.ndarray, model: str, layers: int, components: int, step: bool = False
    ) -> None:
        """Build a new fit of ``points`` (``model``: a flow kind, or "em") and run it; with
        ``step``, a mixture starts with one EM iteration (pause it first to see just that)."""
        self.discard()
        self.stop_wanted, self.step_wanted = False, step
        if model == "em":
            build = self.jobs.call(EMLab, points.copy(), components)
            build.finished.connect(lambda built: self._on_mixture_built(build, built))
            build.failed.connect(self._on_failed)
            self.run_job = build
        else:
            self._start_flow(np.asarray(points, dtype=np.float32), model, layers)
        self._announce_running()

    # -- a flow, in the lab process ------------------------------------------------------------

    def _start_flow(self, points: np.ndarray, kind: str, layers: int) -> None:
        """A new flow's fit in the lab process (``discard`` has let go of any before)."""
        process = self.process = lab_process()  # a new one if it died
        process.replied.connect(self._on_reply)
        process.fitStarted.connect(self._on_fit_started)
        process.died.connect(self._on_died)
        command = Fit(0, points, kind, layers, FLOW_STEPS, self._controls())  # numbered there
        self.flow = process.start_fit(command)
        self.flow_running = True

    def _controls(self) -> Controls:
        return Controls(self.paused, self.cursor, self.layer)

    def _send(self, command: Controls | Stop | ViewWanted | Discard) -> None:
        """``command`` to our flow, if we have one."""
        if self.process is not None and self.flow is not None:
            self.process.send(self.flow, command)

    def _let_go_of_flow(self) -> None:
        """Forget our flow, and stop listening to the process."""
        self.flow, self.flow_running, self.view_asked = None, False, False
        if self.process is not None:
            self.process.replied.disconnect(self._on_reply)
            self.process.fitStarted.disconnect(self._on_fit_started)
            self.process.died.disconnect(self._on_died)
            self.process = None

    def _on_reply(self, reply: Reply) -> None:
        if reply.fit != self.flow:
            return  # another window's
        match reply:
            case Built():
                self.built.emit(BuiltFlow(reply.steps, colour_groups(reply.shown)))
            case Viewed():
                if reply.fraction is None:  # asked for, once stopped
                    self._on_view_made(reply.view)
                elif self.flow_running:
                    self._on_view(reply.view)
                    self.progressed.emit(reply.fraction)
            case Ended():
                self._end_flow()
                if reply.view is not None:
                    self._on_view(reply.view)
                elif self.last_view is None:  # stopped before its first view
                    self.want_view()
                self.ended.emit(reply.view)
            case Failed():
                self.view_asked = False
                self._end_flow()
                self.failed.emit(reply.message)

    def _end_flow(self) -> None:
        self.flow_running = False
        self._announce_running()

    def _on_fit_started(self, fit: int) -> None:
        """Another window's fit has replaced ours: it stopped, and its model is gone."""
        if self.flow is not None and fit != self.flow:
            running = self.flow_running
            self._let_go_of_flow()
            self._announce_running()
            if running:
                self.ended.emit(None)

    def _on_died(self, message: str) -> None:
        self._let_go_of_flow()
        self._announce_running()
        self.failed.emit(message)

    # -- a mixture, on the worker --------------------------------------------------------------

    def _on_mixture_built(self, build: Job, mixture: EMLab) -> None:
        if build is not self.run_job:
            return  # discarded meanwhile
        self.mixture = mixture
        self.built.emit(None)
        if self.stop_wanted:  # stopped while it was being built
            self._on_mixture_ended(build, None)
            return
        self._run(mixture)

    def _run(self, mixture: EMLab) -> None:
        """Run ``mixture`` live from where it is."""
        mixture.set_paused(self.paused)
        if self.step_wanted:
            mixture.request_step()
        job = self.jobs.call(mixture.run, EM_ITERATIONS, EM_PACE_S)
        self.step_wanted = self.stop_wanted = False
        job.previewed.connect(self._on_view)
        job.progressed.connect(self.progressed)
        job.finished.connect(lambda view: self._on_mixture_ended(job, view))
        job.cancelled.connect(lambda: self._on_mixture_ended(job, None))
        job.failed.connect(self._on_failed)
        self.run_job = job

    def _on_mixture_ended(self, job: Job, view: EMLabView | None) -> None:
        if job is not self.run_job:
            return
        self.run_job = None
        self._announce_running()
        if view is not None:
            self._on_view(view)
        self.ended.emit(view)

    def _on_failed(self, message: str) -> None:
        self.run_job = None
        self._announce_running()
        self.failed.emit(message)

    # -- controls ------------------------------------------------------------------------------

    def set_paused(self, paused: bool) -> None:
        """Pause or resume (a paused run still yields views)."""
        self.paused = paused
        if self.mixture is not None:
            self.mixture.set_paused(paused)
        self._send(self._controls())

    def stop(self) -> None:
        """Stop the fit where it is; the model stays for the views."""
        if self.run_job is not None:
            self.stop_wanted = True
            self.run_job.cancel()
        elif self.flow_running:
            self._send(Stop())

    def step(self) -> bool:
        """One EM iteration of the mixture: now if it runs, first thing if it is being built,
        or going on from where a stopped, unconverged fit is. False if there is none to step
        (then start a fit with ``step=True``)."""
        if self.mixture is not None and self.run_job is not None:
            self.mixture.request_step()
            return True
        view = self.last_view
        stopped = self.mixture is not None and not (isinstance(view, EMLabView) and view.converged)
        if not (self.run_job is not None or stopped):
            return False
        self.step_wanted = True
        if stopped and self.run_job is None:
            assert self.mixture is not None  # stopped
            self._run(self.mixture)
            self._announce_running()
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
        if self.flow is not None:
            self._send(self._controls())
            self.want_view()

    def set_layer(self, index: int) -> None:
        self.layer = index
        if self.flow is not None:
            self._send(self._controls())
            self.want_view()

    def want_view(self) -> None:
        """A fresh view of the stopped flow, soon (a running one sends its own)."""
        if not self.running and not self.view_timer.isActive():
            self.view_timer.start()

    def _request_view(self) -> None:
        if self.flow is None or self.running:
            return
        if self.view_asked:
            self.view_wanted = True
            return
        self.view_asked = True
        self._send(ViewWanted())

    def _on_view_made(self, view: FlowLabView) -> None:
        self.view_asked = False
        if not self.running:
            self._on_view(view)
        if self.view_wanted:
            self.view_wanted = False
            self._request_view()

    def close(self) -> None:
        """Forget the flow (its process stops it at its next frame) and stop both threads,
        without waiting (a mixture's fit stops at its next step)."""
        self.view_timer.stop()
        self.relay.stop()
        self._send(Discard())
        self._let_go_of_flow()
        for worker in self.workers:
            worker.stop()
