"""Work spread over turns of the event loop: steps run one per turn (:class:`TurnQueue`), and
views that a stream of updates changes drawn at most once per interval (:class:`Throttle`).

Opening a model installs it, draws its map and builds its family panel. Run in one turn, or in
zero-delay callbacks that Qt runs back to back, those steps and the repaint they cause held the
GUI thread for 150 to 230 ms at 1920x1080 (the longest stalls of scripts/soak.py). Each step here
runs from its own timer, so that the paint and the input that the step before caused are served
in between. A painting's previews came faster than its panel drew them: they piled up in the
event queue and were drawn back to back, holding the GUI thread for seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer

__all__ = ["Throttle", "TurnQueue"]

# between two steps: longer than the ~5 ms after which the platform delivers a repaint asked for
# (and than a 60 Hz frame), so that the repaint a step caused comes before the next step
GAP_MS = 20


class TurnQueue(QObject):
    """Steps run one per turn of the event loop, in the order they were added."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._steps: deque[tuple[str | None, Callable[[], object]]] = deque()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(GAP_MS)
        self._timer.timeout.connect(self._run_next)

    def add(self, step: Callable[[], object], key: str | None = None) -> None:
        """Run ``step`` in a later turn, after the steps added before it. A step with a ``key``
        replaces the one of that key still waiting (it would do the same for an older state,
        and hold that state until it ran)."""
        if key is not None:
            self._steps = deque(item for item in self._steps if item[0] != key)
        self._steps.append((key, step))
        if not self._timer.isActive():
            self._timer.start()

    def clear(self) -> None:
        """Drop the steps not run yet (the window closes)."""
        self._steps.clear()
        self._timer.stop()

    def _run_next(self) -> None:
        if not self._steps:
            return
        _key, step = self._steps.popleft()
        try:
            step()
        finally:  # a step that raised (reported by the app's hook) does not stop the others
            if self._steps:
                self._timer.start()


class Throttle(QObject):
    """``draw`` called at most once per ``interval_ms``, after :meth:`request`: a view that
    keeps what its updates changed draws the latest of them, however fast they come."""

    def __init__(self, parent: QObject, draw: Callable[[], object], interval_ms: int = 30) -> None:
        super().__init__(parent)
        self._draw = draw
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(draw)

    def request(self) -> None:
        """Draw within the interval (once, however often asked meanwhile)."""
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Draw now if a draw is pending (the updates have ended)."""
        if self._timer.isActive():
            self._timer.stop()
            self._draw()
