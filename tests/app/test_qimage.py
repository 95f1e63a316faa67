"""numpy images become Qt images in the screen's own format, pixel for pixel."""

from __future__ import annotations

import gc

import numpy as np
from PySide6.QtGui import QImage

from latentlab.app.qimage import to_qimage, to_qpixmap


def _rgb(image: QImage, x: int, y: int) -> tuple[int, int, int]:
    colour = image.pixelColor(x, y)
    return colour.red(), colour.green(), colour.blue()


def test_colour_and_grey_images_keep_every_pixel_in_the_screens_format(qapp):
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (3, 5, 7), dtype=np.uint8)
    grey = rng.random((1, 4, 6), dtype=np.float32)
    shown, shown_grey = to_qimage(colour), to_qimage(grey)
    gc.collect()  # the numpy buffers the images were made from are gone
    assert shown.format() == shown_grey.format() == QImage.Format.Format_RGB32
    assert (shown.width(), shown.height()) == (7, 5)
    for y in range(5):
        for x in range(7):
            assert _rgb(shown, x, y) == tuple(int(v) for v in colour[:, y, x])
    level = int(np.round(grey[0, 3, 5] * 255))
    assert _rgb(shown_grey, 5, 3) == (level, level, level)


def test_a_pixmap_is_enlarged_with_crisp_pixels(qapp):
    image = np.zeros((3, 2, 2), dtype=np.uint8)
    image[0, 0, 0] = 255  # one red pixel in the top left corner
    pixmap = to_qpixmap(image, scale=3)
    enlarged = pixmap.toImage()
    assert (enlarged.width(), enlarged.height()) == (6, 6)
    assert _rgb(enlarged, 2, 2) == (255, 0, 0)
    assert _rgb(enlarged, 3, 3) == (0, 0, 0)
