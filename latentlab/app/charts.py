"""The charts of the panels (EM's log-likelihood, inversion error, KL), and how every plot's axes
follow presentation mode."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QLineF, QObject, QRectF
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QWidget

from latentlab.app.placeholder import Placeholder

__all__ = [
    "PanelChart",
    "ViewGrid",
    "cache_axes",
    "draw_as_segments",
    "panel_chart",
    "scale_axes",
    "show_view_grid",
]

# Every plot of the app is made by a module that imports this one (the main window's map is
# built only after the window is on screen: pyqtgraph takes 0.5-0.7 s to import)
pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")


class ViewGrid(pg.GraphicsObject):
    """Light grid lines at the axes' ticks (the major ones darker), opaque, drawn inside the
    view behind what it shows. pyqtgraph's grid is drawn by the axes, translucent: Qt blended a
    translucent line pixel by pixel (15-20 ms per axis over a map-sized view), and an axis that
    draws the grid overlaps the whole view, where every small repaint of a full-screen map,
    such as the handle moving one step, cost Qt about 25 ms; drawn here, about 3 ms."""

    _GREYS = (239, 247, 250)  # per tick level, as the axes' grid looks on white

    def __init__(self, plot: pg.PlotItem) -> None:
        super().__init__()
        self._plot = plot
        self._pens = []
        for grey in self._GREYS:
            pen = QPen(QColor(grey, grey, grey))
            pen.setCosmetic(True)
            self._pens.append(pen)
        self.setZValue(-100)
        # repainted from a pixmap under what moves (points, a handle): Qt drew the lines anew
        # on every frame of the lab, 0.5 to 0.7 ms a view with the GIL held
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._lines: list[tuple[QPen, list[QLineF]]] = []  # finest level first
        self._lines_for: tuple[float, ...] = ()  # the view they were made for
        plot.vb.sigRangeChanged.connect(self._on_range_changed)

    def _on_range_changed(self) -> None:
        self.prepareGeometryChange()
        self.update()

    def boundingRect(self) -> QRectF:
        return self._plot.vb.viewRect()

    def _make_lines(self, rect: QRectF, width: float, height: float) -> None:
        """The lines at the axes' ticks for the view ``rect`` of ``width`` x ``height`` pixels
        (the ticks are worked out in Python: once per view, not at every repaint)."""
        self._lines = []
        for name, low, high, pixels in (
            ("bottom", rect.left(), rect.right(), width),
            ("left", rect.top(), rect.bottom(), height),
        ):
            levels = self._plot.getAxis(name).tickValues(low, high, pixels)
            for level, (_spacing, values) in reversed(list(enumerate(levels))):
                pen = self._pens[min(level, len(self._pens) - 1)]
                if name == "bottom":
                    lines = [QLineF(v, rect.top(), v, rect.bottom()) for v in values]
                else:
                    lines = [QLineF(rect.left(), v, rect.right(), v) for v in values]
                self._lines.append((pen, lines))

    def paint(self, painter: QPainter, *args: object) -> None:
        rect, view = self.boundingRect(), self._plot.vb.boundingRect()
        key = (rect.x(), rect.y(), rect.width(), rect.height(), view.width(), view.height())
        if key != self._lines_for:
            self._make_lines(rect, view.width(), view.height())
            self._lines_for = key
        for pen, lines in self._lines:
            painter.setPen(pen)
            painter.drawLines(lines)


def show_view_grid(plot: pg.PlotWidget) -> None:
    """Give ``plot`` (a white one) a light :class:`ViewGrid`."""
    plot.getPlotItem().vb.addItem(ViewGrid(plot.getPlotItem()), ignoreBounds=True)


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
    it is at least a sixth of the window's height (about a third of its panel's), and its
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
        self._window: QWidget | None = None  # followed in presentation mode
        self.placeholder = Placeholder(self, f"{name}Placeholder")
        self.placeholder.hide()

    def set_placeholder(self, text: str | None) -> None:
        """Say ``text`` over the chart until it has data; None: show the chart."""
        self.placeholder.setText(text or "")
        self.placeholder.setVisible(text is not None)

    def curve(self, colour: str, **options: Any) -> pg.PlotDataItem:
        """A new solid curve 2 px wide, with ``options`` of ``plot`` (a ``name`` for the legend,
        symbols)."""
        item = self.plot([], [], pen=pg.mkPen(colour, width=2), **options)
        draw_as_segments(item.curve)
        return item

    def set_presentation(self, on: bool, panel: QWidget) -> None:
        """Presentation mode on or off; ``panel`` is the panel the chart is in (its font)."""
        scale_axes(self, on, panel.font())  # a chart not yet in its panel has the default
        if self._window is not None:
            self._window.removeEventFilter(self)
        self._window = panel.window() if on else None
        if self._window is not None:
            self._window.installEventFilter(self)
        self._follow()

    def _follow(self) -> None:
        # A sixth of the window, not a third of the panel: the panel's height follows its
        # minimum, which the chart's own minimum is part of, and following it laid the window
        # out five or six times over when a model opened (150-270 ms of the GUI thread,
        # scripts/soak.py). At 1920x1080 the panel is then about three charts high; a sixth
        # also keeps the window within a 1280x720 projector.
        sixth = self._window.height() // 6 if self._window is not None else 0
        self.setMinimumHeight(max(self._normal_height, sixth))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() == QEvent.Type.Resize:
            self._follow()
        return super().eventFilter(watched, event)


def draw_as_segments(curve: pg.PlotCurveItem) -> None:
    """Have Qt draw ``curve`` as line segments rather than as one path: an antialiased line
    wider than a pixel drawn as a path cost 7 to 25 times more (a 300-point training curve, 2 px
    wide: 12 ms a repaint in the lab window at 1920x1080, with the GIL held, which the fit's
    thread needed). Only for opaque, solid pens, where the segments' overlapping ends blend."""
    curve.setSegmentedLineMode("on")


def panel_chart(name: str, x_label: str, y_label: str, min_height: int = 100) -> PanelChart:
    """A :class:`PanelChart`."""
    return PanelChart(name, x_label, y_label, min_height)
