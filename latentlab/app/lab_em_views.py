"""The lab's views of a Gaussian mixture fitted by EM (Dempster, Laird and Rubin, 1977): each
component's 1 and 2 standard-deviation ellipses and its mean over the data, the points coloured
by their responsibilities, the weights as bars, and the animation of ancestral sampling (first
pick a component by its weight, then draw a point from that Gaussian)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QBrush

from latentlab.app.charts import panel_chart
from latentlab.explore.lab_em import EMLabView

__all__ = ["AncestralAnimation", "EMOverlay", "WeightsChart", "component_colours"]

_TAB10 = np.array(
    [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ],
    dtype=np.float64,
)


def component_colours(k: int) -> np.ndarray:
    """K distinct RGB colours (K, 3), 0..255."""
    if k <= len(_TAB10):
        return _TAB10[:k]
    return np.array([pg.intColor(i, hues=k).getRgb()[:3] for i in range(k)], dtype=np.float64)


def responsibility_brushes(responsibilities: np.ndarray, colours: np.ndarray) -> list[QBrush]:
    """Each point painted with its components' colours mixed by its responsibilities."""
    mixed = np.clip(responsibilities @ colours, 0, 255).astype(int)
    return [pg.mkBrush(r, g, b, 190) for r, g, b in mixed]


class EMOverlay:
    """The mixture drawn over the data plot: ellipses (solid at 1 sigma, dashed at 2), means,
    and the points' colours. Items are made once per number of components."""

    def __init__(self, plot: pg.PlotWidget, points: pg.ScatterPlotItem) -> None:
        self.plot, self.data_points = plot, points
        self.curves: list[tuple[pg.PlotCurveItem, pg.PlotCurveItem]] = []
        self.means = pg.ScatterPlotItem(size=14, symbol="+", pen=pg.mkPen("k", width=2))
        self.means.setZValue(10)
        self.samples = pg.ScatterPlotItem(size=11, pen=pg.mkPen("k", width=1.5))
        self.samples.setZValue(11)
        for item in (self.means, self.samples):
            plot.addItem(item)
        self.colours = component_colours(0)
        self.width = 2.0

    def _make(self, k: int) -> None:
        for pair in self.curves:
            for curve in pair:
                self.plot.removeItem(curve)
        self.colours = component_colours(k)
        self.curves = []
        for _ in range(k):
            pair = (pg.PlotCurveItem(), pg.PlotCurveItem())
            for curve in pair:
                curve.setZValue(5)
                self.plot.addItem(curve)
            self.curves.append(pair)

    def show(self, view: EMLabView, highlighted: int | None = None) -> None:
        k = len(view.means)
        if len(self.curves) != k:
            self._make(k)
        for index, (one, two) in enumerate(self.curves):
            colour = tuple(int(c) for c in self.colours[index])
            width = self.width * (2.5 if index == highlighted else 1.0)
            one.setData(view.ellipses[index, 0, :, 0], view.ellipses[index, 0, :, 1])
            one.setPen(pg.mkPen(colour, width=width))
            two.setData(view.ellipses[index, 1, :, 0], view.ellipses[index, 1, :, 1])
            two.setPen(pg.mkPen(colour, width=width, style=Qt.PenStyle.DashLine))
        self.means.setData(pos=view.means)
        if len(view.responsibilities) == len(self.data_points.data):
            self.data_points.setBrush(responsibility_brushes(view.responsibilities, self.colours))

    def show_samples(self, components: np.ndarray, points: np.ndarray) -> None:
        """Ancestral samples, each in the colour of the component it was drawn from."""
        brushes = [pg.mkBrush(*(int(c) for c in self.colours[k])) for k in components]
        self.samples.setData(pos=points, brush=brushes)

    def clear(self) -> None:
        """Forget the mixture (new data or a flow): no ellipses, plain points."""
        self._make(0)
        for item in (self.means, self.samples):
            item.setData(pos=np.zeros((0, 2)))


class WeightsChart:
    """The mixture weights pi_k as bars in each component's colour; one can be highlighted."""

    def __init__(self) -> None:
        self.widget = panel_chart("labWeights", "component k", "weight π_k", 100)
        self.widget.getPlotItem().getAxis("left").enableAutoSIPrefix(False)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8)
        self.widget.addItem(self.bars)

    def show(self, weights: np.ndarray, highlighted: int | None = None) -> None:
        colours = component_colours(len(weights))
        brushes = [
            pg.mkBrush(*(int(c) for c in colour), 255 if k == highlighted else 150)
            for k, colour in enumerate(colours)
        ]
        pens = [pg.mkPen("k", width=3) if k == highlighted else None for k in range(len(weights))]
        self.bars.setOpts(
            x=np.arange(len(weights)), height=weights, width=0.8, brushes=brushes, pens=pens
        )
        self.widget.setYRange(0, max(float(np.max(weights)) * 1.15, 1e-3), padding=0)


class AncestralAnimation(QObject):
    """Plays precomputed ancestral samples, a few per second: each sample takes two ticks, one
    to highlight the component picked, one to drop the point.

    Signals (GUI thread): ``picked(k)`` when a component is highlighted;
    ``dropped(components, points)`` with all samples dropped so far (M and M, 2); ``ended()``."""

    picked = Signal(int)
    dropped = Signal(object, object)
    ended = Signal()

    def __init__(self, parent: QObject | None = None, tick_ms: int = 250) -> None:
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.setInterval(tick_ms)
        self.timer.timeout.connect(self._tick)
        self.components = np.zeros(0, dtype=np.int64)
        self.points = np.zeros((0, 2))
        self.tick = 0

    @property
    def running(self) -> bool:
        return self.timer.isActive()

    def play(self, components: np.ndarray, points: np.ndarray) -> None:
        self.components, self.points, self.tick = components, points, 0
        self.dropped.emit(components[:0], points[:0])
        self.timer.start()

    def stop(self) -> None:
        if self.timer.isActive():
            self.timer.stop()
            self.ended.emit()

    def _tick(self) -> None:
        sample, dropping = divmod(self.tick, 2)
        if sample >= len(self.components):
            self.stop()
            return
        if dropping:
            self.dropped.emit(self.components[: sample + 1], self.points[: sample + 1])
        else:
            self.picked.emit(int(self.components[sample]))
        self.tick += 1
