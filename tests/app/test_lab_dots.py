"""The lab's dots: points of several colours stamped from one pixmap, each of its own colour."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor

from latentlab.app.lab_flow_views import Dots


def test_each_point_is_stamped_in_its_own_colour(qtbot):
    plot = pg.PlotWidget(background="w")
    qtbot.addWidget(plot)
    plot.resize(300, 300)
    colours = [QColor(220, 0, 0), QColor(0, 160, 0), QColor(0, 0, 220)]
    dots = Dots(colours, 12)
    plot.addItem(dots)
    points = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [1.0, -1.0]])
    dots.setData(pos=points, colours=np.array([0, 1, 2, 1]))
    plot.setRange(xRange=(-1, 3), yRange=(-2, 2), padding=0)
    plot.show()
    qtbot.waitExposed(plot)
    image = plot.grab().toImage()
    view = plot.getPlotItem().vb
    for (x, y), k in zip(points, [0, 1, 2, 1], strict=True):
        centre = plot.mapFromScene(view.mapViewToScene(pg.Point(x, y)))
        shown = QColor(image.pixel(centre))
        expected = colours[k]
        assert (shown.red(), shown.green(), shown.blue()) == (
            expected.red(),
            expected.green(),
            expected.blue(),
        )
    assert len(dots) == 4
    dots.setData(pos=points[:2])  # no colours: all of the first
    image = plot.grab().toImage()
    centre = plot.mapFromScene(view.mapViewToScene(pg.Point(1.0, 1.0)))
    assert QColor(image.pixel(centre)).red() == 220
