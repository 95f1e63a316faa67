"""The charts of the panels (EM's log-likelihood, inversion error, KL), and how every plot's axes
follow presentation mode."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QWidget

__all__ = ["PanelChart", "cache_axes", "panel_chart", "scale_axes", "show_grid"]

GRID_ALPHA = 0.15  # how dark the grid lines are, as pyqtgraph's showGrid(alpha=...)


class GridAxis(pg.AxisItem):
    """An axis whose grid lines are opaque, blended with the white background here, and which
    sits behind the plot's contents. pyqtgraph's grid lines are translucent, and Qt blends a
    translucent vertical line pixel by pixel: over a map-sized view each axis took 15-20 ms
    to draw, an opaque one under 1 ms."""

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation)
        self.setGrid(GRID_ALPHA)

    def generateDrawSpecs(self, p: QPainter) -> tuple | None:  # type: ignore[type-arg]
        specs = super().generateDrawSpecs(p)
        if specs is None or self.grid is False:
            return specs
        axis, ticks, texts = specs
        return axis, [(_on_white(pen), start, end) for pen, start, end in ticks], texts


def _on_white(pen: QPen) -> QPen:
    """``pen`` with its colour as it looks, translucent, over white; opaque."""
    colour = pen.color()
    alpha = colour.alphaF()
    opaque = QPen(pen)
    red, green, blue = (
        c * alpha + 1.0 - alpha for c in (colour.redF(), colour.greenF(), colour.blueF())
    )
    opaque.setColor(QColor.fromRgbF(red, green, blue))
    return opaque


def show_grid(plot: pg.PlotWidget) -> None:
    """Give ``plot`` (a white one) a light grid, drawn by :class:`GridAxis` behind what the
    plot shows."""
    item = plot.getPlotItem()
    item.setAxisItems({"left": GridAxis("left"), "bottom": GridAxis("bottom")})
    for name in ("left", "bottom"):
        item.getAxis(name).setZValue(-1)  # the lines are opaque: keep them under the points


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
    it takes at least a third of its panel's height (at most a sixth of the window's), and its
    axes' text scales."""

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
        # A third of the panel, but no more than a sixth of the window: on a 1280x720
        # projector the charts' and the panels' other minimums made the window taller than
        # the screen.
        third = min(panel.height() // 3, panel.window().height() // 6) if self._panel else 0
        self.setMinimumHeight(max(self._normal_height, third))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._panel and event.type() == QEvent.Type.Resize:
            self._follow(self._panel)
        return super().eventFilter(watched, event)


def panel_chart(name: str, x_label: str, y_label: str, min_height: int = 100) -> PanelChart:
    """A :class:`PanelChart`."""
    return PanelChart(name, x_label, y_label, min_height)
