"""Presentation mode, for talks: full screen, text 1.5 times larger, the model panel and menu
bar hidden, the image given most of its column, and the keyboard on the map."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QMainWindow, QSplitter, QWidget

from latentlab.app.charts import scale_axes
from latentlab.app.map_view import MapView

__all__ = ["Presentation"]

SCALE = 1.5


class Presentation:
    """Switches ``window`` in and out of presentation mode: ``hidden`` widgets disappear and
    ``column`` (the image above the tabs) gives the image three fifths of its height (the
    panels below keep room for a readable table or chart at the larger text size)."""

    def __init__(
        self, window: QMainWindow, column: QSplitter, map_view: MapView, hidden: list[QWidget]
    ) -> None:
        self.window, self.column, self.map_view, self.hidden = window, column, map_view, hidden
        self._normal_sizes: list[int] = []
        self.on = False

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
        central.setFont(font)
        scale_axes(self.map_view, on)
        for widget in (*self.hidden, self.window.menuBar()):
            widget.setVisible(not on)
        if on:
            total = sum(self._normal_sizes)
            self.column.setSizes([total * 3 // 5, total - total * 3 // 5])
            self.window.showFullScreen()
            self.map_view.setFocus()
        else:
            self.column.setSizes(self._normal_sizes)
            self.window.showNormal()
