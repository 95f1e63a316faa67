"""The desktop app: PySide6 + pyqtgraph views and the model workers. No model math here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily below: importing the package must not load Qt or torch
    from latentlab.app.lab_window import LabWindow
    from latentlab.app.main_window import MainWindow

__all__ = ["create_lab_window", "create_main_window", "run_app", "run_lab"]

_collector = None  # the one GuiThreadCollector of the process, once a window exists
_trimmer = None  # the timer that hands free memory back to the system
_lab_application = None  # the QApplication that create_lab_window made, if it made one
TRIM_INTERVAL_MS = 10_000


def _manage_native_memory() -> None:
    """Fewer malloc arenas, and the C heap's free memory handed back every few seconds (a
    few milliseconds each time; see latentlab.app.native_memory)."""
    global _trimmer
    if _trimmer is None:
        from PySide6.QtCore import QTimer

        from latentlab.app.native_memory import configure_malloc, return_free_memory

        configure_malloc()
        _trimmer = QTimer()
        _trimmer.timeout.connect(return_free_memory)
        _trimmer.start(TRIM_INTERVAL_MS)


def _collect_garbage_on_the_gui_thread() -> None:
    """Python's cycle collector on a GUI-thread timer (see latentlab.app.collector)."""
    global _collector
    if _collector is None:
        import gc

        from latentlab.app.collector import GuiThreadCollector

        _collector = GuiThreadCollector()
        gc.freeze()  # Qt's objects; torch's once it loads (model_code)


def _report_crashes() -> None:
    """A crash in native code (Qt, torch) prints every thread's Python stack to standard error
    before the process dies, for a bug report, where there is a standard error to write to."""
    import contextlib
    import faulthandler

    if not faulthandler.is_enabled():
        # no standard error (RuntimeError), or one that is not a file
        with contextlib.suppress(RuntimeError, ValueError, OSError, AttributeError):
            faulthandler.enable()


def _drop_pysides_import_hook() -> None:
    """Imports without shiboken's ``__feature__`` hook. Shiboken (PySide's binding layer) puts
    two hooks in front of Python's import: one for PySide's opt-in ``__feature__`` switches,
    which the app does not use, then its lazy loading of Qt's modules, which it keeps as
    ``builtins.__orig_import__``; the first is dropped. It reads the source of every module
    imported after PySide: torch's import took 1.20 s with it and 0.98 s without (medians of
    eight alternated pairs), pyqtgraph's 0.27 against 0.22 s. It is also where the app
    crashed once, with two threads importing at once (see MainWindow._on_first_paint).
    Where that name is missing (another PySide), nothing changes."""
    import builtins

    lazy_import = getattr(builtins, "__orig_import__", None)
    if lazy_import is not None:
        builtins.__import__ = lazy_import


def _configure() -> None:
    """What every window of the app needs set once (idempotent). pyqtgraph's options are set
    where it is first imported (latentlab.app.charts), once the window is on screen."""
    _drop_pysides_import_hook()
    _report_crashes()
    _manage_native_memory()
    _collect_garbage_on_the_gui_thread()


def create_main_window(
    model_path: str | Path | None = None,
    session: str | Path | None = None,
    last_session: bool = False,
    device: str = "auto",
) -> MainWindow:
    """The main window opening ``model_path`` (default: the bundled default model), or
    resuming the session file ``session``. If the session cannot be resumed, the user chooses
    what to open instead; but the app's own ``last_session`` falls back to the default model,
    with a notice. Models run on ``device`` (auto, cpu, cuda, cuda:N or mps; see
    :mod:`latentlab.device`), or on the CPU, with a notice, where that fails.

    Needs a ``QApplication``; starts no event loop. The model loads on a worker thread: the
    window emits ``modelOpened`` when it is in place, then ``imageDisplayed`` once ``imageView``
    shows the decode of the current point, which starts at the centre of ``mapView``.
    """
    from latentlab.app.main_window import MainWindow
    from latentlab.resources import default_model_path

    _configure()
    window = MainWindow(device)
    if session is not None:
        window.open_session(session, fallback=default_model_path() if last_session else None)
    else:
        window.open_model(model_path or default_model_path())
    return window


def run_app(
    model_path: str | Path | None = None, session: str | Path | None = None, device: str = "auto"
) -> int:
    """Start the GUI, its models on ``device``, and run its event loop; returns the exit code.
    Closing the window saves the session in the user's configuration folder; started with
    neither a model nor a session, the app resumes it."""
    from PySide6.QtCore import QStandardPaths
    from PySide6.QtWidgets import QApplication

    from latentlab.cores import reserve_gui_core
    from latentlab.fileio import remove_stale_temporaries
    from latentlab.suffixes import SESSION_SUFFIX

    app = QApplication.instance() or QApplication(sys.argv[:1])
    reserve_gui_core()  # before the model loader and workers start (see latentlab.cores)
    app.setApplicationName("LatentLab")
    app.setOrganizationName("LatentLab")
    config = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppConfigLocation)
    last = Path(config) / f"last{SESSION_SUFFIX}"
    remove_stale_temporaries(last.parent)  # of saves cut short when the app was killed
    resume = model_path is None and session is None and last.is_file()
    window = create_main_window(
        model_path, last if resume else session, last_session=resume, device=device
    )
    window.autosave_path = last
    window.show()
    return app.exec()


def create_lab_window() -> LabWindow:
    """The 2-D lab window (flows and EM on toy 2-D data), objectName ``labWindow``, not yet
    shown; its models are tiny and always run on the CPU. Makes the ``QApplication`` if there
    is none; starts no event loop."""
    from PySide6.QtWidgets import QApplication

    from latentlab.app.lab_window import LabWindow
    from latentlab.app.model_code import load_model_code

    global _lab_application
    if QApplication.instance() is None:
        _lab_application = QApplication(sys.argv[:1])
    _configure()
    load_model_code()
    return LabWindow()


def run_lab() -> int:
    """Start the 2-D lab on its own and run the event loop; returns the exit code."""
    from PySide6.QtWidgets import QApplication

    from latentlab.cores import reserve_gui_core

    reserve_gui_core()  # before its workers and process start (see latentlab.cores)
    window = create_lab_window()
    app = QApplication.instance()
    assert app is not None  # made by create_lab_window
    app.setApplicationName("LatentLab")
    window.show()
    return app.exec()
