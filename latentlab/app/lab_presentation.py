"""Presentation mode of the lab, for a projector: full screen, text, plot labels, points and
lines scaled up together, so that the back row can read the Jacobian's numbers."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

from latentlab.app.charts import scale_axes

__all__ = ["SCALE", "scale_plot", "scaled_font"]

SCALE = 1.6
TITLE_POINTS = 11.0  # pyqtgraph's plot titles


def scaled_font(font: QFont, scale: float) -> QFont:
    """``font`` at ``scale`` times the application's base size."""
    scaled = QFont(font)
    scaled.setPointSizeF(QApplication.font().pointSizeF() * scale)
    return scaled


def scale_plot(plot: pg.PlotWidget, scale: float, font: QFont) -> None:
    """The plot's axis text in ``font`` (the window's, scaled; a plot not shown yet has no
    parent to inherit it from) and its title ``scale`` times its normal size."""
    scale_axes(plot, scale != 1.0, font)
    title = plot.getPlotItem().titleLabel
    title.setText(title.text, size=f"{TITLE_POINTS * scale:.0f}pt")
