"""Model information: what it is, what it was trained on, how good it is."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from latentlab.explore.describe import describe, model_info

if TYPE_CHECKING:
    from latentlab.modelfile import LoadedModel

__all__ = ["InfoPanel"]

# the lines of ``latentlab info`` that fit the model box; the command shows them all
_LINES = (
    "name",
    "family",
    "image",
    "dataset",
    "training",
    "test metric",
    "latent dim",
    "parameters",
    "attributes",
)


class InfoPanel(QLabel):
    """The open model in a few lines, worded as ``latentlab info`` words them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("infoPanel")
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setText("<i>no model open</i>")

    def show_model(self, loaded: LoadedModel) -> None:
        rows = "".join(
            f"<tr><td style='color:#666;padding-right:8px'>{escape(k)}</td>"
            f"<td>{escape(v)}</td></tr>"
            for k, v in describe(model_info(loaded), _LINES)
        )
        self.setText(f"<table>{rows}</table>")
