"""What stands where a view will be: it says once that it was painted."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer

from latentlab.app.placeholder import ViewSlot


class PaintCounter(QObject):
    """Counts the paint events a widget receives."""

    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


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
