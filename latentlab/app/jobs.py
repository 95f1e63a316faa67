"""Jobs on the open model's worker, each followed through a :class:`Job` handle.

A job is any callable ``job(model, *args)``; a long job is a generator that yields progress
(see :class:`latentlab.app.worker.Worker`). :meth:`JobRunner.submit` returns the job's handle,
whose signals reach the GUI thread, queued, so that connecting to them right after submitting
misses nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QProgressDialog, QWidget

from latentlab.app.worker import ModelWorker

__all__ = ["Job", "JobRunner", "show_progress"]

_numbers = itertools.count(1)


class Job(QObject):
    """A handle on one job on the model worker.

    Signals (GUI thread): ``progressed(fraction)`` as a long job goes; ``previewed(partial)``
    with each partial result; then exactly one of ``finished(result)``, ``failed(message)`` and
    ``cancelled()`` (also when the model closes before the job ran to its end).
    """

    progressed = Signal(float)
    previewed = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, runner: JobRunner, seq: int, watched: bool) -> None:
        super().__init__(runner)
        self.seq, self.watched = seq, watched
        self._runner = runner
        self.running = True
        self.replaced = False  # dropped for a newer job: its end is not news to the user

    def cancel(self) -> None:
        """Ask the job to stop at its next step; ``cancelled`` says when it has."""
        if self.running:
            self._runner.cancel(self)

    def drop(self) -> None:
        """Cancel the job because a newer one replaces it: the runner does not report it as
        cancelled by the user."""
        self.replaced = True
        self.cancel()


class JobRunner(QObject):
    """Submits jobs to the current model worker and hands their outcomes to their handles. A
    QObject of the GUI thread, so that the worker's signals reach its slots there, queued.

    Signals (GUI thread): ``failed(message, watched)`` when any job failed (``watched``: the
    user was waiting for it, so it deserves more than a status line); ``cancelled()`` when one
    was cancelled (not dropped for a newer one).
    """

    failed = Signal(str, bool)
    cancelled = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker: ModelWorker | None = None
        self._jobs: dict[int, Job] = {}

    def attach(self, worker: ModelWorker | None) -> None:
        """Run jobs on ``worker`` from now on (another model opened, or None: closed). The old
        worker's jobs end as cancelled: their answers are about a model that is gone."""
        if self.worker is not None:
            for signal, slot in self._connections(self.worker):
                signal.disconnect(slot)
        # Whatever their cancellation's handlers submit is about the old model too: with no
        # worker meanwhile, it ends as cancelled (see submit)
        self.worker = None
        for job in list(self._jobs.values()):
            self._end(job.seq).cancelled.emit()
        self.worker = worker
        if worker is not None:
            for signal, slot in self._connections(worker):
                signal.connect(slot)

    def _connections(self, worker: ModelWorker) -> list[tuple[Any, Callable[..., None]]]:
        return [
            (worker.finished, self._on_finished),
            (worker.failed, self._on_failed),
            (worker.progressed, self._on_progressed),
            (worker.previewed, self._on_previewed),
            (worker.cancelled, self._on_cancelled),
        ]

    def submit(self, job: Callable[..., Any], *args: Any, watched: bool = False) -> Job:
        """Run ``job(model, *args)`` on the model worker. A ``watched`` job is one the user waits
        for (an export, a fit): its failure is shown in a dialog. With no model open (the
        window closing, or another model on its way in), the job ends as cancelled, unrun."""
        return self._send(watched, lambda worker, seq: worker.submit_model_job(seq, job, *args))

    def call(self, function: Callable[..., Any], *args: Any) -> Job:
        """Run ``function(*args)`` (no model) on the model worker, off the GUI thread; with no
        model open, as :meth:`submit`."""
        return self._send(False, lambda worker, seq: worker.submit(seq, lambda: function(*args)))

    def _send(self, watched: bool, send: Callable[[ModelWorker, int], None]) -> Job:
        """A new handle, its job handed to the worker by ``send(worker, seq)``; with no worker,
        it ends as cancelled in a later turn of the event loop, as the worker's answers come,
        so that what connects to it right after submitting hears it."""
        handle = Job(self, next(_numbers), watched)
        seq = handle.seq
        self._jobs[seq] = handle
        if self.worker is not None:
            send(self.worker, seq)
            return handle

        def cancel() -> None:
            if seq in self._jobs:
                self._end(seq).cancelled.emit()

        QTimer.singleShot(0, self, cancel)
        return handle

    def cancel(self, job: Job) -> None:
        if self.worker is not None:
            self.worker.cancel(job.seq)

    def _end(self, seq: int) -> Job:
        job = self._jobs.pop(seq)
        job.running = False
        job.deleteLater()  # after the signal it is about to emit has been delivered
        return job

    @Slot(int, object)
    def _on_finished(self, seq: int, result: Any) -> None:
        if seq in self._jobs:
            self._end(seq).finished.emit(result)

    @Slot(int, str)
    def _on_failed(self, seq: int, message: str) -> None:
        if seq in self._jobs:
            job = self._end(seq)
            job.failed.emit(message)
            self.failed.emit(message, job.watched)

    @Slot(int, float)
    def _on_progressed(self, seq: int, fraction: float) -> None:
        if seq in self._jobs:
            self._jobs[seq].progressed.emit(fraction)

    @Slot(int, object)
    def _on_previewed(self, seq: int, partial: Any) -> None:
        if seq in self._jobs:
            self._jobs[seq].previewed.emit(partial)

    @Slot(int)
    def _on_cancelled(self, seq: int) -> None:
        if seq in self._jobs:
            job = self._end(seq)
            job.cancelled.emit()
            if not job.replaced:
                self.cancelled.emit()


def show_progress(parent: QWidget, title: str, job: Job) -> None:
    """A progress dialog over ``parent`` following ``job``; its Cancel button cancels it."""
    dialog = QProgressDialog(title, "Cancel", 0, 100, parent)
    dialog.setObjectName("progressDialog")
    # not modal: a modal dialog's setValue runs the event loop, where the job's end could
    # delete the dialog under it (seen as a crash)
    dialog.setWindowModality(Qt.WindowModality.NonModal)
    dialog.setMinimumDuration(400)
    dialog.setValue(0)

    def close() -> None:
        dialog.reset()
        dialog.deleteLater()

    def progress(fraction: float) -> None:
        if not dialog.wasCanceled():
            dialog.setValue(round(100 * fraction))

    job.progressed.connect(progress)
    for ended in (job.finished, job.failed, job.cancelled):
        ended.connect(close)
    dialog.canceled.connect(job.cancel)
