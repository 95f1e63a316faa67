"""A slow model's image follows a drag as a linear preview, and the decode replaces it."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

import latentlab.app.worker
from latentlab.app.automation import circle_path, drag_steps
from latentlab.explore import ops


@pytest.fixture
def slow_window(open_window, tiny_vae16_path, monkeypatch, qtbot):
    """The window on a model that counts as slow (every decode does), with its first slopes."""
    monkeypatch.setattr(latentlab.app.worker, "PREVIEW_ABOVE_S", -1.0)
    window = open_window(tiny_vae16_path)
    qtbot.waitUntil(lambda: window.preview is not None, timeout=5000)
    return window


def test_a_drag_shows_previews_then_the_decoded_image(slow_window, qtbot):
    window = slow_window
    previews, decodes = [], []
    window.previewDisplayed.connect(previews.append)
    window.imageDisplayed.connect(decodes.append)
    start = window.map_view.handle_scene_position()
    for _ in drag_steps(window.map_view, circle_path(start, 80, 30, turns=1)):
        QApplication.processEvents()
    qtbot.waitUntil(lambda: window.shown_seq == window.requested_seq, timeout=5000)
    assert previews and previews == sorted(previews)
    assert decodes[-1] == window.requested_seq  # the last image shown is the decode itself
    z = window.explorer.state.latent
    expected = ops.decode(window.explorer.loaded.model, z[None])[0]
    np.testing.assert_allclose(window.current_image(), expected, atol=1e-6)


def test_a_slider_move_is_not_previewed(slow_window, qtbot):
    window = slow_window
    previews = []
    window.previewDisplayed.connect(previews.append)
    state = window.explorer.state
    state.add_direction("tilt", np.eye(state.plane.dim)[3])
    state.set_amount("tilt", 1.5)
    qtbot.waitUntil(lambda: window.shown_seq == window.requested_seq, timeout=5000)
    assert previews == []


def test_a_model_slow_only_on_its_first_decode_gets_no_previews(
    open_window, tiny_vae16_path, monkeypatch, qtbot
):
    """The first decode of a model pays one-off costs (torch choosing its kernels): when it is
    slow, the worker times a second one before the model counts as slow."""
    decode, slowed = ops.decode, []

    def slow_the_first_time(model, z):
        if not slowed and QThread.currentThread().objectName().startswith("model worker"):
            slowed.append(True)
            time.sleep(2 * latentlab.app.worker.PREVIEW_ABOVE_S)
        return decode(model, z)

    monkeypatch.setattr(ops, "decode", slow_the_first_time)
    window = open_window(tiny_vae16_path)
    previews = []
    window.previewDisplayed.connect(previews.append)
    start = window.map_view.handle_scene_position()
    for _ in drag_steps(window.map_view, circle_path(start, 80, 10, turns=1)):
        QApplication.processEvents()
    qtbot.waitUntil(lambda: window.shown_seq == window.requested_seq, timeout=5000)
    assert slowed and window.preview is None and previews == []
