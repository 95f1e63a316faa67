"""An image with a mask painted over it: drag with the left button to mark pixels to be filled,
with the right button to unmark them."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from latentlab.app.qimage import to_qimage

__all__ = ["MaskCanvas"]

_MASK_COLOUR = QColor(230, 40, 40, 150)


class MaskCanvas(QWidget):
    """Signals (GUI thread): ``maskChanged()`` whenever the mask was edited."""

    maskChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("maskCanvas")
        self.setMinimumSize(96, 96)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip(
            "Paint the pixels to fill: drag with the left mouse button; the right button erases"
        )
        self._image: np.ndarray | None = None
        self._qimage: QImage | None = None
        # the pixels to fill (``H,W`` bool); not named ``mask``, which would hide QWidget.mask()
        self.mask_array: np.ndarray = np.zeros((1, 1), dtype=bool)
        self._painting: bool | None = None  # the value being painted while a button is down

    def sizeHint(self) -> QSize:
        return QSize(160, 160)

    def set_image(self, image: np.ndarray) -> None:
        """The image (``C,H,W`` in [0, 1]) to paint over; keeps the mask if the size matches."""
        self._image = image
        self._qimage = to_qimage(image)
        if self.mask_array.shape != image.shape[1:]:
            self.mask_array = np.zeros(image.shape[1:], dtype=bool)
        self.update()

    def image(self) -> np.ndarray | None:
        return self._image

    def set_mask(self, mask: np.ndarray) -> None:
        self.mask_array = mask.astype(bool).copy()
        self.update()
        self.maskChanged.emit()

    def target_rect(self) -> QRect:
        """Where the image is drawn: centred, scaled by the largest whole factor that fits."""
        h, w = self.mask_array.shape
        scale = max(1, min(self.width() // w, self.height() // h))
        return QRect(
            (self.width() - w * scale) // 2, (self.height() - h * scale) // 2, w * scale, h * scale
        )

    def pixel_at(self, pos: QPoint) -> tuple[int, int] | None:
        """The (row, column) under widget position ``pos``, or None outside the image."""
        rect = self.target_rect()
        if not rect.contains(pos):
            return None
        h, w = self.mask_array.shape
        return (
            (pos.y() - rect.top()) * h // rect.height(),
            (pos.x() - rect.left()) * w // rect.width(),
        )

    def _paint_at(self, pos: QPoint) -> None:
        pixel = self.pixel_at(pos)
        if (
            pixel is not None
            and self._painting is not None
            and self.mask_array[pixel] != self._painting
        ):
            self.mask_array[pixel] = self._painting
            self.update()
            self.maskChanged.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._painting = event.button() == Qt.MouseButton.LeftButton
            self._paint_at(event.position().toPoint())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._paint_at(event.position().toPoint())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._painting = None

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        if self._qimage is not None:
            rect = self.target_rect()
            painter.drawImage(rect, self._qimage)
            cell = rect.width() // self.mask_array.shape[1]
            for row, column in zip(*np.nonzero(self.mask_array), strict=True):
                painter.fillRect(
                    rect.left() + column * cell, rect.top() + row * cell, cell, cell, _MASK_COLOUR
                )
        painter.end()
