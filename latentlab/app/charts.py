"""The small fixed charts of the family panels (EM's log-likelihood, inversion error, KL)."""

from __future__ import annotations

import pyqtgraph as pg

__all__ = ["panel_chart"]


def panel_chart(name: str, x_label: str, y_label: str, min_height: int = 100) -> pg.PlotWidget:
    """A white plot that the mouse does not pan or zoom, named ``name`` for tests."""
    chart = pg.PlotWidget()
    chart.setObjectName(name)
    chart.setBackground("w")
    chart.setLabel("bottom", x_label)
    chart.setLabel("left", y_label)
    chart.setMouseEnabled(False, False)
    chart.setMinimumHeight(min_height)
    return chart
