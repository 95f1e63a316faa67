"""Driving the real main window in tests, as a person would (needs PySide6 and pytest-qt): open
a model, drag the map's handle, draw samples, show the family panel. The fixtures of
``latentlab.testing.pytest_plugin`` are built on these; LatentLab's own GUI tests use them too.

The helpers wait through pytest-qt's event loop (``qt_api.exec``), so that a stall watchdog
installed there (:class:`StallWatchdog`) measures their waits as it measures ``qtbot``'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEventLoop, QPointF, QTimer
from pytestqt.qt_compat import qt_api

from latentlab.app import create_main_window
from latentlab.app.automation import drag_steps

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from latentlab.app.family_panel import FamilyPanel
    from latentlab.app.main_window import MainWindow
    from latentlab.explore.explorer import Samples

__all__ = [
    "StallWatchdog",
    "drag_handle",
    "open_family_panel",
    "open_main_window",
    "sample",
    "wait_until",
]

TIMEOUT_MS = 10_000


class StallWatchdog:
    """The longest time the GUI thread's event loop went unserviced while a test waited on it
    (a 10 ms timer's ticks, counted only inside pytest-qt's waits: the test's own code between
    waits is not the app's doing). Install it by wrapping ``qt_api.exec`` in :meth:`run`."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last: float | None = None
        self.worst = 0.0

    def _measure(self) -> None:
        if self.last is not None:
            self.worst = max(self.worst, time.perf_counter() - self.last)

    def _tick(self) -> None:
        self._measure()
        self.last = time.perf_counter()

    def run(self, loop_exec: Callable[[Any], Any], loop: Any) -> Any:
        self.last = time.perf_counter()
        try:
            return loop_exec(loop)
        finally:
            self._measure()
            self.last = None


def wait_until(predicate: Callable[[], object], timeout_ms: int = TIMEOUT_MS) -> None:
    """Run the event loop until ``predicate()`` is true; ``TimeoutError`` after ``timeout_ms``."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {timeout_ms} ms")
        loop = QEventLoop()
        QTimer.singleShot(5, loop.quit)
        qt_api.exec(loop)  # type: ignore[no-untyped-call]  # (where a watchdog measures)


def open_main_window(
    qtbot: QtBot, path: str | Path, timeout_ms: int = TIMEOUT_MS, device: str = "cpu"
) -> MainWindow:
    """The real main window on model file ``path``, its model on ``device`` (the CPU unless
    told: a test suite's figures should not depend on the machine's GPU), shown, once it has
    opened the model, shown its first image and filled its sampling grid (``qtbot`` closes it
    at the test's end)."""
    window = create_main_window(path, device=device)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignals(
        [window.modelOpened, window.imageDisplayed, window.samplesDisplayed], timeout=timeout_ms
    ):
        pass
    return window


def _settled(window: MainWindow) -> bool:
    return window.shown_seq == window.requested_seq


def drag_handle(window: MainWindow, steps: int = 20, step_px: float = 8.0) -> tuple[float, float]:
    """Drag the map's handle with the mouse, ``steps`` moves of ``step_px`` pixels down and to
    the right, waiting a moment between moves as a hand would; returns the handle's plane
    coordinates once the image shows the decode of where it ended. The model must have a
    latent (``window.map_box`` is shown only then)."""
    if window.explorer.state is None:
        raise ValueError("this model has no latent space: there is no handle to drag")
    view = window.map_view
    start = view.handle_scene_position()
    path = [QPointF(start.x() + i * step_px, start.y() + i * step_px / 2) for i in range(steps + 1)]
    for _ in drag_steps(view, path):
        wait_until(lambda: True)  # one turn of the event loop between moves
    wait_until(lambda: _settled(window))
    return view.handle_position()


def sample(window: MainWindow, timeout_ms: int = TIMEOUT_MS) -> Samples:
    """Click Sample and wait until the grid shows the new samples; returns them."""
    shown: list[bool] = []

    def on_shown() -> None:
        shown.append(True)

    window.samplesDisplayed.connect(on_shown)
    try:
        window.sample_panel.button.click()
        wait_until(lambda: shown, timeout_ms)
    finally:
        window.samplesDisplayed.disconnect(on_shown)
    samples = window.explorer.samples
    assert samples is not None
    return samples


def open_family_panel(window: MainWindow) -> FamilyPanel | None:
    """Bring the open model's family panel forward and return it; None if its family has
    none."""
    panel = window.family_panel
    if panel is not None:
        window.tabs.setCurrentWidget(panel)
    return panel
