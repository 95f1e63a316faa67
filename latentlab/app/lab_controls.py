"""The lab's control column: the data (a toy set or the user's own points), the model (a flow
of a chosen depth or a Gaussian mixture by EM), and the run (fit, pause, step, stop)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from latentlab.data.toy2d import TOY_DATASETS
from latentlab.models.flow2d import FLOW2D_KINDS

__all__ = ["EM", "MY_POINTS", "LabControls"]

MY_POINTS = "mine"  # the dataset id of the user's own points (painted or loaded)
EM = "em"  # the model id of the Gaussian mixture


def _button(text: str, name: str, tip: str, checkable: bool = False) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setToolTip(tip)
    button.setCheckable(checkable)
    return button


def _spin(name: str, low: int, high: int, value: int, tip: str, step: int = 1) -> QSpinBox:
    spin = QSpinBox()
    spin.setObjectName(name)
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin


class LabControls(QWidget):
    """Widgets only: the lab window connects them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("labControls")
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(self)
        layout.addWidget(self._data_box())
        layout.addWidget(self._model_box())
        layout.addWidget(self._run_box())
        layout.addStretch(1)

    def _data_box(self) -> QGroupBox:
        box = QGroupBox("Data")
        self.dataset = QComboBox()
        self.dataset.setObjectName("labDataset")
        for key, name in TOY_DATASETS.items():
            self.dataset.addItem(name, key)
        self.dataset.addItem("My points", MY_POINTS)
        self.dataset.setToolTip("A toy data set, or your own points (paint them or load a CSV)")
        self.count = _spin("labPointCount", 100, 20_000, 2000, "Points drawn from the toy set", 500)
        self.paint = _button(
            "Paint points", "labPaint", "Click or drag on the data view to add points", True
        )
        self.clear = _button("Clear", "labClear", "Remove every point (then paint your own)")
        self.load = _button("Load CSV…", "labLoad", "Read x,y points from a CSV file")
        self.save = _button("Save CSV…", "labSave", "Write the points to a CSV file (x,y)")
        form = QFormLayout(box)
        form.addRow(self.dataset)
        form.addRow("Points", self.count)
        form.addRow(_row(self.paint, self.clear))
        form.addRow(_row(self.load, self.save))
        return box

    def _model_box(self) -> QGroupBox:
        box = QGroupBox("Model")
        self.model = QComboBox()
        self.model.setObjectName("labModel")
        for key, name in FLOW2D_KINDS.items():
            self.model.addItem(name.split(":")[0], key)
            self.model.setItemData(self.model.count() - 1, name, Qt.ItemDataRole.ToolTipRole)
        self.model.addItem("Gaussian mixture (EM)", EM)
        self.model.setCurrentIndex(self.model.findData("realnvp"))
        self.layers = _spin("labLayers", 1, 32, 8, "Coupling layers of the flow")
        self.components = _spin("labComponents", 1, 30, 8, "Components K of the mixture")
        form = QFormLayout(box)
        form.addRow(self.model)
        form.addRow("Layers", self.layers)
        form.addRow("Components", self.components)
        self.layers_label = form.labelForField(self.layers)
        self.components_label = form.labelForField(self.components)
        return box

    def _run_box(self) -> QGroupBox:
        box = QGroupBox("Fit")
        self.fit = _button("Fit", "labFit", "Fit the model to the points, live (Space)")
        self.pause = _button("Pause", "labPause", "Pause or resume the fit (Space)", True)
        self.step = _button("Step", "labStep", "One EM iteration (starts paused if idle)")
        self.stop = _button("Stop", "labStop", "Stop the fit; the model stays as it is (Esc)")
        self.pick = _button(
            "Pick, then sample",
            "labPickSample",
            "Ancestral sampling, slowly: pick a component by its weight, then draw from it",
        )
        self.progress = QProgressBar()
        self.progress.setObjectName("labProgress")
        self.progress.setRange(0, 100)
        self.status = QLabel("Choose data and a model, then Fit.")
        self.status.setObjectName("labStatus")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(box)
        layout.addLayout(_row(self.fit, self.pause))
        layout.addLayout(_row(self.step, self.stop))
        layout.addWidget(self.pick)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        return box

    def dataset_id(self) -> str:
        return str(self.dataset.currentData())

    def model_id(self) -> str:
        return str(self.model.currentData())

    def show_mode(self, em: bool) -> None:
        """Show the settings and buttons of a flow or of EM."""
        for widget in (self.layers, self.layers_label):
            widget.setVisible(not em)
        for widget in (self.components, self.components_label, self.step, self.pick):
            widget.setVisible(em)

    def show_running(self, running: bool) -> None:
        self.fit.setEnabled(not running)
        self.stop.setEnabled(running)
        self.pause.setEnabled(running)
        for widget in (self.dataset, self.count, self.model, self.layers, self.components):
            widget.setEnabled(not running)


def _row(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    return row
