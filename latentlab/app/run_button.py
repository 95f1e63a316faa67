"""A button that starts a long job and, while the job runs, stops it."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QPushButton, QWidget

from latentlab.app.jobs import Job

__all__ = ["RunButton"]


class RunButton(QPushButton):
    """Says ``run_text`` while idle and ``stop_text`` while the job it :meth:`follow`\\ s runs.

    Signals (GUI thread): ``runRequested()`` when clicked while idle (the owner starts a job and
    passes it to :meth:`follow`); clicked while the job runs, it cancels the job.
    """

    runRequested = Signal()

    def __init__(self, run_text: str, stop_text: str, parent: QWidget | None = None) -> None:
        super().__init__(run_text, parent)
        self.run_text, self.stop_text = run_text, stop_text
        self.job: Job | None = None
        self.clicked.connect(self._on_clicked)

    @property
    def running(self) -> bool:
        return self.job is not None

    def follow(self, job: Job) -> None:
        """Show ``job`` as running until it finishes, fails or is cancelled."""
        self.job = job
        self.setText(self.stop_text)
        for ended in (job.finished, job.failed, job.cancelled):
            ended.connect(lambda *_: self._on_ended(job))

    def _on_ended(self, job: Job) -> None:
        if job is self.job:
            self.job = None
            self.setText(self.run_text)

    def _on_clicked(self) -> None:
        if self.job is not None:
            self.job.cancel()
        else:
            self.runRequested.emit()
