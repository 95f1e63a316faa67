"""What a view says until it has something to show, and what stands where a view is built
later. Qt only: the window shows these before pyqtgraph has loaded."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QLabel, QWidget

__all__ = ["Placeholder", "ViewSlot"]


class Placeholder(QLabel):
    """What a view says until it has something to show, covering it (an empty plot's axes
    from 0 to 1 tell a person nothing). It follows the view's size."""

    def __init__(self, view: QWidget, name: str, text: str = "") -> None:
        super().__init__(text, view)
        self.setObjectName(name)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setStyleSheet("background: white; color: #606060; padding: 8px;")
        self.setGeometry(view.rect())
        view.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parent() and isinstance(watched, QWidget):
            if event.type() == QEvent.Type.Resize:
                self.setGeometry(watched.rect())
            elif event.type() == QEvent.Type.FontChange:  # presentation mode: a style-sheeted
                self.setFont(watched.font())  # label no longer takes its parent's font
        return False


class ViewSlot(QWidget):
    """Stands where a view will be, saying what it would say (``placeholder``), until the view
    is built and takes its place. Emits ``firstPainted`` once, in the turn of the event loop
    after the slot was first painted: the moment to build the view without delaying the
    window's first appearance."""

    firstPainted = Signal()

    def __init__(self, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.placeholder = Placeholder(self, f"{name}Placeholder")
        self._painted = False

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            QTimer.singleShot(0, self, self.firstPainted.emit)  # not once the slot is gone
