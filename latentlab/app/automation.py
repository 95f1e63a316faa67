"""Driving the real window with synthetic mouse input, as a person would: used by the GUI tests
and the interaction benchmark."""

from __future__ import annotations

import math
from collections.abc import Iterator

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QGraphicsView, QWidget

__all__ = ["circle_path", "drag_steps", "send_mouse"]


def send_mouse(
    widget: QWidget,
    kind: QEvent.Type,
    pos: QPointF,
    buttons: Qt.MouseButton = Qt.MouseButton.LeftButton,
) -> None:
    """Deliver one mouse event at ``pos`` (widget coordinates) synchronously."""
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    global_pos = QPointF(widget.mapToGlobal(pos.toPoint()))
    event = QMouseEvent(kind, pos, global_pos, button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def drag_steps(view: QGraphicsView, path: list[QPointF]) -> Iterator[int]:
    """Press at ``path[0]`` in a graphics view, move through the rest, release at the end.

    A generator: yields the index after each move so the caller can run the event loop and
    measure between steps.
    """
    viewport = view.viewport()
    send_mouse(viewport, QEvent.Type.MouseButtonPress, path[0])
    for i, point in enumerate(path[1:], start=1):
        send_mouse(viewport, QEvent.Type.MouseMove, point)
        yield i
    send_mouse(viewport, QEvent.Type.MouseButtonRelease, path[-1], Qt.MouseButton.NoButton)


def circle_path(start: QPointF, radius: float, steps: int, turns: float = 1.0) -> list[QPointF]:
    """``steps + 1`` points: from ``start`` around a circle through it, ``turns`` times."""
    points = []
    for i in range(steps + 1):
        angle = 2 * math.pi * turns * i / steps
        points.append(
            QPointF(
                start.x() + radius * math.sin(angle), start.y() - radius * (1 - math.cos(angle))
            )
        )
    return points
