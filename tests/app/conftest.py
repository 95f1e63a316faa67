from __future__ import annotations

import contextlib
import gc

import pyqtgraph as pg
import pytest
from PySide6.QtWidgets import QMessageBox

from latentlab.app.worker import live_workers
from latentlab.testing.pytest_plugin import latentlab_stall_watchdog  # noqa: F401  (a fixture)
from latentlab.testing.qt import open_main_window


@pytest.fixture(autouse=True, scope="package")
def automatic_garbage_collection_after_the_app_tests():
    """The app turns automatic cycle collection off (it collects on a GUI-thread timer);
    the tests outside this folder run with it on again."""
    import latentlab.app

    if latentlab.app._collector is not None:  # a window opened before (tests/plugins): off again
        gc.disable()
    yield
    gc.enable()


@pytest.fixture(autouse=True)
def collect_garbage_on_the_gui_thread():
    """Free each test's Qt objects here, on the GUI thread, not in a later test's worker; then
    freeze what survives (modules imported since, the suite's own objects), as the app freezes
    what the libraries made at its start: a full collection walking a whole test session's
    objects held the GUI thread for 160-230 ms, close to the stall watchdog's limit."""
    yield
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def no_leftover_qt_workers(qtbot):
    """Worker threads end on their own once stopped (closing a window never waits for them):
    they must all have ended within a second of the test."""
    yield
    with contextlib.suppress(qtbot.TimeoutError):  # said below, with the threads' names
        qtbot.waitUntil(lambda: not live_workers(), timeout=1000)
    assert not live_workers(), f"test left worker threads running: {live_workers()}"


@pytest.fixture(autouse=True)
def gui_stall_watchdog(latentlab_stall_watchdog):  # noqa: F811  (the fixture imported)
    """Fail a test in which the app kept the event loop from being serviced for over 250 ms
    (latentlab.testing's watchdog, which plugin authors' GUI tests use too)."""
    return latentlab_stall_watchdog


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
def every_mouse_move():
    """pyqtgraph drops moves above 100 per second; a synthetic drag sends them faster, so let
    every one through (more work for Qt than a real hand gives it)."""
    rate = pg.getConfigOption("mouseRateLimit")
    pg.setConfigOption("mouseRateLimit", -1)
    yield
    pg.setConfigOption("mouseRateLimit", rate)


@pytest.fixture
def open_window(qtbot):
    """Open the real main window on a model file and wait until it shows its first decode."""

    def open_(path):
        return open_main_window(qtbot, path)

    yield open_


@pytest.fixture
def pixelrnn_window(open_window, tmp_path, monkeypatch):
    """The window on a tiny untrained PixelRNN, painting without pauses; (window, its panel)."""
    import torch
    from helpers import write_untrained

    from latentlab.app import pixelrnn_panel
    from latentlab.models.pixelrnn import PixelRNN, PixelRNNConfig

    monkeypatch.setattr(pixelrnn_panel, "_SECONDS", 0.0)
    torch.manual_seed(0)
    path = write_untrained(
        tmp_path / "tiny-pixelrnn.safetensors", PixelRNN(PixelRNNConfig(hidden=8, layers=1)).eval()
    )
    window = open_window(path)
    return window, window.family_panel
