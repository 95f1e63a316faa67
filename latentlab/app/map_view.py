"""The map: a 2D plane of latent space with the reference set and a draggable current point, and
for a VAE the ellipses of its posterior q(z|x) for the current image and the user's images."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QKeyEvent, QPainter
from PySide6.QtWidgets import QLabel, QWidget

from latentlab.app.charts import show_view_grid
from latentlab.app.placeholder import Placeholder
from latentlab.app.qimage import to_qpixmap
from latentlab.explore.plane import framing

if TYPE_CHECKING:  # for annotations only (untyped: Any to mypy)
    from pyqtgraph.GraphicsScene.mouseEvents import HoverEvent, MouseClickEvent, MouseDragEvent

__all__ = ["ImageMarker", "MapView"]

_THUMBNAIL_PIXELS = 96
_MARKER_PIXELS = 40
_VALUE_COLOURS = pg.colormap.get("CET-D1")  # blue (low) to red (high) through grey
_VALUE_LEVELS = 64  # colouring by values uses this many shades
_SELECTED_PEN = pg.mkPen("#000000", width=2.5)
_NO_PEN = pg.mkPen(None)
_POINT_BRUSH = pg.mkBrush(90, 90, 160, 160)
#: the pens of the posterior ellipses: whose ("current" image or the "user"'s images) and at
#: how many standard deviations (solid at one, dashed at two)
_ELLIPSE_COLOURS = {"current": "#d95f02", "user": "#ff9900"}
_ELLIPSE_Z = 4  # above the reference points, below the user's images and the handle


@cache
def _label_brush(label: int, hues: int) -> QBrush:
    return pg.mkBrush(pg.intColor(label % hues, hues=hues, alpha=170))


@cache
def _value_brushes() -> list[QBrush]:
    colours = _VALUE_COLOURS.map(np.linspace(0.0, 1.0, _VALUE_LEVELS), mode="qcolor")
    for colour in colours:
        colour.setAlpha(200)
    return [pg.mkBrush(colour) for colour in colours]


class ImageMarker(pg.GraphicsObject):
    """One of the user's images on the map, drawn at a fixed size in pixels whatever the zoom.
    Clicking it makes it the current point; dragging it moves the current point with it."""

    def __init__(self, view: MapView, index: int, thumbnail: np.ndarray) -> None:
        super().__init__()
        scale = max(1, _MARKER_PIXELS // max(thumbnail.shape[1:]))
        self.pixmap = to_qpixmap(thumbnail, scale)
        self.view, self.index = view, index
        self._rect: QRectF | None = None
        self.setZValue(5)
        self.setToolTip("Your image: click to make it the current point, drag to move it")

    def viewTransformChanged(self) -> None:
        self.prepareGeometryChange()
        self._rect = None

    def boundingRect(self) -> QRectF:
        # the pixmap's size in pixels, expressed in the view's (data) coordinates
        if self._rect is None:
            w = self.pixmap.width() * (self.pixelWidth() or 0)
            h = self.pixmap.height() * (self.pixelHeight() or 0)
            self._rect = QRectF(-w / 2, -h / 2, w, h)
        return self._rect

    def paint(self, painter: QPainter, *args: object) -> None:
        centre = painter.transform().map(QPointF(0, 0))
        painter.resetTransform()  # draw in device pixels: upright and crisp
        x = int(centre.x() - self.pixmap.width() / 2)
        y = int(centre.y() - self.pixmap.height() / 2)
        painter.drawPixmap(x, y, self.pixmap)
        painter.setPen(pg.mkPen("#ff9900", width=2))
        painter.drawRect(x, y, self.pixmap.width(), self.pixmap.height())

    def hoverEvent(self, ev: HoverEvent) -> None:
        # claim the left button so that pressing here drags the marker, not the view
        if not ev.isExit():
            ev.acceptDrags(Qt.MouseButton.LeftButton)
            ev.acceptClicks(Qt.MouseButton.LeftButton)

    def mouseClickEvent(self, ev: MouseClickEvent) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.view.imagePicked.emit(self.index)

    def mouseDragEvent(self, ev: MouseDragEvent) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        if ev.isStart():
            self.view.imagePicked.emit(self.index)
        pos = self.view.getPlotItem().vb.mapSceneToView(ev.scenePos())
        self.setPos(pos)
        self.view.imageDragged.emit(self.index, pos.x(), pos.y())


class Scatter(pg.ScatterPlotItem):
    """pyqtgraph's scatter, its bounding rectangle kept between changes. pyqtgraph computes it
    anew at every call (its data bounds and the pixel size of its spots: about 40 µs of Python),
    and a paint of the map asks each scatter for it twice, while a drag's decode waits for the
    lock that Python holds. It changes only where pyqtgraph starts a new ``bounds`` list (new
    data, spot sizes or view transform), so it is kept for as long as that list is the same."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self._rect: tuple[list[object] | None, QRectF] = (None, QRectF())
        super().__init__(*args, **kwargs)

    def boundingRect(self) -> QRectF:
        kept_for, rect = self._rect
        if kept_for is not self.bounds:
            rect = super().boundingRect()
            # before it is first shown it has no pixel size, and so no margin for its spots yet
            if self.pixelVectors()[0] is not None:
                self._rect = (self.bounds, rect)
        return QRectF(rect)


class ReferencePoints(Scatter):
    """The map's reference points, hit-tested by index. pyqtgraph's own hit tests
    (``pointsAt``, and its click handling) make a SpotItem for every point of the map, objects in
    reference cycles that piled up by the ten thousand between full garbage collections, which
    then held the GUI thread for 70 to 150 ms (scripts/soak.py).

    Signal: ``pointClicked(index)`` when the left button clicks a point (the topmost)."""

    pointClicked = Signal(int)

    def indices_at(self, pos: QPointF) -> np.ndarray:
        """Indices of the points under ``pos`` (the item's coordinates), topmost first."""
        return np.flatnonzero(self._maskAt(pos))[::-1]

    def mouseClickEvent(self, ev: MouseClickEvent) -> None:
        left = ev.button() == Qt.MouseButton.LeftButton
        hit = self.indices_at(ev.pos()) if left else np.empty(0, dtype=np.int64)
        if len(hit):
            ev.accept()
            self.pointClicked.emit(int(hit[0]))
        else:
            ev.ignore()


class SelectionMarks(Scatter):
    """Rings around the selected reference points; clicks go through them to the points."""

    def mouseClickEvent(self, ev: MouseClickEvent) -> None:
        ev.ignore()


class MapView(pg.PlotWidget):
    """Scatter of reference latents projected on the plane, coloured by label, with a
    thumbnail on hover and one draggable handle for the current point.

    Signals (GUI thread): ``handleMoved(a, b)`` while the user drags the handle;
    ``imagePicked(index)`` when one of the user's images is clicked or starts a drag;
    ``imageDragged(index, a, b)`` while it is dragged; ``selectionChanged(count)`` when
    clicking reference points selects or deselects them.
    """

    handleMoved = Signal(float, float)
    selectionChanged = Signal(int)
    imagePicked = Signal(int)
    imageDragged = Signal(int, float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self.setObjectName("mapView")
        self.setToolTip("")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # arrow keys move the handle
        plot = self.getPlotItem()
        plot.setAspectLocked(True)
        show_view_grid(self)
        plot.hideButtons()
        plot.setMenuEnabled(False)
        self.scatter = ReferencePoints(size=7, pen=_NO_PEN)
        self.addItem(self.scatter)
        self._points = np.zeros((0, 2))  # the reference points shown
        # The selected points are ringed by an item of their own: pens per point on the scatter
        # cost 10-20 ms per click or map, restyling every point
        self.selection_marks = SelectionMarks(size=7, pen=_SELECTED_PEN, brush=pg.mkBrush(None))
        self.selection_marks.setZValue(5)  # above the points, below the handle
        self.addItem(self.selection_marks, ignoreBounds=True)
        self.handle = pg.TargetItem(
            pos=(0, 0),
            size=22,
            movable=True,
            pen=pg.mkPen("#202020", width=2),
            brush=pg.mkBrush(255, 200, 0, 200),
            hoverBrush=pg.mkBrush(255, 150, 0, 230),
        )
        self.handle.setZValue(10)
        self.handle.setToolTip(
            "Drag me (or click the map and use the arrow keys; Shift for "
            "small steps): the image shows the decode of this point"
        )
        self.handle.hide()  # until a model is open
        self.addItem(self.handle)
        self._label_items: list[pg.TextItem] = []  # the class names; spare ones hidden
        self._label_count = 0  # the class names the map shows
        self.markers: list[ImageMarker] = []
        self.ellipses: dict[tuple[str, float], pg.PlotCurveItem] = {}  # (whose, scale) -> item
        self._marker_thumbnails: np.ndarray | None = None  # the images the markers show
        self._thumbnails: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        self._label_brushes: list[QBrush] = []
        self._values: np.ndarray | None = None  # what colours the points, if not labels
        self._label_names: list[str] = []
        self._silent = False
        self.selected: set[int] = set()
        self.handle.sigPositionChanged.connect(self._on_handle_moved)
        self.scatter.pointClicked.connect(self._on_point_clicked)
        self._hover = QLabel(self)
        self._hover.setObjectName("mapHover")
        self._hover.setStyleSheet("background: white; border: 1px solid #888; padding: 2px;")
        self._hover.hide()
        # Covers the empty plot (axes from 0 to 1) until the first points are shown
        self._placeholder = Placeholder(self, "mapPlaceholder")
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._skip_hover_while_dragging()
        # The tick labels' width only grows: a narrower one, as the next model's map has, laid
        # the plot out again and repainted the whole map a second time after drawing it
        plot.getAxis("left").setStyle(autoReduceTextSpace=False)
        # Redrawn from pixmaps while the handle moves over them (the handle's own pixmap moves
        # with it), not by Python paint code that would hold the GIL the model worker needs:
        # with the handle's, a drag's decode waited 0.01-0.11 ms less for it in each of five
        # alternated pairs of drags (docs/performance.md)
        axes = (plot.getAxis("left"), plot.getAxis("bottom"))
        for item in (self.scatter, self.selection_marks, self.handle, *axes):
            item.setCacheMode(item.CacheMode.DeviceCoordinateCache)
        # The plot and its view box draw nothing themselves (the box's border pen is NoPen):
        # flagged so, Qt no longer calls their Python rectangles and paint at every repaint
        for item in (plot, plot.vb):
            item.setFlag(item.GraphicsItemFlag.ItemHasNoContents)

    # -- data ----------------------------------------------------------------------------------

    def set_placeholder(self, text: str) -> None:
        """What to say until the first reference points are shown."""
        self._placeholder.setText(text)

    def set_axes_labels(self, x: str, y: str) -> None:
        plot = self.getPlotItem()
        for name, text in (("bottom", x), ("left", y)):
            if plot.getAxis(name).labelText != text:  # a new label lays the whole plot out again
                plot.setLabel(name, text)

    def set_reference(
        self,
        points: np.ndarray,
        labels: np.ndarray | None,
        thumbnails: np.ndarray | None,
        label_names: list[str],
    ) -> None:
        """Show reference points ``N,2`` (updating the long-lived scatter in place)."""
        self._thumbnails, self._labels, self._label_names = thumbnails, labels, label_names
        # The same brush object for every point of a colour: the scatter renders one symbol
        # per distinct brush object (a new brush per point cost 0.2 s per map drawn).
        if labels is None:
            self._label_brushes = [_POINT_BRUSH] * len(points)
        else:
            hues = max(10, len(label_names))
            self._label_brushes = [_label_brush(int(k), hues) for k in labels]
        if self._values is not None and len(self._values) != len(points):
            self._values = None
        self._points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        self.scatter.setData(pos=points, brush=self._brushes())
        self.clear_selection()
        classes = [] if labels is None else [int(k) for k in np.unique(labels)]
        while len(self._label_items) < len(classes):  # kept from map to map: each costs ms
            self._label_items.append(self._new_label())
        self._label_count = len(classes)
        self._show_labels()
        for text, k in zip(self._label_items, classes, strict=False):
            name = label_names[k] if k < len(label_names) else str(k)
            text.setText(name, color=pg.intColor(k, hues=max(10, len(label_names))))
            text.setPos(*np.median(points[np.asarray(labels) == k], axis=0))
        self.fit_view(points)
        self.handle.show()
        self._placeholder.hide()

    def _new_label(self) -> pg.TextItem:
        text = pg.TextItem(anchor=(0.5, 0.5))
        font = text.textItem.font()
        font.setPointSize(14)
        font.setBold(True)
        text.setFont(font)
        self.addItem(text)
        return text

    def colour_by(self, values: np.ndarray | None, repaint: bool = True) -> tuple[str, str] | None:
        """Colour the reference points by ``values`` (one per point, e.g. an attribute's) from
        blue (lowest) to red (highest), or by label again with None; not ``repaint``: only from
        the next :meth:`set_reference` (new points are coming: recolouring the old ones cost
        a model switch tens of milliseconds). Returns the colours of the two ends
        (``#rrggbb``) when colouring by values."""
        self._values = None if values is None else np.asarray(values, dtype=np.float64)
        self._show_labels()
        if repaint and len(self._label_brushes):
            self.scatter.setBrush(self._brushes())
        if values is None:
            return None
        return tuple(_VALUE_COLOURS.map(t, mode="qcolor").name() for t in (0.0, 1.0))

    def _show_labels(self) -> None:
        """The class names when the points are coloured by class (the spare ones hidden)."""
        for i, item in enumerate(self._label_items):
            item.setVisible(i < self._label_count and self._values is None)

    def _brushes(self) -> list[QBrush]:
        if self._values is None:
            return self._label_brushes
        low, high = self._values.min(), self._values.max()
        t = (self._values - low) / (high - low) if high > low else np.full(len(self._values), 0.5)
        shades = _value_brushes()
        return [shades[i] for i in np.rint(t * (_VALUE_LEVELS - 1)).astype(int)]

    def clear_selection(self) -> None:
        self.selected = set()
        self._show_selection()

    def _on_point_clicked(self, index: int) -> None:
        self.selected ^= {index}
        self._show_selection()

    def _show_selection(self) -> None:
        self.selection_marks.setData(pos=self._points[sorted(self.selected)])
        self.selectionChanged.emit(len(self.selected))

    def set_user_images(self, points: np.ndarray, thumbnails: np.ndarray) -> None:
        """Show the user's images as markers at ``points`` (``N,2``), replacing earlier ones;
        the same images again (on another plane) only move."""
        if thumbnails is self._marker_thumbnails and len(points) == len(self.markers):
            for marker, point in zip(self.markers, points, strict=True):
                marker.setPos(QPointF(*point))
            return
        self._marker_thumbnails = thumbnails
        for marker in self.markers:
            self.removeItem(marker)
        self.markers = []
        for i, (point, thumbnail) in enumerate(zip(points, thumbnails, strict=True)):
            marker = ImageMarker(self, i, thumbnail)
            marker.setPos(QPointF(*point))
            self.addItem(marker)
            self.markers.append(marker)

    def set_ellipses(self, whose: str, outlines: dict[float, np.ndarray] | None) -> None:
        """Show the posterior ellipses of ``whose`` ("current" or "user"): ``outlines`` maps a
        scale in standard deviations to closed polylines ``N, P, 2``; None hides them."""
        for key, item in self.ellipses.items():
            if key[0] == whose and (outlines is None or key[1] not in outlines):
                item.setData([], [])
        for scale, lines in (outlines or {}).items():
            item = self.ellipses.get((whose, scale)) or self._ellipse_item(whose, scale)
            # one item draws every ellipse: a NaN row between two breaks the line
            gaps = np.full((len(lines), 1, 2), np.nan)
            path = np.concatenate([lines, gaps], axis=1).reshape(-1, 2)
            item.setData(path[:, 0], path[:, 1], connect="finite")

    def _ellipse_item(self, whose: str, scale: float) -> pg.PlotCurveItem:
        style = Qt.PenStyle.SolidLine if scale <= 1 else Qt.PenStyle.DashLine
        pen = pg.mkPen(_ELLIPSE_COLOURS[whose], width=2 if whose == "current" else 1.5, style=style)
        item = pg.PlotCurveItem(pen=pen, antialias=True)
        item.setZValue(_ELLIPSE_Z)
        item.setToolTip(f"q(z|x) of the {whose} image{'s' if whose == 'user' else ''}: {scale:g} σ")
        self.addItem(item, ignoreBounds=True)  # the map keeps its range when they change
        self.ellipses[(whose, scale)] = item
        return item

    def fit_view(self, points: np.ndarray) -> None:
        """Show ``points`` as :func:`framing` frames them."""
        x_range, y_range = framing(points)
        self.getPlotItem().vb.setRange(xRange=x_range, yRange=y_range, padding=0)

    def view_centre(self) -> tuple[float, float]:
        (x0, x1), (y0, y1) = self.getPlotItem().vb.viewRange()
        return (x0 + x1) / 2, (y0 + y1) / 2

    def handle_position(self) -> tuple[float, float]:
        pos = self.handle.pos()
        return pos.x(), pos.y()

    def set_handle(self, a: float, b: float) -> None:
        """Move the handle without emitting ``handleMoved``."""
        position = self.handle.pos()
        if position.x() == a and position.y() == b:
            return  # already there: a drag put it there (a move of pyqtgraph's handle costs Python)
        self._silent = True
        try:
            self.handle.setPos(QPointF(a, b))
        finally:
            self._silent = False

    def handle_scene_position(self) -> QPointF:
        """The handle's centre in widget coordinates (for tests and benchmarks that drag it)."""
        scene = self.getPlotItem().vb.mapViewToScene(self.handle.pos())
        return QPointF(self.mapFromScene(scene))

    # -- events --------------------------------------------------------------------------------

    def dragging(self) -> bool:
        """True while a mouse button drags something on the map."""
        return bool(self.scene().dragButtons)

    def _skip_hover_while_dragging(self) -> None:
        """pyqtgraph looks for hovered items on every mouse move, also mid-drag when nothing
        may accept the hover; that search was a quarter of the GUI thread's work per drag step."""
        scene = self.scene()
        send_hover_events = scene.sendHoverEvents

        def send_unless_dragging(ev: QEvent, exitOnly: bool = False) -> None:  # pyqtgraph's names
            if exitOnly or not scene.dragButtons:
                send_hover_events(ev, exitOnly)

        scene.sendHoverEvents = send_unless_dragging

    def _on_handle_moved(self) -> None:
        if not self._silent:
            a, b = self.handle_position()
            self.handleMoved.emit(a, b)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self._thumbnails is None or self.handle.mouseHovering or self.dragging():
            self._hover.hide()
            return
        view_pos = self.getPlotItem().vb.mapSceneToView(scene_pos)
        points = self.scatter.indices_at(view_pos)
        if len(points) == 0:
            self._hover.hide()
            return
        index = int(points[0])
        image = self._thumbnails[index]
        scale = max(1, _THUMBNAIL_PIXELS // max(image.shape[1:]))
        self._hover.setPixmap(to_qpixmap(image, scale))
        if self._labels is not None:
            k = int(self._labels[index])
            name = self._label_names[k] if k < len(self._label_names) else str(k)
            self._hover.setToolTip(f"reference #{index}, label {name}")
        self._hover.adjustSize()
        widget_pos = self.mapFromScene(scene_pos)
        x = min(widget_pos.x() + 14, self.width() - self._hover.width())
        y = min(widget_pos.y() + 14, self.height() - self._hover.height())
        self._hover.move(int(x), int(y))
        self._hover.show()
        self._hover.raise_()

    def leaveEvent(self, event: QEvent) -> None:
        self._hover.hide()
        super().leaveEvent(event)

    def nudge_handle(self, dx: float, dy: float) -> None:
        """Move the handle by ``dx``, ``dy`` twentieths of the visible range, as dragging it
        would (``handleMoved`` is emitted)."""
        (x0, x1), (y0, y1) = self.getPlotItem().vb.viewRange()
        a, b = self.handle_position()
        self.handle.setPos(QPointF(a + dx * (x1 - x0) / 20, b + dy * (y1 - y0) / 20))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Space belongs to the window (resample); the plot would otherwise swallow it.
        if event.key() == Qt.Key.Key_Space:
            event.ignore()
            return
        steps: dict[int, tuple[int, int]] = {  # QKeyEvent.key() is a plain int
            Qt.Key.Key_Left: (-1, 0),
            Qt.Key.Key_Right: (1, 0),
            Qt.Key.Key_Up: (0, 1),
            Qt.Key.Key_Down: (0, -1),
        }
        if event.key() in steps and self.handle.isVisible():
            fine = event.modifiers() & Qt.KeyboardModifier.ShiftModifier
            dx, dy = steps[event.key()]
            self.nudge_handle(dx / 5 if fine else dx, dy / 5 if fine else dy)
            return
        super().keyPressEvent(event)
