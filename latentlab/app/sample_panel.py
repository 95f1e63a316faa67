"""The sampling grid: samples from the prior at a temperature and seed; click one to explore it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from latentlab.app.qimage import to_qpixmap

__all__ = ["SamplePanel"]

ROWS = COLUMNS = 4
_TILE_PIXELS = 64


class SamplePanel(QWidget):
    """Signals (GUI thread): ``sampleRequested(temperature, seed)`` when the user asks for new
    samples; ``sampleChosen(index)`` when a sample is clicked."""

    sampleRequested = Signal(float, int)
    sampleChosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("samplePanel")
        self.tiles: list[QToolButton] = []
        grid = QGridLayout()
        grid.setSpacing(3)
        for i in range(ROWS * COLUMNS):
            tile = QToolButton()
            tile.setObjectName(f"sample:{i}")
            tile.setIconSize(QSize(_TILE_PIXELS, _TILE_PIXELS))
            tile.setAutoRaise(True)
            tile.setEnabled(False)
            tile.setToolTip("Click to make this sample the current point")
            tile.clicked.connect(lambda _=False, i=i: self.sampleChosen.emit(i))
            grid.addWidget(tile, i // COLUMNS, i % COLUMNS)
            self.tiles.append(tile)

        self.temperature = QSlider(Qt.Orientation.Horizontal)
        self.temperature.setObjectName("temperatureSlider")
        self.temperature.setRange(0, 150)
        self.temperature.setValue(100)
        self.temperature.setToolTip("Temperature: scales the prior's spread (1.0 = the prior)")
        self.temperature_label = QLabel()
        self.temperature_label.setMinimumWidth(42)
        self.temperature.valueChanged.connect(self._update_temperature_label)
        self.temperature.sliderReleased.connect(self.request)
        self._update_temperature_label()

        self.seed = QSpinBox()
        self.seed.setObjectName("seedSpin")
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Random seed: the same seed and temperature give the same samples")
        self.seed.valueChanged.connect(self.request)

        self.button = QPushButton("Sample")
        self.button.setObjectName("sampleButton")
        self.button.setToolTip("Draw new samples (Space)")
        self.button.clicked.connect(self.resample)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("T"))
        controls.addWidget(self.temperature, 1)
        controls.addWidget(self.temperature_label)
        controls.addWidget(QLabel("seed"))
        controls.addWidget(self.seed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(grid)
        layout.addLayout(controls)
        layout.addWidget(self.button)

    @property
    def temperature_value(self) -> float:
        return self.temperature.value() / 100

    def set_temperature(self, temperature: float) -> None:
        """Show ``temperature`` without requesting samples."""
        self.temperature.setValue(round(100 * temperature))

    def _update_temperature_label(self) -> None:
        self.temperature_label.setText(f"{self.temperature_value:.2f}")

    def request(self) -> None:
        self.sampleRequested.emit(self.temperature_value, self.seed.value())

    def resample(self) -> None:
        """New samples: the next seed (which also requests them)."""
        self.seed.setValue((self.seed.value() + 1) % (2**31 - 1))

    def set_samples(self, images: np.ndarray, clickable: bool) -> None:
        for tile, image in zip(self.tiles, images, strict=False):
            scale = max(1, _TILE_PIXELS // max(image.shape[1:]))
            tile.setIcon(to_qpixmap(image, scale))
            tile.setEnabled(clickable)

    def set_enabled(self, enabled: bool) -> None:
        for widget in (self.button, self.temperature, self.seed):
            widget.setEnabled(enabled)
