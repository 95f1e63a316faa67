"""Workers that run model code and file loading off the GUI thread.

Each :class:`Worker` owns a ``QThread``. Requests go in from the GUI thread by queued signal,
each with a sequence number; results come back by signal, emitted on the worker thread and
delivered queued to the GUI thread. A :class:`ModelWorker` also owns one open model and offers
latest-wins decoding: while a decode runs, newer requests replace older ones, so the image
follows the mouse without a queue building up. It owns the device its model runs on too: the
model is read on the CPU and moved there on the worker's own thread, before its first job.

Stopping a worker never blocks the GUI thread: its long job is cancelled at the next step, the
thread ends on its own, and the worker (with its model) is released once it has. At exit,
:func:`stop_all_workers` waits for any thread still ending, since Qt aborts the process when a
running thread is destroyed.

Model code (torch) is imported where a model's work begins, never at this module's import: the
window imports this module and shows before torch has loaded (benchmarks/startup.py).
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from latentlab.app.model_code import freeze_late_imports, load_model_code
from latentlab.cores import leave_gui_core
from latentlab.device import DeviceError, device_for, device_label, place_model, resolve_device
from latentlab.errors import one_line
from latentlab.explore.preview import linearise

if TYPE_CHECKING:
    from latentlab.modelfile import LoadedModel
    from latentlab.models import GenerativeModel

__all__ = ["PREVIEW_ABOVE_S", "ModelWorker", "Worker", "live_workers"]

PREVIEW_ABOVE_S = 0.05  # a model decoding slower than this gets linear previews while dragging

# Every worker is held here until its thread has completely ended, whoever else lets go of it
# (a window deleted without being closed): Qt aborts the process when a running thread is
# destroyed.
_workers: list[Worker] = []


def _forget_ended() -> None:
    """Let go of workers whose thread has ended (GUI thread: it frees their QThread)."""
    _workers[:] = [w for w in _workers if w.running]


def live_workers() -> list[Worker]:
    """Workers whose thread is still running (tests assert none are left)."""
    _forget_ended()
    return list(_workers)


def stop_all_workers(timeout_ms: int = 10_000) -> None:
    """Stop every worker and wait (at most ``timeout_ms`` each) for its thread to end, then let
    go of them: for the end of the program (while Qt still runs), also when windows were never
    closed."""
    for worker in _workers:
        worker.stop()
    for worker in _workers:
        worker.wait(timeout_ms)
    _forget_ended()


atexit.register(stop_all_workers)


class Worker(QObject):
    """Runs submitted callables one at a time on its own thread.

    A job may be a generator (a long job): each value it yields is a progress fraction in
    [0, 1], or a pair (fraction, partial result) for jobs worth watching as they go (EM
    fitting, pixel-by-pixel sampling), or None while it waits for the user (a painting in step
    mode): the worker then runs the jobs and decodes queued meanwhile before its next step.
    Between steps it stops if :meth:`cancel` was called; its return value is the result.

    Signals (emitted on the worker thread):
      ``finished(seq, result)`` when a job returned; ``failed(seq, message)`` when it raised;
      ``progressed(seq, fraction)`` as a long job goes; ``previewed(seq, partial)`` with each
      partial result; ``cancelled(seq)`` when one stopped.
    """

    finished = Signal(int, object)
    failed = Signal(int, str)
    progressed = Signal(int, float)
    previewed = Signal(int, object)
    cancelled = Signal(int)
    _job_submitted = Signal(int, object)
    _resume_wanted = Signal(int)

    def __init__(self, name: str) -> None:
        super().__init__()
        _forget_ended()
        self._cancel_lock = threading.Lock()
        self._cancel_requests: set[int] = set()
        self._closing = False  # set by stop: every long job stops at its next step
        self._waiting: dict[int, Generator[Any, None, Any]] = {}  # long jobs that yielded None
        self._thread = QThread()
        self._thread.setObjectName(name)
        # first thing on the new thread: off the GUI thread's core, if it has one of its own
        self._thread.started.connect(leave_gui_core, Qt.ConnectionType.DirectConnection)
        self.moveToThread(self._thread)
        self._job_submitted.connect(self._run_job)
        self._resume_wanted.connect(self._resume, Qt.ConnectionType.QueuedConnection)
        self._thread.finished.connect(self._on_thread_ended)  # on the worker thread, as it ends
        self._thread.start()
        _workers.append(self)

    @property
    def running(self) -> bool:
        """Whether the thread has not yet completely ended. (``QThread.isRunning`` turns false
        when the thread starts finishing, while it still runs; releasing the worker then
        crashed it.) GUI thread."""
        return not self._thread.wait(0)

    def submit(self, seq: int, job: Callable[[], Any]) -> None:
        """Queue ``job`` (called with no arguments on the worker thread). GUI thread. Once the
        worker is stopped, jobs are dropped unrun and unanswered: one queued after its thread
        had ended would wait there for good, holding the worker and its arguments."""
        with self._cancel_lock:
            if self._closing:
                return
        self._job_submitted.emit(seq, job)

    def cancel(self, seq: int) -> None:
        """Ask the long job ``seq`` to stop at its next step. Any thread."""
        with self._cancel_lock:
            self._cancel_requests.add(seq)

    def _cancel_requested(self, seq: int) -> bool:
        with self._cancel_lock:
            return self._closing or seq in self._cancel_requests

    @Slot(int, object)
    def _run_job(self, seq: int, job: Callable[[], Any]) -> None:
        try:
            result = job()
        except Exception as exc:  # reported to the user, never raised into Qt
            self._end(seq, self.failed, one_line(exc))
            return
        if isinstance(result, Generator):
            self._advance(seq, result)
        else:
            self._end(seq, self.finished, result)

    @Slot(int)
    def _resume(self, seq: int) -> None:
        steps = self._waiting.pop(seq, None)
        if steps is not None:
            self._advance(seq, steps)

    def _advance(self, seq: int, steps: Generator[Any, None, Any]) -> None:
        """Run a long job's steps until it ends, or until it yields None (it waits for the
        user, as a painting in step mode does): then it goes on after the work queued
        meanwhile, so that a job that waits does not hold the worker."""
        try:
            while True:
                if self._cancel_requested(seq):
                    steps.close()
                    self._end(seq, self.cancelled)
                    return
                try:
                    step = next(steps)
                except StopIteration as stop:
                    self._end(seq, self.finished, stop.value)
                    return
                if step is None:
                    self._waiting[seq] = steps
                    self._resume_wanted.emit(seq)
                    return
                if isinstance(step, tuple):
                    fraction, partial = step
                    self.previewed.emit(seq, partial)
                else:
                    fraction = step
                self.progressed.emit(seq, float(fraction))
        except Exception as exc:  # reported to the user, never raised into Qt
            self._end(seq, self.failed, one_line(exc))

    def _end(self, seq: int, outcome: Any, *args: Any) -> None:
        """Job ``seq`` has ended: forget any cancel asked of it, then emit ``outcome``."""
        with self._cancel_lock:
            self._cancel_requests.discard(seq)
        freeze_late_imports()  # what the job imported, out of the collector's way
        outcome.emit(seq, *args)

    def stop(self) -> None:
        """Stop the thread without waiting for it: a long job in progress is cancelled at its
        next step and jobs not yet started never run. Idempotent."""
        with self._cancel_lock:
            self._closing = True
        self._thread.quit()

    def _on_thread_ended(self) -> None:
        # Jobs submitted but never run wait as queued calls that hold the worker and their
        # arguments (a model, images) for as long as it lives: drop them.
        QCoreApplication.removePostedEvents(self)
        for steps in self._waiting.values():
            steps.close()
        self._waiting.clear()

    def wait(self, timeout_ms: int) -> bool:
        """Wait until the thread has ended (after :meth:`stop`); False if it had not by then."""
        return self._thread.wait(timeout_ms)


class ModelWorker(Worker):
    """Owns one loaded model on its own thread, and the device it runs on: the model is read
    on the CPU, and :meth:`place` moves it to another device on the worker's thread. Jobs get
    the model where it is (the functions of :mod:`latentlab.explore.ops` move their inputs to
    its device and return CPU arrays).

    Signals (emitted on the worker thread), besides :class:`Worker`'s:
      ``decoded(seq, image, seconds)``: the decode of the newest requested latent, ``image``
      a float32 ``C,H,W`` array in [0, 1], ``seconds`` the time the model took.
      ``linearised(seq, preview)``: after the decode of a slow model, a
      :class:`~latentlab.explore.preview.LinearPreview` there, for previews while the map's
      point moves and the next decode is on its way.
      ``placed(label, notice)`` once the model is on its device, ``label`` the device in words
      (``device_label``); ``notice`` says why it stayed on the CPU when the device was not
      available or moving to it failed ("" otherwise).
    """

    decoded = Signal(int, object, float)
    linearised = Signal(int, object)
    placed = Signal(str, str)
    _decode_wanted = Signal()
    _place_wanted = Signal(str)

    def __init__(self, loaded: LoadedModel) -> None:
        load_model_code()  # done already, unless the model came from elsewhere than the loader
        self.loaded: LoadedModel | None = loaded  # None once the thread has ended
        self._lock = threading.Lock()
        self._pending: tuple[int, np.ndarray, np.ndarray | None, bool] | None = None
        self._warm = False  # a decode has run (the first one's time includes one-off costs)
        super().__init__(f"model worker: {loaded.name}")
        self._decode_wanted.connect(self._decode_latest)
        self._place_wanted.connect(self._place)

    def place(self, device: str) -> None:
        """Move the model to ``device`` (a ``--device`` choice: auto, cpu, cuda, cuda:N or mps)
        on the worker's thread, ahead of the jobs submitted after this call; ``placed`` tells
        where it went (the CPU, with a notice, when the device is missing or the move fails).
        Connect ``placed`` first. GUI thread."""
        self._place_wanted.emit(device)

    @Slot(str)
    def _place(self, name: str) -> None:
        with self._cancel_lock:
            if self._closing:  # stopped before it began: the model will never be used
                return
        import torch  # loaded by now: the model is

        try:
            device, why = device_for(resolve_device(name), name, self._model().family)
        except (DeviceError, ValueError) as exc:  # the command line checks first; the app not
            device, notice = torch.device("cpu"), f"{exc}; the model runs on the CPU"
        else:
            device, notice = place_model(self._model(), device)
            notice = notice or why
        self.placed.emit(device_label(device), notice)

    def _on_thread_ended(self) -> None:
        super()._on_thread_ended()
        self.loaded = None  # the model's memory goes with its thread

    def _model(self) -> GenerativeModel:
        assert self.loaded is not None  # released only once the thread has ended
        return self.loaded.model

    def submit_model_job(self, seq: int, job: Callable[..., Any], *args: Any) -> None:
        """Queue ``job(model, *args)``. GUI thread."""
        self.submit(seq, lambda: job(self._model(), *args))

    def request_decode(
        self, seq: int, z: np.ndarray, axes: np.ndarray | None = None, dragged: bool = False
    ) -> None:
        """Ask for the decode of flat latent ``z``; replaces any request not yet started.
        Given the map's ``axes`` (``2,D``, orthonormal), a model whose decode takes over
        ``PREVIEW_ABOVE_S`` also gets its slopes along them (``linearised``), when the point
        is ``dragged`` along them or no newer request waits. GUI thread."""
        with self._lock:
            idle = self._pending is None
            self._pending = (seq, np.array(z, dtype=np.float64), axes, dragged)
        if idle:
            self._decode_wanted.emit()

    @Slot()
    def _decode_latest(self) -> None:
        with self._lock:
            request, self._pending = self._pending, None
        if request is None:
            return
        from latentlab.explore import ops  # loaded by now: the model is

        seq, z, axes, dragged = request
        start = time.perf_counter()
        try:
            image = ops.decode(self._model(), z[None])[0]
            seconds = time.perf_counter() - start
            self.decoded.emit(seq, image, seconds)
            with self._lock:
                wanted = dragged or self._pending is None  # not in the middle of a slider's drag
            if not self._warm and seconds > PREVIEW_ABOVE_S:
                # a model's first decode (torch choosing kernels, allocating) took 37-60 ms for
                # a Glow that then decodes in 5 ms: timed again, warm, before it counts as slow
                start = time.perf_counter()
                ops.decode(self._model(), z[None])
                seconds = time.perf_counter() - start
            self._warm = True
            if axes is not None and seconds > PREVIEW_ABOVE_S and wanted:
                self.linearised.emit(seq, linearise(self._model(), z, image, axes))
        except Exception as exc:
            self.failed.emit(seq, one_line(exc))
