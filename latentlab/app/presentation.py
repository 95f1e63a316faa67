"""Presentation mode, for talks: full screen, text 1.5 times larger, the model panel and menu
bar hidden, the image given most of its column, and the keyboard on the map."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QSplitter, QWidget

if TYPE_CHECKING:  # the map is built once the window is on screen, with pyqtgraph
    from latentlab.app.map_view import MapView

__all__ = ["Presentation"]

SCALE = 1.5
SETTLE_MS = 500  # the longest the window waits, unpainted, for its new size


class Presentation(QObject):
    """Switches ``window`` in and out of presentation mode: ``hidden`` widgets disappear and
    ``column`` (the image above the tabs) gives the image three fifths of its height (the
    panels below keep room for a readable table or chart at the larger text size)."""

    def __init__(
        self, window: QMainWindow, column: QSplitter, map_area: QWidget, hidden: list[QWidget]
    ) -> None:
        super().__init__(window)
        self.window, self.column, self.hidden = window, column, hidden
        self.map_area = map_area  # what the keyboard goes to: the map, or what stands for it
        self.map_view: MapView | None = None  # once built
        self._normal_sizes: list[int] = []
        self.on = False
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self._paint_again)

    def set(self, on: bool) -> None:
        if on == self.on:
            return
        self.on = on
        if on:
            self._normal_sizes = self.column.sizes()
        font = self.window.font()
        size = QApplication.font().pointSizeF()
        font.setPointSizeF(size * SCALE if on else size)
        central = self.window.centralWidget()
        assert central is not None  # the main window sets it before presenting can start
        # Nothing is painted until the window has its new size: painted at each step of the
        # change (the new font, the hidden panel, then the full screen arriving from the window
        # system), the map and the charts were drawn four or five times, 40-60 ms each.
        central.setUpdatesEnabled(False)
        self.window.installEventFilter(self)
        self._settle.start()
        central.setFont(font)
        self._scale_map_axes()
        for widget in (*self.hidden, self.window.menuBar()):
            widget.setVisible(not on)
        if on:
            total = sum(self._normal_sizes)
            self.column.setSizes([total * 3 // 5, total - total * 3 // 5])
            self.window.showFullScreen()
            self.map_area.setFocus()
        else:
            self.column.setSizes(self._normal_sizes)
            self.window.showNormal()

    def show_map(self, view: MapView) -> None:
        """The map, built where ``map_area`` stood: its axes follow the mode from now on."""
        had_focus = self.map_area.hasFocus()
        self.map_area = self.map_view = view
        if self.on:
            self._scale_map_axes()
        if had_focus:
            view.setFocus()

    def _scale_map_axes(self) -> None:
        if self.map_view is not None:
            from latentlab.app.charts import scale_axes  # loaded with the map

            scale_axes(self.map_view, self.on)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Resize:
            QTimer.singleShot(0, self._paint_again)  # once the layout has followed the size
        return False

    def _paint_again(self) -> None:
        self._settle.stop()
        self.window.removeEventFilter(self)
        central = self.window.centralWidget()
        if central is not None:
            central.setUpdatesEnabled(True)
