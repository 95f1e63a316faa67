"""What stands where a view will be: it says once that it was painted."""

from __future__ import annotations

from latentlab.app.placeholder import ViewSlot


def test_the_slot_tells_its_first_paint_once(qtbot):
    slot = ViewSlot("slot")
    qtbot.addWidget(slot)
    painted: list[int] = []
    slot.firstPainted.connect(lambda: painted.append(1))
    slot.show()
    qtbot.waitUntil(lambda: painted == [1])
    slot.update()
    qtbot.wait(50)
    assert painted == [1]
