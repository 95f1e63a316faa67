"""The grid that plots draw inside their view: at the axes' ticks, worked out once per view."""

from __future__ import annotations

import pyqtgraph as pg

from latentlab.app.charts import ViewGrid, show_view_grid


def _grid_of(plot: pg.PlotWidget) -> ViewGrid:
    items = plot.getPlotItem().vb.childGroup.childItems()
    return next(item for item in items if isinstance(item, ViewGrid))


def _vertical_lines(grid: ViewGrid) -> set[float]:
    return {round(line.x1(), 6) for _, lines in grid._lines for line in lines if line.dx() == 0}


def test_the_grid_follows_the_axes_ticks_and_the_view(qtbot):
    plot = pg.PlotWidget(background="w")
    qtbot.addWidget(plot)
    plot.resize(400, 300)
    show_view_grid(plot)
    plot.setRange(xRange=(0, 10), yRange=(0, 5), padding=0)
    plot.show()
    qtbot.waitExposed(plot)
    plot.grab()  # paints
    grid = _grid_of(plot)
    view = plot.getPlotItem().vb
    axis = plot.getPlotItem().getAxis("bottom")
    major = axis.tickValues(*view.viewRange()[0], view.boundingRect().width())[0][1]
    assert {round(v, 6) for v in major} <= _vertical_lines(grid)
    assert grid.zValue() < 0  # behind what the plot shows
    assert grid not in view.addedItems  # and no part of its auto-range
    lines = grid._lines
    plot.grab()
    assert grid._lines is lines  # not worked out again for the same view
    plot.setRange(xRange=(100, 200), yRange=(0, 5), padding=0)
    plot.grab()
    assert min(_vertical_lines(grid)) >= 100  # new lines for the new view
    assert plot.getPlotItem().getAxis("left").grid is False  # the axes draw no grid
