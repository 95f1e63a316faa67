"""Files in and out of the main window: the open and save dialogs, files dropped on the window,
saving sessions, what to do when a file the user named cannot be opened, and asking before
unsaved work is discarded."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMessageBox

from latentlab.app.file_filters import IMAGE_FILTER, OPEN_FILTER, SESSION_FILTER
from latentlab.explore.session import write_session
from latentlab.resources import default_model_path
from latentlab.suffixes import IMAGE_SUFFIXES, MODEL_SUFFIX, SESSION_SUFFIX
from latentlab.untrusted import shorten

if TYPE_CHECKING:
    from latentlab.app.main_window import MainWindow

__all__ = ["FileWiring", "file_kind"]

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".bin")


def file_kind(path: Path) -> str:
    """What the app can do with ``path``: "model", "session", "image", or, when nothing, one
    line saying why (extensions in any case)."""
    name = path.name.lower()
    if path.is_dir():
        return f"{path}: a folder; drop or open the image files in it instead"
    if name.endswith(SESSION_SUFFIX):
        return "session"
    # a PyTorch checkpoint is converted by the model loader if LatentLab imports its format
    if name.endswith(MODEL_SUFFIX) or path.suffix.lower() in CHECKPOINT_SUFFIXES:
        return "model"
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return "image"
    return (
        f"{path}: not a model (.safetensors), a session ({SESSION_SUFFIX}) or an image "
        f"({', '.join(sorted(IMAGE_SUFFIXES))})"
    )


class FileWiring(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window, self.explorer = window, window.explorer

    # -- opening ---------------------------------------------------------------------------------

    def choose_file(self) -> None:
        """Ask for a model or session file, then open it."""
        path, _ = QFileDialog.getOpenFileName(self.window, "Open model or session", "", OPEN_FILTER)
        if path:
            self.open_files([Path(path)])

    def choose_session(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open session", "", SESSION_FILTER)
        if path:
            self.window.open_session(path)

    def choose_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self.window, "Open images to encode", "", IMAGE_FILTER
        )
        if paths:
            self.open_files([Path(p) for p in paths])

    def open_files(self, paths: list[Path]) -> None:
        """Open what ``paths`` hold (dropped on the window, or chosen): the first model or
        session; else the images, encoded; every file that cannot be used is explained."""
        kinds = {path: file_kind(path) for path in paths}
        for kind in kinds.values():
            if kind not in ("model", "session", "image"):
                self.window.notify(kind)
        documents = [p for p, k in kinds.items() if k in ("model", "session")]
        images = [p for p, k in kinds.items() if k == "image"]
        if documents:
            path = documents[0]
            if kinds[path] == "model":
                self.window.open_model(path)
            else:
                self.window.open_session(path)
            for other in documents[1:] + images:
                self.window.notify(f"{other}: not opened; one model or session at a time")
        elif images:
            self.window.encode_images(images)

    def offer_instead(self, path: str, message: str) -> None:
        """No model is open and the file the user named cannot be: say which and why, and let
        them choose what to open instead."""
        box = QMessageBox(self.window)
        box.setObjectName("openInsteadBox")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Cannot open the file")
        box.setText(shorten(f"{path}\n\n{message}", 2000))
        default = box.addButton("Open the default model", QMessageBox.ButtonRole.AcceptRole)
        other = box.addButton("Open another file…", QMessageBox.ButtonRole.ActionRole)
        box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)

        def chosen(button: object) -> None:
            if button is default:
                self.window.open_model(default_model_path())
            elif button is other:
                self.choose_file()
            else:
                self.window.close()

        box.buttonClicked.connect(chosen)
        box.open()

    def may_discard(self) -> bool:
        """True when opening another model loses nothing unsaved, or the user agrees to lose
        it (a model fitted in the app, directions added in the app)."""
        work = self.explorer.unsaved_work()
        if not work:
            return True
        lost = "; ".join(work)
        answer = QMessageBox.question(
            self.window,
            "Discard unsaved work?",
            f"Not saved: {lost}. It will be lost.\n\nKeep it with File ▸ Save model as… "
            "(Ctrl+Shift+S).",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Discard

    # -- saving sessions -------------------------------------------------------------------------

    def choose_session_file(self) -> None:
        """Ask where, then save the session, written on the worker."""
        try:
            session = self.explorer.session()
        except ValueError as exc:
            self.window.show_status(f"Nothing to save: {exc}", 5000)
            return
        name = f"{session.model.stem}{SESSION_SUFFIX}"
        chosen = self.window.ask_save("Save session", name, SESSION_FILTER)
        if chosen:
            path = Path(chosen)
            job = self.window.jobs.call(write_session, path, session)
            job.finished.connect(lambda _: self.window.show_status(f"Saved session {path}", 5000))
            job.failed.connect(
                lambda message: self.window.show_error("Cannot save the session", message)
            )

    def save_session(self, path: str | Path) -> bool:
        """Write the session to ``path`` now (closing the window: it must be on disk before the
        app ends); False when there is none or it cannot be written (said in a dialog)."""
        try:
            write_session(path, self.explorer.session())
        except ValueError:
            return False
        except OSError as exc:
            self.window.show_error("Cannot save the session", f"{path}: {exc.strerror or exc}")
            return False
        return True
