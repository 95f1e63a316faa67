"""The current decoded image, drawn pixel-exact and as large as the panel allows."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from latentlab.app.qimage import to_qimage

__all__ = ["ImageView"]


class ImageView(QWidget):
    """Shows one image scaled by the largest whole factor that fits, nearest-neighbour."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageView")
        self.setMinimumSize(128, 128)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        # paintEvent covers every pixel: Qt need not paint the panel and splitter behind the
        # view first, which it did at every new image of a drag (0.6 ms of the GUI thread)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setToolTip("The decode of the current point: drag the handle on the map to move it")
        self._image: np.ndarray | None = None
        self._qimage: QImage | None = None
        self._placeholder = "no image"

    def image(self) -> np.ndarray | None:
        """The image shown, ``C,H,W`` float in [0, 1], or None."""
        return self._image

    def set_image(self, image: np.ndarray | None) -> None:
        self._image = image
        self._qimage = None if image is None else to_qimage(image)
        self.update()

    def set_placeholder(self, text: str) -> None:
        """What to say while there is no image."""
        self._placeholder = text
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(320, 320)

    def target_rect(self) -> QRect:
        """Where the image is drawn: centred, scaled by a whole factor (or shrunk to fit)."""
        if self._qimage is None:
            return QRect()
        w, h = self._qimage.width(), self._qimage.height()
        fit = min(self.width() / w, self.height() / h)
        scale = int(fit) if fit >= 1 else fit
        sw, sh = int(w * scale), int(h * scale)
        return QRect((self.width() - sw) // 2, (self.height() - sh) // 2, sw, sh)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        if self._qimage is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.drawImage(self.target_rect(), self._qimage)
        else:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
        painter.end()
