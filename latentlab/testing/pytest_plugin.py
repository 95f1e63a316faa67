"""Pytest fixtures that open LatentLab's real main window on a model file and drive it (needs
PySide6 and pytest-qt). Enable them in your top-level ``conftest.py``::

    pytest_plugins = ["latentlab.testing.pytest_plugin"]

then::

    from latentlab.testing.qt import drag_handle, sample

    def test_my_family_in_the_app(latentlab_window, my_model_file):
        window = latentlab_window(my_model_file)  # waits for the model and its first image
        drag_handle(window, steps=10)
        assert sample(window).images.shape[0] == 16

Fixtures: ``latentlab_window``, a factory ``open(model_path) -> MainWindow``, whose windows are
closed, and their worker threads ended, at the test's end; ``latentlab_stall_watchdog``, which
fails a test in which the GUI thread stalled for longer than ``STALL_LIMIT_S`` while the test
waited on it. Helpers (``latentlab.testing.qt``): ``drag_handle(window, steps)``,
``sample(window)``, ``open_family_panel(window)``.

The app turns Python's automatic garbage collection off for as long as it runs (it collects on a
GUI-thread timer); it stays off after these tests.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pytestqt.qt_compat import qt_api

from latentlab.app.worker import live_workers
from latentlab.testing.qt import StallWatchdog, open_main_window, wait_until

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from latentlab.app.main_window import MainWindow

__all__ = ["STALL_LIMIT_S", "latentlab_stall_watchdog", "latentlab_window"]

STALL_LIMIT_S = 0.25


@pytest.fixture
def latentlab_window(qtbot: QtBot) -> Iterator[Callable[[str | Path], MainWindow]]:
    """A factory: ``open(model_path)`` opens the real main window on a model file and returns
    it once the model is open, its first image shown and its samples drawn."""
    windows: list[MainWindow] = []

    def open_(path: str | Path) -> MainWindow:
        window = open_main_window(qtbot, path)
        windows.append(window)
        return window

    yield open_
    for window in windows:
        window.close()
    try:
        wait_until(lambda: not live_workers(), 5000)
    except TimeoutError:
        pytest.fail(f"worker threads still running after the test: {live_workers()}")
    gc.collect()  # the windows' Qt objects freed here, on the GUI thread


@pytest.fixture
def latentlab_stall_watchdog(
    qapp: object, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StallWatchdog]:
    """Fail the test if the app kept the event loop from being serviced for over
    ``STALL_LIMIT_S`` while the test waited (in pytest-qt's waits or the helpers')."""
    watchdog = StallWatchdog()
    exec_loop = qt_api.exec
    monkeypatch.setattr(qt_api, "exec", lambda loop: watchdog.run(exec_loop, loop))
    watchdog.timer.start()
    yield watchdog
    watchdog.timer.stop()
    if watchdog.worst > STALL_LIMIT_S:
        pytest.fail(f"the GUI thread stalled for {1000 * watchdog.worst:.0f} ms")
