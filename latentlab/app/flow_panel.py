"""NICE's and RealNVP's own panel: the change of variables layer by layer. For one image, a row
per layer with its output, its log|det J| and the running sum, and the likelihood they add up
to with the prior."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from latentlab.app.family_panel import FamilyPanel, PanelHost
from latentlab.app.image_source import ImageSource
from latentlab.app.qimage import to_qpixmap
from latentlab.explore.flow_trace import FlowTrace, trace_flow
from latentlab.modelfile import LoadedModel

__all__ = ["FlowLayersPanel"]

_ICON_HEIGHT = 28
_COLUMNS = ("output", "layer", "shape", "log|det J|", "sum")
_CHOOSE = "Choose an image to follow it through the flow, layer by layer"


class FlowLayersPanel(FamilyPanel):
    """The chosen image, a table of the flow's layers, and the likelihood they add up to."""

    title = "Layers"

    def __init__(self, host: PanelHost, parent: QWidget | None = None) -> None:
        super().__init__(host, parent)
        self.setObjectName("flowLayersPanel")
        self.loaded: LoadedModel | None = None
        self.trace: FlowTrace | None = None
        self.source = ImageSource(host, "Follow")
        self.source.imageChosen.connect(self.follow)
        self.summary = QLabel(_CHOOSE)
        self.summary.setObjectName("flowSummary")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(_COLUMNS))
        self.table.setObjectName("flowLayers")
        self.table.setHorizontalHeaderLabels(_COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(4 * _ICON_HEIGHT, _ICON_HEIGHT))
        self.table.verticalHeader().setDefaultSectionSize(_ICON_HEIGHT + 4)
        self.table.verticalHeader().hide()
        self.table.setToolTip(
            "Each layer's output (its channels side by side, dark to light "
            "from its lowest to its highest value) and how much it stretches "
            "volume, in nats: log p(x) = log p(z) + the sum of the log-dets"
        )
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.source, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)

    def show_model(self, loaded: LoadedModel) -> None:
        self.loaded, self.trace = loaded, None
        self.table.setRowCount(0)
        self.summary.setText(_CHOOSE)

    def follow(self, image: np.ndarray) -> None:
        """Trace ``image`` (``C,H,W`` in [0, 1]) through the flow on the worker and show it."""
        self.summary.setText("computing…")
        self.host.submit(trace_flow, image, watched=True).finished.connect(self.show_trace)

    def show_trace(self, trace: FlowTrace) -> None:
        self.trace = trace
        self.table.setRowCount(len(trace.layers))
        total = 0.0
        for row, layer in enumerate(trace.layers):
            total += layer.logdet
            h, w = layer.picture.shape[1:]
            scale = max(1, min(_ICON_HEIGHT // h, 4 * _ICON_HEIGHT // w))
            picture = QTableWidgetItem(QIcon(to_qpixmap(layer.picture, scale)), "")
            cells = [
                picture,
                QTableWidgetItem(layer.label),
                QTableWidgetItem("x".join(str(s) for s in layer.shape)),
                QTableWidgetItem(f"{layer.logdet:+.2f}"),
                QTableWidgetItem(f"{total:+.2f}"),
            ]
            for column, cell in enumerate(cells):
                if column >= 3:
                    cell.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(row, column, cell)
        self.table.resizeColumnsToContents()
        self.summary.setText(
            f"log p(x) = log p(z) {trace.prior:+.1f} + log-dets {total:+.1f} = "
            f"{trace.log_density:.1f} nats for the dequantized image, "
            f"{trace.bits_per_dim:.3f} bits/dim at its {trace.levels} levels"
        )
