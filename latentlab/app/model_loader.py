"""Opening model and session files off the GUI thread: reading, validating and preparing a model
(its starting plane is an SVD) all happen on the loader's own thread; the newest request wins.
A PyTorch checkpoint of a format LatentLab imports is converted on the way, with a notice."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from latentlab.app.model_code import load_model_code
from latentlab.app.worker import Worker
from latentlab.errors import expected_errors, one_line
from latentlab.explore.explorer import OpenedModel, prepare
from latentlab.explore.session import Session, SessionError, read_session

if TYPE_CHECKING:
    from latentlab.modelfile import LoadedModel

__all__ = ["ModelLoader"]


def _load(path: Path) -> tuple[LoadedModel, str]:
    """The model file or converted checkpoint ``path``, and a notice ("" for a model file)."""
    load_model_code()  # the first time: torch, on this thread while the window is on screen
    from latentlab.importers import load_any

    loaded, notice = load_any(path)
    if notice:
        notice += "; File > Save model as… keeps it as a LatentLab model file"
    return loaded, notice


def _open_model(path: Path) -> tuple[OpenedModel, None, str]:
    loaded, notice = _load(path)
    return prepare(loaded), None, notice


def _read_session_model(path: Path) -> tuple[OpenedModel, Session, str]:
    session = read_session(path)
    try:
        loaded, notice = _load(session.model)
    except expected_errors() as exc:
        why = one_line(exc)
        raise SessionError(
            f"{path.name}: its model {session.model} cannot be opened ({why})"
        ) from None
    return prepare(loaded), session, notice


def _made_in_app(loaded: LoadedModel, notice: str) -> tuple[OpenedModel, None, str]:
    return prepare(loaded), None, notice


def _open_session(path: Path, fallback: Path | None) -> tuple[OpenedModel, Session | None, str]:
    try:
        return _read_session_model(path)
    except expected_errors() as exc:
        if fallback is None:
            raise
        notice = f"Could not resume the last session ({one_line(exc)}); opened {fallback.stem}"
        loaded, _ = _load(fallback)
        return prepare(loaded), None, notice


class ModelLoader(QObject):
    """Signals (GUI thread): ``opened(opened, session, notice)`` with the prepared model, the
    session to resume in it (or None) and a notice for the user (or ""); ``failed(path,
    message)`` when the file ``path`` (in full) could not be opened, and why. Answers to
    requests overtaken by a newer one, or arriving after :meth:`shutdown`, are dropped."""

    opened = Signal(object, object, str)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._seq = 0
        self._answered = 0  # the newest request answered
        self._path = ""  # of the newest request
        self._worker = Worker("model loader")
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)

    @property
    def busy(self) -> bool:
        """A request is on its way, not yet answered."""
        return self._answered < self._seq

    def open_model(self, path: str | Path) -> None:
        self._request(str(Path(path).absolute()), partial(_open_model, Path(path)))

    def open_session(self, path: str | Path, fallback: Path | None = None) -> None:
        """Open the session's model; if the session or its model cannot be read, the
        ``fallback`` model instead (with a notice), or fail when there is none."""
        self._request(str(Path(path).absolute()), partial(_open_session, Path(path), fallback))

    def install(self, loaded: LoadedModel, notice: str) -> None:
        """Prepare a model made in the app (not read from a file), answered as a file is."""
        self._request(loaded.name, partial(_made_in_app, loaded, notice))

    def _request(self, path: str, work: Callable[[], object]) -> None:
        self._seq += 1
        self._path = path
        self._worker.submit(self._seq, work)

    @Slot(int, object)
    def _on_finished(self, seq: int, result: tuple[OpenedModel, Session | None, str]) -> None:
        if seq == self._seq:
            self._answered = seq
            self.opened.emit(*result)

    @Slot(int, str)
    def _on_failed(self, seq: int, message: str) -> None:
        if seq == self._seq:
            self._answered = seq
            self.failed.emit(self._path, message)

    def shutdown(self) -> None:
        """Stop the loader's thread without waiting; a model still loading is never installed."""
        self._seq = self._answered = -1
        self._worker.stop()
