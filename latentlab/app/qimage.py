"""numpy images -> Qt images."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap

from latentlab.explore.images import to_uint8_hwc

__all__ = ["to_qimage", "to_qpixmap"]


def to_qimage(image: np.ndarray) -> QImage:
    """One image ``C,H,W`` (float in [0, 1] or uint8) with 1 or 3 channels -> QImage (a copy)
    in the screen's own format, RGB32. Kept as RGB888 or Grayscale8, every paint converted each
    pixel it drew: an image scaled to 640 x 640 took 1.0 ms to paint instead of 0.4, and the
    conversion was the GUI thread's largest single cost in Qt's code in a soak."""
    hwc = to_uint8_hwc(image)[0]
    h, w, c = hwc.shape
    if c == 1:
        source = QImage(hwc.tobytes(), w, h, w, QImage.Format.Format_Grayscale8)
    else:
        rgb = np.ascontiguousarray(hwc[..., :3])
        source = QImage(rgb.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888)
    return source.convertToFormat(QImage.Format.Format_RGB32)  # owns its pixels


def to_qpixmap(image: np.ndarray, scale: int = 1) -> QPixmap:
    """A pixmap enlarged ``scale`` times with nearest-neighbour, so pixels stay crisp."""
    qimage = to_qimage(image)
    if scale > 1:
        qimage = qimage.scaled(
            qimage.width() * scale,
            qimage.height() * scale,
            Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.FastTransformation,
        )
    return QPixmap.fromImage(qimage)
