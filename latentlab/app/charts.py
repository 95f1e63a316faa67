"""The charts of the panels (EM's log-likelihood, inversion error, KL), and how every plot's axes
follow presentation mode."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGraphicsItem, QWidget

__all__ = ["PanelChart", "cache_axes", "panel_chart", "scale_axes"]


def scale_axes(plot: pg.PlotWidget, on: bool, font: QFont | None = None) -> None:
    """Give ``plot``'s axis text ``font`` (default: the plot's own, already scaled in
    presentation mode) when ``on``, pyqtgraph's small default when off."""
    font = plot.font() if font is None else font
    for name in ("left", "bottom"):
        axis = plot.getPlotItem().getAxis(name)
        axis.setStyle(tickFont=font if on else None)
        axis.label.setFont(font)


def cache_axes(plot: pg.PlotWidget) -> None:
    """Draw ``plot``'s axes from a pixmap until their range or style changes: a plot's axes
    are repainted with everything else it shows, and their Python paint code (a few ms each)
    holds the lock the model worker needs."""
    for name in ("left", "bottom"):
        axis = plot.getPlotItem().getAxis(name)
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


class PanelChart(pg.PlotWidget):
    """A white plot that the mouse does not pan or zoom, named for tests. In presentation mode
    it takes at least a third of its panel's height, and its axes' text scales."""

    def __init__(self, name: str, x_label: str, y_label: str, min_height: int) -> None:
        super().__init__(enableMenu=False)  # no context menu: building it is most of the cost
        self.setObjectName(name)
        self.setBackground("w")
        self.setLabel("bottom", x_label)
        self.setLabel("left", y_label)
        self.setMouseEnabled(False, False)
        self.setMinimumHeight(min_height)
        cache_axes(self)
        self._normal_height = min_height
        self._panel: QWidget | None = None

    def set_presentation(self, on: bool, panel: QWidget) -> None:
        """Presentation mode on or off; ``panel`` is the panel whose height the chart follows."""
        scale_axes(self, on, panel.font())  # a chart not yet in its panel has the default
        if self._panel is not None:
            self._panel.removeEventFilter(self)
        self._panel = panel if on else None
        if on:
            panel.installEventFilter(self)
        self._follow(panel)

    def _follow(self, panel: QWidget) -> None:
        third = panel.height() // 3 if self._panel is not None else 0
        self.setMinimumHeight(max(self._normal_height, third))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._panel and event.type() == QEvent.Type.Resize:
            self._follow(self._panel)
        return super().eventFilter(watched, event)


def panel_chart(name: str, x_label: str, y_label: str, min_height: int = 100) -> PanelChart:
    """A :class:`PanelChart`."""
    return PanelChart(name, x_label, y_label, min_height)
