"""A row of images that fills the space it is given: the images wrap onto as many rows as make
them largest, scaled by whole factors (pixel-exact) when they fit, and each can be clicked."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QImage, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from latentlab.app.qimage import to_qimage

__all__ = ["ImageStrip", "best_layout"]

_GAP = 3  # pixels between tiles on screen


def best_layout(n: int, tile: tuple[int, int], area: tuple[int, int]) -> tuple[int, float]:
    """(columns, scale) that make ``n`` tiles of ``tile`` (h, w) pixels largest in ``area``
    (height, width): the scale is a whole number when it is at least 1."""
    h, w = tile
    best = (n, 0.0)
    for columns in range(1, n + 1):
        rows = math.ceil(n / columns)
        fit = min(
            (area[1] - _GAP * (columns - 1)) / (columns * w),
            (area[0] - _GAP * (rows - 1)) / (rows * h),
        )
        scale = math.floor(fit) if fit >= 1 else fit
        if scale > best[1]:
            best = (columns, scale)
    return best


class ImageStrip(QWidget):
    """Signals (GUI thread): ``imageClicked(index)`` when the user clicks an image."""

    imageClicked = Signal(int)

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(48)
        self._placeholder = placeholder
        self._images: np.ndarray | None = None
        self._qimages: list[QImage] = []

    def sizeHint(self) -> QSize:
        return QSize(320, 96)

    def images(self) -> np.ndarray | None:
        """The images shown, ``N,C,H,W`` in [0, 1], or None."""
        return self._images

    def set_images(self, images: np.ndarray | None) -> None:
        self._images = images
        self._qimages = [] if images is None else [to_qimage(image) for image in images]
        self.update()

    def tile_rects(self) -> list[QRect]:
        """Where each image is drawn."""
        if self._images is None or not self._qimages:
            return []
        h, w = self._images.shape[2:]
        n = len(self._qimages)
        columns, scale = best_layout(n, (h, w), (self.height() - 4, self.width() - 4))
        rows = math.ceil(n / columns)
        sw, sh = max(1, int(w * scale)), max(1, int(h * scale))
        left = (self.width() - columns * sw - _GAP * (columns - 1)) // 2
        top = (self.height() - rows * sh - _GAP * (rows - 1)) // 2
        return [
            QRect(left + (i % columns) * (sw + _GAP), top + (i // columns) * (sh + _GAP), sw, sh)
            for i in range(n)
        ]

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if not self._qimages:
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            painter.drawText(self.rect(), flags, self._placeholder)
        for rect, image in zip(self.tile_rects(), self._qimages, strict=True):
            painter.drawImage(rect, image)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        for i, rect in enumerate(self.tile_rects()):
            if rect.contains(event.position().toPoint()):
                self.imageClicked.emit(i)
                return
