from __future__ import annotations

import contextlib
import gc

import pytest
from helpers import StallWatchdog
from PySide6.QtWidgets import QMessageBox
from pytestqt.qt_compat import qt_api

from latentlab.app import create_main_window
from latentlab.app.worker import live_workers

STALL_LIMIT_S = 0.25


@pytest.fixture(autouse=True, scope="package")
def automatic_garbage_collection_after_the_app_tests():
    """The app turns automatic cycle collection off (it collects on a GUI-thread timer);
    the tests outside this folder run with it on again."""
    yield
    gc.enable()


@pytest.fixture(autouse=True)
def collect_garbage_on_the_gui_thread():
    """Free each test's Qt objects here, on the GUI thread, not in a later test's worker."""
    yield
    gc.collect()


@pytest.fixture(autouse=True)
def no_leftover_qt_workers(qtbot):
    """Worker threads end on their own once stopped (closing a window never waits for them):
    they must all have ended within a second of the test."""
    yield
    with contextlib.suppress(qtbot.TimeoutError):  # said below, with the threads' names
        qtbot.waitUntil(lambda: not live_workers(), timeout=1000)
    assert not live_workers(), f"test left worker threads running: {live_workers()}"


@pytest.fixture(autouse=True)
def gui_stall_watchdog(qapp, monkeypatch):
    """Fail a test in which the app kept the event loop from being serviced for over 250 ms."""
    watchdog = StallWatchdog()
    exec_loop = qt_api.exec
    monkeypatch.setattr(qt_api, "exec", lambda loop: watchdog.run(exec_loop, loop))
    watchdog.timer.start()
    yield watchdog
    watchdog.timer.stop()
    assert watchdog.worst <= STALL_LIMIT_S, (
        f"the GUI thread stalled for {1000 * watchdog.worst:.0f} ms"
    )


@pytest.fixture(autouse=True)
def questions(monkeypatch):
    """Modal questions (discard unsaved work?) answered "Discard" and recorded, so that no test
    waits for a click; a test may set ``questions.answer`` and read ``questions.asked``."""

    class Questions:
        def __init__(self) -> None:
            self.answer = QMessageBox.StandardButton.Discard
            self.asked: list[str] = []

    recorded = Questions()

    def question(_parent, title, text, *_args, **_kwargs):
        recorded.asked.append(f"{title}: {text}")
        return recorded.answer

    monkeypatch.setattr(QMessageBox, "question", question)
    return recorded


@pytest.fixture
def open_window(qtbot):
    """Open the real main window on a model file and wait until it shows its first decode."""

    def open_(path):
        window = create_main_window(path)
        qtbot.addWidget(window)
        window.show()
        with qtbot.waitSignals(
            [window.modelOpened, window.imageDisplayed, window.samplesDisplayed], timeout=10_000
        ):
            pass
        return window

    yield open_
