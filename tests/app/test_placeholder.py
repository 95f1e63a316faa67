"""What stands where a view will be: it says once that it was painted."""

from __future__ import annotations

from helpers import PaintCounter
from PySide6.QtCore import QTimer

from latentlab.app.placeholder import ViewSlot


def test_the_slot_tells_its_first_paint_once(qtbot):
    slot = ViewSlot("slot")
    qtbot.addWidget(slot)
    counter = PaintCounter()
    slot.installEventFilter(counter)
    painted: list[int] = []
    slot.firstPainted.connect(lambda: painted.append(1))
    slot.show()
    qtbot.waitUntil(lambda: painted == [1])
    paints = counter.paints
    slot.update()
    qtbot.waitUntil(lambda: counter.paints > paints)  # painted again
    # a second signal would come in the turn after that paint: let that turn pass
    turned: list[int] = []
    QTimer.singleShot(0, lambda: turned.append(1))
    qtbot.waitUntil(lambda: turned == [1])
    assert painted == [1]
