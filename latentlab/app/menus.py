"""The main window's menus and keyboard shortcuts, wired to its public slots."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QMainWindow, QMenu

if TYPE_CHECKING:  # main_window imports this module
    from latentlab.app.main_window import MainWindow

__all__ = ["build_menus"]

Keys = str | QKeySequence.StandardKey | Qt.Key


def _add(
    menu: QMenu,
    window: QMainWindow,
    text: str,
    slot: Callable[..., Any],
    keys: Keys | list[Keys] | None = None,
    tip: str = "",
    checkable: bool = False,
) -> QAction:
    action = QAction(text, window, checkable=checkable)
    if keys is not None:
        action.setShortcuts([QKeySequence(k) for k in (keys if isinstance(keys, list) else [keys])])
    if tip:
        action.setStatusTip(tip)
    (action.toggled if checkable else action.triggered).connect(slot)
    menu.addAction(action)
    window.addAction(action)  # the shortcut works while the menu bar is hidden
    return action


class _LabOpener:
    """Opens its main window's one lab window, or raises it if it is open (a closed one has
    stopped its workers: the next is new)."""

    def __init__(self) -> None:
        self.lab: QMainWindow | None = None

    def open(self) -> None:
        from latentlab.app import create_lab_window  # its torch-backed modules load on demand

        if self.lab is None or not self.lab.isVisible():
            self.lab = create_lab_window()
        self.lab.show()
        self.lab.raise_()
        self.lab.activateWindow()


def build_menus(window: MainWindow) -> QAction:
    """File, Sample, Edit and View menus; returns the presentation-mode action."""
    bar = window.menuBar()
    file = bar.addMenu("&File")
    _add(
        file,
        window,
        "&Open model or session…",
        window.files.choose_file,
        QKeySequence.StandardKey.Open,
        "Open a LatentLab model file (.safetensors) or a saved session",
    )
    _add(
        file,
        window,
        "Open &images to encode…",
        window.files.choose_images,
        "Ctrl+I",
        "Encode image files and place them on the map",
    )
    _add(
        file,
        window,
        "Open &session…",
        window.files.choose_session,
        None,
        "Open a saved session: its model, plane, point, sliders, endpoints and your images",
    )
    _add(
        file,
        window,
        "Save s&ession…",
        window.files.choose_session_file,
        "Ctrl+S",
        "Save where you are: the model, plane, point, sliders, endpoints and your images",
    )
    _add(
        file,
        window,
        "&Save model as…",
        window.attributes.save_model_copy,
        "Ctrl+Shift+S",
        "Write the open model, with its attribute directions, to a new file",
    )
    _add(
        file,
        window,
        "&Export interpolation…",
        lambda: window.interpolation.export("png"),
        "Ctrl+E",
        "Save the interpolation strip as a PNG image",
    )
    file.addSeparator()
    _add(file, window, "&Quit", window.close, QKeySequence.StandardKey.Quit)
    QShortcut(QKeySequence("Ctrl+W"), window, window.close)

    sample = bar.addMenu("&Sample")
    _add(
        sample,
        window,
        "&New samples",
        window.sample_panel.resample,
        Qt.Key.Key_Space,
        "Draw new samples: the next seed",
    )

    edit = bar.addMenu("&Edit")
    _add(
        edit,
        window,
        "&Undo",
        window.undo,
        "Ctrl+Z",
        "Go back to where the current point was before the last action",
    )
    _add(edit, window, "&Redo", window.redo, ["Ctrl+Shift+Z", "Ctrl+Y"])

    view = bar.addMenu("&View")
    presentation = _add(
        view,
        window,
        "&Presentation mode",
        window.set_presentation,
        "F11",
        "Full screen, large text, the model panel hidden; arrow keys move the "
        "point (F11 or Esc to leave)",
        checkable=True,
    )
    lab = _LabOpener()
    _add(
        view,
        window,
        "2-D &lab…",
        lambda: lab.open(),  # the lambda keeps the opener alive (a bound method would not)
        "Ctrl+L",
        "A window of its own where flows and EM are fitted live to toy 2-D data",
    )
    leave = QShortcut(QKeySequence(Qt.Key.Key_Escape), window)
    leave.activated.connect(lambda: presentation.setChecked(False))
    return presentation
