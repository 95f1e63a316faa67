"""The lab's Jacobian readout: at the cursor, the whole flow's and the current layer's 2x2
Jacobians as numbers, their determinants, and the change-of-variables identity with the numbers
filled in (Dinh et al., "Density estimation using Real NVP", 2017, eq. 3)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QApplication, QLabel, QSizePolicy, QWidget

from latentlab.explore.lab_flow import JacobianReading

__all__ = ["JacobianReadout", "jacobian_text"]

SIZE = 1.2  # times the application's text: the numbers are what the audience reads
_COLUMNS = 38  # characters of the longest line but the layer's name (which wraps)
_PROMPT = "Move the mouse over the data view\nto read the Jacobian at the cursor."


def _entry(value: float) -> str:
    # an exact zero (a coupling's copied coordinate does not depend on the transformed one)
    # is shown as a bare 0, so that the triangular structure stands out
    return f"{'0':>7}" if value == 0.0 else f"{value:7.3f}"


def _matrix(m: np.ndarray) -> list[str]:
    return [f"⎡{_entry(m[0, 0])} {_entry(m[0, 1])} ⎤", f"⎣{_entry(m[1, 0])} {_entry(m[1, 1])} ⎦"]


def _signed(value: float) -> str:
    return f"({value:.3f})" if value < 0 else f"{value:.3f}"


def jacobian_text(reading: JacobianReading, layer_label: str) -> str:
    """The readout as plain monospace text (what the label shows)."""
    x, y = reading.point
    z1, z2 = reading.z
    whole, layer = np.asarray(reading.whole), np.asarray(reading.layer_matrix)
    lines = [
        f"x = ({x:7.3f}, {y:7.3f})",
        f"z = ({z1:7.3f}, {z2:7.3f})",
        "",
        "whole flow: ∂z/∂x",
        *_matrix(whole),
        f"det = {np.linalg.det(whole):.4g}   log|det| = {reading.whole_logdet:.3f}",
        "",
        f"layer {reading.layer}: ∂h{reading.layer + 1}/∂h{reading.layer}",
        layer_label,
        *_matrix(layer),
        f"det = {np.linalg.det(layer):.4g}   log|det| = {reading.layer_logdet:.3f}",
        "",
        "log p(x) = log π(z) + log|det ∂z/∂x|",
        f"{reading.log_p:8.3f} = {reading.log_prior:.3f} + {_signed(reading.whole_logdet)}",
    ]
    return "\n".join(lines)


class JacobianReadout(QLabel):
    """Large monospace text, word-wrapped so that a long layer name is never cut off."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(_PROMPT, parent)
        self.setObjectName("labJacobian")
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        font.setPointSizeF(QApplication.font().pointSizeF() * SIZE)
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.set_font(font)
        self.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Expanding)
        self.setToolTip("The Jacobian of the flow at the cursor, whole and of the current layer")

    def set_font(self, font: QFont) -> None:
        """Use ``font``, wide enough for the readout's longest fixed line."""
        self.setFont(font)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("m" * _COLUMNS))

    def show_reading(self, reading: JacobianReading | None, layer_label: str) -> None:
        self.setText(_PROMPT if reading is None else jacobian_text(reading, layer_label))
