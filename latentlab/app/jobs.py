"""Jobs on the open model's worker, with their outcomes handed to callbacks on the GUI thread.

A job is any callable ``job(model, *args)``; a long job is a generator that yields progress
(see :class:`latentlab.app.worker.Worker`). The runner remembers each job's callbacks by its
sequence number, so the answers of a model's worker reach the code that asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QProgressDialog

from latentlab.app.worker import ModelWorker

__all__ = ["Job", "JobRunner"]


@dataclass
class Job:
    """What to do with the outcome of one job on the model worker (GUI thread): ``done`` gets
    the result; ``progressed`` each progress fraction; ``previewed`` each partial result;
    ``ended`` the message when it failed or was cancelled. A ``watched`` job's failure is
    shown in a dialog (the user is waiting for it)."""

    done: Callable[[Any], None]
    progressed: Callable[[float], None] | None = None
    previewed: Callable[[Any], None] | None = None
    ended: Callable[[str], None] | None = None
    watched: bool = False


class JobRunner(QObject):
    """Submits jobs to the current model worker of ``window`` (the main window: it numbers
    requests, shows errors and status, and emits ``jobEnded``). A QObject of the GUI thread, so
    that the worker's signals reach its slots there, queued."""

    def __init__(self, window: Any, next_seq: Callable[[], int]) -> None:
        super().__init__(window)
        self.window, self.next_seq = window, next_seq
        self.worker: ModelWorker | None = None
        self._jobs: dict[int, Job] = {}

    def attach(self, worker: ModelWorker) -> None:
        """Run jobs on ``worker`` from now on (a new model was opened); forget the old ones."""
        self._jobs.clear()
        self.worker = worker
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.progressed.connect(self._on_progressed)
        worker.previewed.connect(self._on_previewed)
        worker.cancelled.connect(self._on_cancelled)

    def submit(
        self,
        job: Callable[..., Any],
        *args: Any,
        done: Callable[[Any], None],
        progressed: Callable[[float], None] | None = None,
        previewed: Callable[[Any], None] | None = None,
        ended: Callable[[str], None] | None = None,
        watched: bool = False,
    ) -> int:
        """Run ``job(model, *args)`` on the model worker; the callbacks (see :class:`Job`) run
        on the GUI thread. Returns the job's number, for :meth:`cancel`."""
        seq = self.next_seq()
        self._jobs[seq] = Job(done, progressed, previewed, ended, watched)
        self.worker.submit_model_job(seq, job, *args)
        return seq

    def cancel(self, seq: int) -> None:
        """Ask job ``seq`` to stop at its next step; its ``ended`` callback says when it has."""
        if self.worker is not None:
            self.worker.cancel(seq)

    def run_long(
        self, title: str, done: Callable[[Any], None], job: Callable[..., Any], *args: Any
    ) -> int:
        """Run generator ``job(model, *args)`` behind a progress dialog that can cancel it;
        ``done(result)`` gets the result."""
        dialog = QProgressDialog(title, "Cancel", 0, 100, self.window)
        dialog.setObjectName("progressDialog")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(400)
        dialog.setValue(0)

        def close() -> None:
            dialog.reset()
            dialog.deleteLater()

        def finish(result: Any) -> None:
            close()
            done(result)

        def progress(fraction: float) -> None:
            if not dialog.wasCanceled():
                dialog.setValue(round(100 * fraction))

        seq = self.submit(
            job,
            *args,
            done=finish,
            progressed=progress,
            ended=lambda _message: close(),
            watched=True,
        )
        dialog.canceled.connect(lambda: self.cancel(seq))
        return seq

    @Slot(int, object)
    def _on_finished(self, seq: int, result: Any) -> None:
        job = self._jobs.pop(seq, None)
        if job is not None:
            job.done(result)

    @Slot(int, str)
    def _on_failed(self, seq: int, message: str) -> None:
        job = self._jobs.pop(seq, None)
        if job is not None and job.ended is not None:
            job.ended(message)
        if job is not None and job.watched:  # a job the user is waiting for: say so clearly
            self.window.show_error("The job failed", message)
            self.window.jobEnded.emit(message)
        self.window.statusBar().showMessage(f"Error: {message}")

    @Slot(int, float)
    def _on_progressed(self, seq: int, fraction: float) -> None:
        job = self._jobs.get(seq)
        if job is not None and job.progressed is not None:
            job.progressed(fraction)

    @Slot(int, object)
    def _on_previewed(self, seq: int, partial: Any) -> None:
        job = self._jobs.get(seq)
        if job is not None and job.previewed is not None:
            job.previewed(partial)

    @Slot(int)
    def _on_cancelled(self, seq: int) -> None:
        job = self._jobs.pop(seq, None)
        if job is not None and job.ended is not None:
            job.ended("cancelled")
        self.window.statusBar().showMessage("Cancelled; nothing was changed", 5000)
        self.window.jobEnded.emit("cancelled")
