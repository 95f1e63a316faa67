"""The decoded image's view: a new image repaints the view alone."""

from __future__ import annotations

import numpy as np
from helpers import PaintCounter
from PySide6.QtWidgets import QGroupBox, QVBoxLayout

from latentlab.app.image_view import ImageView


def test_a_new_image_does_not_repaint_the_panel_behind_the_view(qtbot):
    # at every image of a drag, painting the panel behind the view first cost 0.6 ms
    panel = QGroupBox("Decoded image")
    view = ImageView()
    QVBoxLayout(panel).addWidget(view)
    qtbot.addWidget(panel)
    panel.resize(600, 600)
    panel.show()
    qtbot.waitExposed(panel)
    panel_paints, view_paints = PaintCounter(), PaintCounter()
    view.installEventFilter(view_paints)
    for value in (0.0, 0.25, 0.5, 0.75):
        view.set_image(np.full((3, 16, 16), value, np.float32))
        qtbot.waitUntil(lambda: view_paints.paints > 0)
        view_paints.paints = 0
        if value == 0.0:  # the panel's first paint is over
            panel.installEventFilter(panel_paints)
    assert panel_paints.paints == 0
