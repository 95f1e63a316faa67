"""Two endpoints, a path between them in latent space, and the strip of its decodes."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from latentlab.app.image_strip import ImageStrip
from latentlab.app.qimage import to_qpixmap

__all__ = ["InterpolationPanel"]


class InterpolationPanel(QWidget):
    """Signals (GUI thread): ``endpointRequested(which)`` ("A" or "B") when the user takes the
    current point as an endpoint; ``pathChanged()`` when steps or the path kind change;
    ``exportRequested(kind)`` ("png" or "gif"); ``stepChosen(index)`` when an image of the
    strip is clicked."""

    endpointRequested = Signal(str)
    pathChanged = Signal()
    exportRequested = Signal(str)
    stepChosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("interpolationPanel")
        self.endpoint_views: dict[str, QLabel] = {}
        ends = QGridLayout()
        for column, which in enumerate("AB"):
            button = QPushButton(f"{which} ← current")
            button.setObjectName(f"endpoint{which}")
            button.setToolTip(
                f"Use the current point (a sample, a map point or one of your "
                f"images) as endpoint {which}"
            )
            button.clicked.connect(lambda _=False, w=which: self.endpointRequested.emit(w))
            view = QLabel("—")
            view.setMinimumSize(QSize(48, 48))
            view.setAlignment(Qt.AlignmentFlag.AlignCenter)
            ends.addWidget(button, 0, column)
            ends.addWidget(view, 1, column)
            self.endpoint_views[which] = view
        self.steps = QSpinBox()
        self.steps.setObjectName("interpolationSteps")
        self.steps.setRange(2, 64)
        self.steps.setValue(8)
        self.steps.setToolTip("Images along the path, both endpoints included")
        self.steps.valueChanged.connect(self.pathChanged)
        self.spherical = QCheckBox("spherical")
        self.spherical.setObjectName("interpolationSpherical")
        self.spherical.setToolTip("Walk along a great circle (slerp) instead of a straight line")
        self.spherical.toggled.connect(self.pathChanged)
        self.strip = ImageStrip("Pick endpoints A and B")
        self.strip.setObjectName("interpolationStrip")
        self.strip.setToolTip(
            "The decodes along the path from A to B: click one to make it the current point"
        )
        self.strip.imageClicked.connect(self.stepChosen)
        png = QPushButton("Export PNG…")
        png.setToolTip("Save the strip as a PNG image (Ctrl+E)")
        png.clicked.connect(lambda: self.exportRequested.emit("png"))
        gif = QPushButton("Export GIF…")
        gif.setToolTip("Save the walk as an animated GIF")
        gif.clicked.connect(lambda: self.exportRequested.emit("gif"))
        self.export_buttons = (png, gif)
        options = QHBoxLayout()
        options.addWidget(QLabel("steps"))
        options.addWidget(self.steps)
        options.addWidget(self.spherical)
        options.addStretch(1)
        exports = QHBoxLayout()
        exports.addStretch(1)
        exports.addWidget(png)
        exports.addWidget(gif)
        layout = QVBoxLayout(self)
        layout.addLayout(ends)
        layout.addLayout(options)
        layout.addWidget(self.strip, 1)
        layout.addLayout(exports)
        self.set_strip(None)

    def set_endpoint(self, which: str, image: np.ndarray | None) -> None:
        view = self.endpoint_views[which]
        if image is None:
            view.setText("—")
        else:
            view.setPixmap(to_qpixmap(image, max(1, 48 // max(image.shape[1:]))))

    def strip_images(self) -> np.ndarray | None:
        """The images of the strip shown, ``N,C,H,W`` in [0, 1], or None."""
        return self.strip.images()

    def set_strip(self, images: np.ndarray | None) -> None:
        for button in self.export_buttons:
            button.setEnabled(images is not None)
        self.strip.set_images(images)
