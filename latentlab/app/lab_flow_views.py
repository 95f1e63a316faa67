"""The lab's three square plots of a flow: the data space x (a heat map of p(x) or of
log|det ∂z/∂x|, the points, samples and the cursor), the latent space z (the standard Gaussian
and the data pushed through G^-1), and the plane after layer i (the warped grid and points, the
copied and transformed coordinates marked). Every item is created once and updated in place."""

from __future__ import annotations

import functools
import math

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import internals
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPainter, QPixmap
from PySide6.QtWidgets import QGraphicsItem

from latentlab.app.charts import cache_axes, draw_as_segments, show_view_grid
from latentlab.explore.lab_flow import Box, FlowLabView

__all__ = [
    "ColouredPoints",
    "DataPlot",
    "Dots",
    "LatentPlot",
    "LayerPlot",
    "SquarePlot",
    "colour_groups",
    "polylines",
]

POINT_COLOUR = (20, 20, 20, 150)  # on white
LIT_POINT_COLOUR = (235, 235, 235, 80)  # over the heat map's dark low-density colours
SAMPLE_COLOUR = (255, 80, 40, 190)
COPIED_COLOUR = "#7f7f7f"
TRANSFORMED_COLOUR = "#ff7f0e"
HUES = 8
_CIRCLE = np.linspace(0.0, 2.0 * np.pi, 97)


@functools.cache
def _colour_map(name: str) -> pg.ColorMap:
    return pg.colormap.get(name)  # read from a file: once


class SquarePlot(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph is untyped
    """A white plot with equal axis scales, named ``name`` for tests."""

    def __init__(self, name: str, title: str) -> None:
        super().__init__(title=title)
        self.setObjectName(name)
        self.setBackground("w")
        self.setAspectLocked(True)
        show_view_grid(self)
        self.setMinimumSize(220, 220)
        cache_axes(self)  # they were a quarter of each frame's painting


def polylines(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``lines`` (L, P, 2) as the x, y and connect arrays of one curve item that draws L
    separate polylines (one item is far faster than L)."""
    count, length = lines.shape[:2]
    connect = np.ones((count, length), dtype=np.int32)
    connect[:, -1] = 0
    flat = lines.reshape(-1, 2)
    return flat[:, 0], flat[:, 1], connect.ravel()


def colour_groups(points: np.ndarray, hues: int = HUES) -> list[np.ndarray]:
    """The indices of the points in each of ``hues`` colour groups, by their angle around the
    data's centre, so that the same points can be followed through every layer."""
    centred = points - points.mean(axis=0) if len(points) else points
    angle = np.arctan2(centred[:, 1], centred[:, 0]) / (2 * np.pi) % 1.0
    group = np.minimum((angle * hues).astype(np.int64), hues - 1)
    return [np.flatnonzero(group == g) for g in range(hues)]


class Dots(pg.GraphicsObject):  # type: ignore[misc]  # pyqtgraph is untyped
    """Points of a few colours, ``size`` screen pixels across, painted in one call. (pyqtgraph's
    scatter item keeps a record per point and rebuilds them on every ``setData``: with 2,000
    points moving at 20 frames/s it held the GUI thread, and with it Python's lock, long
    enough to cut the training steps of the lab's worker to a sixth.) Each point is a
    pre-rendered round dot of its colour, stamped at its place on the screen from one pixmap
    holding a dot of every colour side by side: a round-capped pen drew 2,000 points in 9 ms,
    the stamps take under 1 ms, and one item for every colour instead of one item per colour
    saved the lab 3 ms of painting per view and frame."""

    def __init__(self, colours: QColor | tuple[int, ...] | list[QColor], size: float) -> None:
        super().__init__()
        listed = colours if isinstance(colours, list) else [colours]
        self._colours = [QColor(*c) if isinstance(c, tuple) else QColor(c) for c in listed]
        self._size = size
        self._atlas: QPixmap | None = None  # drawn when first needed, again after setSize
        self._stamps = internals.PrimitiveArray(QPainter.PixmapFragment, 10)
        self._points = np.zeros((0, 2))
        self._colour_of = np.zeros(0, dtype=np.int64)  # each point's index in the colours
        self._bounds = QRectF()

    def __len__(self) -> int:
        return len(self._points)

    def setData(self, pos: np.ndarray, colours: np.ndarray | None = None) -> None:
        """Points ``pos`` (N, 2), each of the colour ``colours[i]`` (an index; default: the
        first colour). Points are drawn in their order: the later above."""
        points = np.asarray(pos, dtype=np.float64).reshape(-1, 2)
        self.prepareGeometryChange()
        self._points = points
        self._colour_of = (
            np.zeros(len(points), dtype=np.int64) if colours is None else np.asarray(colours)
        )
        if len(points):
            (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
            self._bounds = QRectF(x0, y0, x1 - x0, y1 - y0)
        else:
            self._bounds = QRectF()
        self.informViewBoundsChanged()
        self.update()

    def setSize(self, size: float) -> None:
        self._size, self._atlas = size, None
        self.update()

    def dataBounds(
        self,
        axis: int,
        frac: float = 1.0,
        orthoRange: object = None,
    ) -> tuple[float, float] | tuple[None, None]:
        if not len(self._points):
            return None, None
        column = self._points[:, axis]
        return float(column.min()), float(column.max())

    def pixelPadding(self) -> float:
        return self._size / 2

    def boundingRect(self) -> QRectF:
        return self._bounds

    def _side(self) -> int:
        return math.ceil(self._size) + 2  # a pixel of room for the antialiased edge

    def _dots(self) -> QPixmap:
        """One round dot of each colour, side by side."""
        if self._atlas is None:
            side = self._side()
            self._atlas = QPixmap(side * len(self._colours), side)
            self._atlas.fill(Qt.GlobalColor.transparent)
            painter = QPainter(self._atlas)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            offset = (side - self._size) / 2
            for i, colour in enumerate(self._colours):
                painter.setBrush(colour)
                painter.drawEllipse(QRectF(i * side + offset, offset, self._size, self._size))
            painter.end()
        return self._atlas

    def paint(self, painter: QPainter, *args: object) -> None:
        if not len(self._points):
            return
        atlas, side = self._dots(), self._side()
        # the points' places on the screen, where the dots are stamped unscaled
        t = painter.transform()
        x, y = self._points[:, 0], self._points[:, 1]
        self._stamps.resize(len(x))
        # per stamp: centre x, y; source x, y, width, height; scale x, y; rotation; opacity
        stamps = self._stamps.ndarray()
        stamps[:, 0] = t.m11() * x + t.m21() * y + t.dx()
        stamps[:, 1] = t.m12() * x + t.m22() * y + t.dy()
        stamps[:, 2] = self._colour_of * side
        stamps[:, 3] = 0
        stamps[:, 4:6] = side
        stamps[:, 6:8] = 1
        stamps[:, 8] = 0
        stamps[:, 9] = 1
        painter.save()
        painter.resetTransform()
        # the array form of drawPixmapFragments, which PySide6's type stubs lack
        painter.drawPixmapFragments(*self._stamps.drawargs(), atlas)  # type: ignore[call-arg]
        painter.restore()


class ColouredPoints:
    """Points drawn in colour groups, one hue per group, so that the same points can be
    followed from plot to plot."""

    def __init__(self, plot: pg.PlotWidget, hues: int = HUES) -> None:
        self.item = Dots([pg.hsvColor(h / hues, 0.85, 0.85, 0.8) for h in range(hues)], 4)
        plot.addItem(self.item)
        self._order = np.zeros(0, dtype=np.int64)  # the points group by group
        self._hue = np.zeros(0, dtype=np.int64)  # the hue of each point in that order

    def set_groups(self, groups: list[np.ndarray]) -> None:
        """The indices of the points of each hue, the last hue drawn above the others."""
        self._order = np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64)
        self._hue = np.repeat(np.arange(len(groups)), [len(g) for g in groups])

    def show(self, points: np.ndarray) -> None:
        """``points`` in the order of the data the groups were made from."""
        if len(self._order) != len(points):
            self.item.setData(pos=np.zeros((0, 2)))
        else:
            self.item.setData(pos=points[self._order], colours=self._hue)

    def set_size(self, size: float) -> None:
        self.item.setSize(size)

    def count(self) -> int:
        return len(self.item)


class DataPlot(SquarePlot):
    """The data space x. Signals (GUI thread): ``cursorMoved(x, y)`` as the mouse moves over
    the plot; ``painted(x, y)`` for each point painted (click, or drag with the button held)
    while painting is on."""

    cursorMoved = Signal(float, float)
    painted = Signal(float, float)

    def __init__(self) -> None:
        super().__init__("labDataView", "Data space x")
        # the heat map's cells (72 a side) are filtered when enlarged, not drawn as blocks
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.heat = pg.ImageItem()
        self.heat.setZValue(-10)
        self.addItem(self.heat)
        self.colour_map = ""
        self._heat_shown: np.ndarray | None = None  # the grid the heat map shows
        self.points = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(POINT_COLOUR))
        # the data stand still while a fit runs: drawn from a pixmap as the samples change
        self.points.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.samples = Dots(SAMPLE_COLOUR, 3)
        for item in (self.samples, self.points):
            self.addItem(item)
        self.cross_x = pg.InfiniteLine(angle=90, pen=pg.mkPen("#d62728", width=1))
        self.cross_y = pg.InfiniteLine(angle=0, pen=pg.mkPen("#d62728", width=1))
        for line in (self.cross_x, self.cross_y):
            line.setVisible(False)
            self.addItem(line, ignoreBounds=True)
        self.painting = False
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)

    def set_painting(self, on: bool) -> None:
        """Clicks and drags paint points instead of panning the view."""
        self.painting = on
        self.setMouseEnabled(not on, not on)

    def show_points(self, points: np.ndarray) -> None:
        self.points.setData(pos=points)

    def show_box(self, box: Box) -> None:
        self.setRange(QRectF(box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0), padding=0)

    def show_heat(self, image: np.ndarray | None, box: Box | None, colour_map: str) -> None:
        """A heat map over ``box`` (rows = y, columns = x), or none."""
        if self.heat.isVisible() != (image is not None):
            self.heat.setVisible(image is not None)
            self.points.setBrush(pg.mkBrush(POINT_COLOUR if image is None else LIT_POINT_COLOUR))
        if image is None or box is None:
            self._heat_shown = None
            return
        if image is self._heat_shown and colour_map == self.colour_map:
            return  # the last frame's grid (the lab refreshes it every other frame)
        self._heat_shown = image
        finite = image[np.isfinite(image)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        self.heat.setImage(image, levels=(low, high if high > low else low + 1.0))
        if colour_map != self.colour_map:
            self.colour_map = colour_map
            self.heat.setColorMap(_colour_map(colour_map))
        self.heat.setRect(QRectF(box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0))

    def show_cursor(self, point: tuple[float, float] | None) -> None:
        for line in (self.cross_x, self.cross_y):
            line.setVisible(point is not None)
        if point is not None:
            self.cross_x.setValue(point[0])
            self.cross_y.setValue(point[1])

    def _to_data(self, scene_pos: QPointF) -> QPointF | None:
        box = self.getPlotItem().vb
        if not box.sceneBoundingRect().contains(scene_pos):
            return None
        return box.mapSceneToView(scene_pos)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        point = self._to_data(scene_pos)
        if point is None:
            return
        self.cursorMoved.emit(point.x(), point.y())
        buttons = QGuiApplication.mouseButtons()
        if self.painting and buttons & Qt.MouseButton.LeftButton:
            self.painted.emit(point.x(), point.y())

    def _on_mouse_clicked(self, event: pg.GraphicsScene.mouseEvents.MouseClickEvent) -> None:
        point = self._to_data(event.scenePos())
        if self.painting and point is not None and event.button() == Qt.MouseButton.LeftButton:
            self.painted.emit(point.x(), point.y())


class LatentPlot(SquarePlot):
    """The latent space z: the standard Gaussian's 1, 2 and 3 sigma circles and the data
    pushed through G^-1 (where a trained flow makes them a round cloud)."""

    def __init__(self) -> None:
        super().__init__("labLatentView", "Latent space z = G⁻¹(x)")
        for sigma in (1, 2, 3):
            circle = self.plot(
                sigma * np.cos(_CIRCLE),
                sigma * np.sin(_CIRCLE),
                pen=pg.mkPen("#1f77b4", width=1.5, style=Qt.PenStyle.DashLine),
            )
            # still, under points that move on every frame: drawn from a pixmap
            circle.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.points = ColouredPoints(self)
        self.setRange(QRectF(-4, -4, 8, 8), padding=0)


class LayerPlot(SquarePlot):
    """The plane after layer i: the data box's grid and the points carried through layers
    0..i, with the coupling's copied coordinate axis in grey and its transformed one in
    orange (a coupling changes only the transformed coordinate, as a function of the copied)."""

    def __init__(self) -> None:
        super().__init__("labLayerView", "After layer")
        self.grid = pg.PlotCurveItem(pen=pg.mkPen((120, 120, 160), width=1))
        draw_as_segments(self.grid)  # 2 px wide in presentation mode
        self.addItem(self.grid)
        self.points = ColouredPoints(self)
        # the x1 axis is the horizontal line y = 0, the x2 axis the vertical line x = 0
        # labels inside the view: above the x1 axis at its left end, right of the x2 axis at
        # its top end
        self.axes = [
            pg.InfiniteLine(
                pos=0,
                angle=angle,
                label="",
                labelOpts={
                    "position": place,
                    "anchors": [anchor] * 2,
                    "fill": (255, 255, 255, 210),
                },
            )
            for angle, place, anchor in ((0, 0.02, (0, 1)), (90, 0.98, (0, 0)))
        ]
        for axis in self.axes:
            axis.setVisible(False)
            self.addItem(axis, ignoreBounds=True)
        self.roles: tuple[int | None, int | None] = (None, None)

    def show_layer(self, view: FlowLabView) -> None:
        title = f"After layer {view.layer}"
        if title != self.getPlotItem().titleLabel.text:  # a new title lays the plot out again
            self.setTitle(title)
        x, y, connect = polylines(view.layer_grid)
        self.grid.setData(x, y, connect=connect)
        self.points.show(view.layer_points)
        self._frame(view.layer_points)
        self.show_roles(view.copied, view.transformed)

    def _frame(self, points: np.ndarray) -> None:
        """Keep the points in view (the grid's outer lines can be flung far away). The range
        moves only when the points have moved well out of it or shrunk well inside it: a new
        range on every frame made every axis recompute its ticks, a third of a frame's time."""
        if len(points) < 2:
            return
        low, high = np.percentile(points, [0.5, 99.5], axis=0)
        pad = 0.3 * float(np.max(high - low)) + 1e-3
        wanted = QRectF(
            low[0] - pad, low[1] - pad, high[0] - low[0] + 2 * pad, high[1] - low[1] + 2 * pad
        )
        shown = self.getPlotItem().vb.viewRect()
        inside = shown.contains(QRectF(low[0], low[1], high[0] - low[0], high[1] - low[1]))
        if not inside or wanted.width() * wanted.height() < 0.4 * shown.width() * shown.height():
            self.setRange(wanted, padding=0)

    def show_roles(self, copied: int | None, transformed: int | None) -> None:
        """Mark the coordinate a coupling copies (grey) and the one it transforms (orange)."""
        if (copied, transformed) == self.roles:
            return
        self.roles = (copied, transformed)
        for index, axis in enumerate(self.axes):
            role = "copied" if index == copied else "transformed" if index == transformed else None
            axis.setVisible(role is not None)
            if role is None:
                continue
            colour = COPIED_COLOUR if role == "copied" else TRANSFORMED_COLOUR
            axis.setPen(pg.mkPen(colour, width=3 if role == "transformed" else 2))
            axis.label.setText(f"{role}: x{index + 1}")
            axis.label.setColor(colour)

    def set_label_font(self, font: QFont) -> None:
        for axis in self.axes:
            axis.label.setFont(font)

    def role_text(self) -> dict[str, str]:
        """What each visible mark says (for tests and automation)."""
        return {
            axis.label.toPlainText().split(":")[0]: axis.label.toPlainText()
            for axis in self.axes
            if axis.isVisible()
        }
