"""Steps spread over turns of the event loop: each runs after the paint the one before caused."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from latentlab.app.turns import Throttle, TurnQueue


class PaintRecorder(QWidget):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    def paintEvent(self, _event: object) -> None:
        self.events.append("paint")


def test_steps_run_in_order_each_after_the_paint_the_one_before_asked_for(qtbot):
    events: list[str] = []
    widget = PaintRecorder(events)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.waitUntil(lambda: "paint" in events)
    events.clear()
    turns = TurnQueue(widget)

    def step(name: str) -> None:
        events.append(name)
        widget.update()

    for name in ("map", "panel", "last"):
        turns.add(lambda name=name: step(name))
    assert events == []  # nothing runs in the turn that adds the steps
    qtbot.waitUntil(lambda: events[-1:] == ["paint"] and "last" in events)
    assert events == ["map", "paint", "panel", "paint", "last", "paint"]


def test_a_step_that_raises_does_not_stop_the_others_and_clear_drops_the_rest(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    turns = TurnQueue(parent)
    ran: list[str] = []

    def fails() -> None:
        ran.append("fails")
        raise RuntimeError("a step that fails")

    turns.add(fails)
    turns.add(lambda: ran.append("next"))
    with qtbot.captureExceptions() as raised:
        qtbot.waitUntil(lambda: ran == ["fails", "next"])
    assert [str(exc) for _, exc, _ in raised] == ["a step that fails"]
    turns.add(lambda: ran.append("dropped"))
    turns.clear()
    turns.add(lambda: ran.append("after"))  # it would come after the dropped one
    qtbot.waitUntil(lambda: "after" in ran)
    assert ran == ["fails", "next", "after"]


def test_a_throttle_draws_the_latest_once_however_many_updates_came(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    state = {"value": 0}
    drawn: list[int] = []
    throttle = Throttle(parent, lambda: drawn.append(state["value"]), interval_ms=20)
    for value in range(1, 501):  # previews faster than frames
        state["value"] = value
        throttle.request()
    assert drawn == []  # not in the turn of the updates
    qtbot.waitUntil(lambda: drawn == [500])
    throttle.flush()  # nothing pending: nothing drawn
    state["value"] = 501
    throttle.request()
    throttle.flush()  # the updates have ended: drawn at once, and not again
    assert drawn == [500, 501]
    throttle.request()
    qtbot.waitUntil(lambda: len(drawn) == 3)
    assert drawn == [500, 501, 501]


def test_a_step_with_a_key_replaces_the_waiting_one_of_that_key(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    turns = TurnQueue(parent)
    ran: list[str] = []
    turns.add(lambda: ran.append("panel of model A"), key="panel")
    turns.add(lambda: ran.append("map"))
    turns.add(lambda: ran.append("panel of model B"), key="panel")  # A's would be stale
    qtbot.waitUntil(lambda: "panel of model B" in ran)
    assert ran == ["map", "panel of model B"]
