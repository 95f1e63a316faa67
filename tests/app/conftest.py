from __future__ import annotations

import gc

import pytest

from latentlab.app import create_main_window
from latentlab.app.worker import live_workers


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
def no_leftover_qt_workers():
    yield
    assert not live_workers(), f"test left worker threads running: {live_workers()}"


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
