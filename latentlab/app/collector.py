"""Python's cycle collector, run on the GUI thread on a timer, the oldest generation often.

Collection runs in whichever thread happens to allocate when it is due: in a model worker it
freed the GUI's Qt objects there, and Qt deadlocked (a worker thread in ``~QObject`` waiting
for the GIL, the GUI thread holding it and waiting for that object's lock). So automatic
collection is off and a GUI-thread timer collects instead, as pyqtgraph's ``GarbageCollector``
does. Unlike it, the oldest generation is collected every ``FULL_EVERY_S`` seconds: the app
makes garbage there at a steady pace (a closed window, a replaced model and its panels live
long enough to reach it before they end in cycles), and pyqtgraph's counts collected it about
every ten minutes, 33,000 to 38,000 objects at once, holding the GUI thread 245-280 ms
(``scripts/soak.py``). A minute of a soak leaves 2,500 to 8,100 objects there, which a full
collection walks in 9-20 ms and frees in 20-48 ms.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

__all__ = ["FULL_EVERY_S", "GuiThreadCollector"]

CHECK_EVERY_MS = 1000
FULL_EVERY_S = 20.0


class GuiThreadCollector(QObject):
    """Turns automatic collection off; every ``CHECK_EVERY_MS`` collects the young generations
    whose counts passed Python's thresholds, and everything every ``FULL_EVERY_S`` seconds."""

    def __init__(self) -> None:
        super().__init__()
        self._thresholds = gc.get_threshold()
        self._last_full = time.monotonic()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.check)
        self._timer.start(CHECK_EVERY_MS)

    def check(self) -> None:
        now = time.monotonic()
        if now - self._last_full >= FULL_EVERY_S:
            gc.collect(2)
            self._last_full = now
            return
        allocated, young, _ = gc.get_count()
        if allocated > self._thresholds[0]:
            gc.collect(1 if young > self._thresholds[1] else 0)
