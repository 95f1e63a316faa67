"""A long drag through the real event loop.

PySide6 6.12.0 crashed ("Fatal Python error: none_dealloc") after a few thousand event-loop
iterations while a pyqtgraph view was dragged; this keeps the pinned Qt honest.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QApplication

from latentlab.app.automation import circle_path, drag_steps
from latentlab.explore import ops

STEPS = 4000


def test_long_drag_survives_and_image_follows(open_window, qtbot, tiny_vae_path, every_mouse_move):
    window = open_window(tiny_vae_path)
    moves = []
    window.map_view.handleMoved.connect(lambda a, b: moves.append((a, b)))
    start = window.map_view.handle_scene_position()
    displayed = []
    window.imageDisplayed.connect(displayed.append)
    for step in drag_steps(window.map_view, circle_path(start, 150, STEPS, turns=8)):
        QApplication.processEvents()
        if step % 100 == 0:  # the image catches up with the handle while the drag goes on
            qtbot.waitUntil(lambda: window.shown_seq == window.requested_seq, timeout=5000)
    qtbot.waitUntil(lambda: window.shown_seq == window.requested_seq, timeout=5000)
    assert len(moves) >= 0.95 * STEPS  # (nearly) every move dragged the handle
    assert len(displayed) >= STEPS // 100
    assert displayed == sorted(displayed)  # never an older decode after a newer one
    np.testing.assert_array_equal(
        window.image_view.image(),
        ops.decode(window.explorer.loaded.model, window.explorer.state.latent[None])[0],
    )
