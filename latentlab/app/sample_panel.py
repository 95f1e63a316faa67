"""The sampling grid: samples from the prior at a temperature and seed; click one to explore it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from latentlab.app.image_strip import best_layout
from latentlab.app.qimage import to_qpixmap

__all__ = ["SamplePanel"]

SAMPLES = 16  # arranged in as many columns as make them largest
_GAP = 3  # pixels between tiles
_MIN_TILE = 32  # pixels: the smallest a sample is shown


class SamplePanel(QWidget):
    """Signals (GUI thread): ``sampleRequested(temperature, seed)`` when the user asks for new
    samples; ``sampleChosen(index)`` when a sample is clicked."""

    sampleRequested = Signal(float, int)
    sampleChosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("samplePanel")
        self.tiles: list[QToolButton] = []
        self._images: np.ndarray | None = None
        self._tile_pixels = 0
        self.grid = QWidget()
        self._grid_layout = QGridLayout(self.grid)
        self._grid_layout.setContentsMargins(0, 0, 0, 0)
        self._grid_layout.setSpacing(_GAP)
        self._columns = 0
        for i in range(SAMPLES):
            tile = QToolButton()
            tile.setObjectName(f"sample:{i}")
            tile.setMinimumSize(_MIN_TILE, _MIN_TILE)
            tile.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
            tile.setAutoRaise(True)
            tile.setEnabled(False)
            tile.setToolTip("Click to make this sample the current point")
            tile.clicked.connect(lambda _=False, i=i: self.sampleChosen.emit(i))
            self.tiles.append(tile)
        self._arrange(4)
        self.grid.installEventFilter(self)
        self.tiles[0].installEventFilter(self)

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
        layout.addWidget(self.grid, 1)
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

    def show_progress(self, fraction: float | None) -> None:
        """How far the samples being drawn are (a PixelRNN draws pixel by pixel, for about a
        second); None: none are on their way."""
        self.button.setText("Sample" if fraction is None else f"Sample (drawing: {fraction:.0%})")

    def set_samples(self, images: np.ndarray, clickable: bool) -> None:
        self._images = images
        self._tile_pixels = 0  # icons made afresh at the tiles' size
        self._fit_icons()
        for tile in self.tiles[: len(images)]:
            tile.setEnabled(clickable)

    def _fit_icons(self) -> None:
        """Samples as large as their tiles allow, scaled by a whole factor (pixel-exact), so
        that they grow with the space the panel has (presentation mode included)."""
        size = self.tiles[0].size()
        pixels = max(_MIN_TILE, min(size.width(), size.height()) - 8)  # the button's margin
        if self._images is None or pixels == self._tile_pixels:
            return
        self._tile_pixels = pixels
        scale = max(1, pixels // max(self._images.shape[2:]))
        for tile, image in zip(self.tiles, self._images, strict=False):
            tile.setIconSize(QSize(pixels, pixels))
            tile.setIcon(to_qpixmap(image, scale))

    def _arrange(self, columns: int) -> None:
        """The tiles in rows of ``columns``."""
        if columns != self._columns:
            self._columns = columns
            for i, tile in enumerate(self.tiles):
                self._grid_layout.addWidget(tile, i // columns, i % columns)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            if watched is self.grid:  # as many columns as make the samples largest
                area = self.grid.height(), self.grid.width()
                self._arrange(best_layout(len(self.tiles), (1, 1), area)[0])
            elif watched is self.tiles[0]:
                self._fit_icons()  # every tile has the first one's size
        return super().eventFilter(watched, event)

    def set_enabled(self, enabled: bool) -> None:
        for widget in (self.button, self.temperature, self.seed):
            widget.setEnabled(enabled)
