"""Drive the real main window: open, drag, sample, open bad files, drop files."""

from __future__ import annotations

import builtins
import gc
import importlib
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import show_plane
from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QLabel, QMessageBox

from latentlab.app import create_main_window
from latentlab.app.automation import drag_steps, send_mouse
from latentlab.app.model_loader import ModelLoader
from latentlab.explore import ops


def decode_of(window, z):
    return ops.decode(window.explorer.loaded.model, np.asarray(z)[None])[0]


def test_opens_with_handle_at_centre_and_shows_its_decode(open_window, tiny_vae_path):
    window = open_window(tiny_vae_path)
    # cycles are collected on the GUI thread's timer, never in a worker (a Qt deadlock)
    assert not gc.isenabled()
    assert window.findChild(type(window.map_view), "mapView") is window.map_view
    cx, cy = window.map_view.view_centre()
    assert window.map_view.handle_position() == pytest.approx((cx, cy))
    shown = window.image_view.image()
    assert shown.shape == (1, 8, 8)
    np.testing.assert_array_equal(shown, decode_of(window, window.explorer.state.latent))
    assert "decode" in window.statusBar().currentMessage()
    assert "vae" in window.info_panel.text()


def test_the_map_says_what_opens_until_its_points_are_shown(qtbot, tiny_vae_path, monkeypatch):
    """Never an empty plot from 0 to 1 while the first model loads (torch may take seconds).
    The window is painted before the model starts loading and before the map is built
    (pyqtgraph takes 0.5-0.7 s to import, on a thread); meanwhile what stands for the map says
    what opens, and so does the map once built."""
    asked: list[Path] = []  # the model stays on its way
    monkeypatch.setattr(ModelLoader, "open_model", lambda _loader, path: asked.append(path))
    window = create_main_window(tiny_vae_path, device="cpu")
    qtbot.addWidget(window)
    window.show()
    slot = window.findChild(QLabel, "mapSlotPlaceholder")
    assert slot.text() == f"Opening {tiny_vae_path.name}…"
    assert window._map_view is None and not asked  # neither before the first paint
    qtbot.waitUntil(lambda: window._map_view is not None)
    assert asked == [tiny_vae_path]
    placeholder = window.map_view.findChild(QLabel, "mapPlaceholder")
    qtbot.waitUntil(placeholder.isVisible)
    assert placeholder.geometry() == window.map_view.rect()
    assert placeholder.text() == f"Opening {tiny_vae_path.name}…"
    monkeypatch.undo()
    with qtbot.waitSignals([window.modelOpened, window.imageDisplayed, window.samplesDisplayed]):
        window.loader.open_model(tiny_vae_path)
    qtbot.waitUntil(lambda: not placeholder.isVisible())  # the map is drawn a turn later


def test_the_model_loads_only_once_the_maps_module_has_loaded(qtbot, tiny_vae_path, monkeypatch):
    """Never two threads importing at once: the map's module (pyqtgraph) loads on a thread,
    and the model, which imports its own modules on the loader's thread, starts after it.
    Imports on two threads at once crashed the app once, in PySide's import hook."""
    from latentlab.app import main_window

    importing = threading.Event()
    imported = threading.Event()

    def slow_import(name: str) -> object:
        importing.set()
        imported.wait(10)
        return importlib.import_module(name)

    monkeypatch.setattr(main_window, "importlib", SimpleNamespace(import_module=slow_import))
    asked: list[Path] = []
    monkeypatch.setattr(ModelLoader, "open_model", lambda _loader, path: asked.append(path))
    window = create_main_window(tiny_vae_path, device="cpu")
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(importing.is_set)
    window._start_waiting_loads()  # what the wait for a first paint calls when it runs out
    assert not asked and window._map_view is None
    imported.set()
    qtbot.waitUntil(lambda: asked == [tiny_vae_path])
    assert window._map_view is not None


def test_the_app_imports_without_pysides_feature_hook(open_window, tiny_vae_path):
    """Shiboken's hook for PySide's ``__feature__`` switches, which read every imported module's
    source, is gone once a window exists; its lazy import of Qt's modules stays."""
    open_window(tiny_vae_path)
    assert builtins.__import__.__name__ == "__lazy_import__"
    assert builtins.__import__ is builtins.__orig_import__


def test_a_window_never_shown_still_opens_its_model(qtbot, tiny_vae_path, tiny_vae16_path):
    """A script's window, never painted, loads at once and builds its map for the model."""
    window = create_main_window(tiny_vae_path, device="cpu")
    qtbot.addWidget(window)
    with qtbot.waitSignals([window.modelOpened, window.imageDisplayed]):
        pass
    assert not window.isVisible()
    assert window._map_view is not None  # built when the model was installed
    assert window.map_view.handle_position() == pytest.approx(window.explorer.state.point)
    window.show()  # and then shown: the next file opens at once, not after a wait for a paint
    window.open_model(tiny_vae16_path)
    assert window.loader.busy
    with qtbot.waitSignal(window.modelOpened):
        pass


def test_dragging_the_handle_changes_the_image(open_window, qtbot, tiny_vae_path):
    window = open_window(tiny_vae_path)
    before = window.image_view.image().copy()
    start = window.map_view.handle_scene_position()
    path = [QPointF(start.x() + dx, start.y() + dx / 2) for dx in range(0, 160, 8)]
    for _ in drag_steps(window.map_view, path):
        qtbot.wait(1)
    qtbot.waitUntil(lambda: window.shown_seq == window.requested_seq, timeout=5000)
    a, b = window.map_view.handle_position()
    assert (a, b) != pytest.approx(window.map_view.view_centre())
    assert window.explorer.state.point == pytest.approx((a, b))
    after = window.image_view.image()
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, decode_of(window, window.explorer.state.latent))


def test_sampling_and_choosing_a_sample(open_window, qtbot, tiny_vae_path):
    window = open_window(tiny_vae_path)
    panel = window.sample_panel
    seed = panel.seed.value()
    with qtbot.waitSignal(window.samplesDisplayed, timeout=5000):
        qtbot.mouseClick(
            window.findChild(type(panel.button), "sampleButton"), Qt.MouseButton.LeftButton
        )
    assert panel.seed.value() == seed + 1
    assert all(tile.isEnabled() for tile in panel.tiles)
    z = window.explorer.samples.latents[5]
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        qtbot.mouseClick(panel.tiles[5], Qt.MouseButton.LeftButton)
    np.testing.assert_allclose(window.explorer.state.latent, z, atol=1e-9)  # exact up to rounding
    np.testing.assert_array_equal(window.image_view.image(), decode_of(window, z))
    assert window.map_view.handle_position() == pytest.approx(tuple(window.explorer.state.point))


def test_space_resamples_and_temperature_changes_samples(open_window, qtbot, tiny_vae_path):
    window = open_window(tiny_vae_path)
    panel = window.sample_panel
    first = window.explorer.samples.latents.copy()
    with qtbot.waitSignal(window.samplesDisplayed, timeout=5000):
        qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not np.allclose(window.explorer.samples.latents, first)
    slider = window.findChild(type(panel.temperature), "temperatureSlider")
    same_seed = window.explorer.samples.latents.copy()
    with qtbot.waitSignal(window.samplesDisplayed, timeout=5000):
        slider.setValue(50)
        slider.sliderReleased.emit()
    np.testing.assert_allclose(window.explorer.samples.latents, same_seed * 0.5)


def test_bad_file_keeps_the_open_model(open_window, qtbot, tiny_vae_path, tmp_path):
    window = open_window(tiny_vae_path)
    before = window.explorer.loaded
    image = window.image_view.image().copy()
    bad = tmp_path / "garbage.safetensors"
    bad.write_bytes(b"\x00" * 7 + b"not a model" * 50)
    with qtbot.waitSignal(window.openFailed, timeout=5000) as blocker:
        window.open_model(bad)
    assert "garbage.safetensors" in blocker.args[0]
    box = window.findChild(QMessageBox, "errorBox")
    assert box.isVisible() and "garbage.safetensors" in box.text()
    assert window.explorer.loaded is before
    np.testing.assert_array_equal(window.image_view.image(), image)
    box.close()
    # the old model still works
    start = window.map_view.handle_scene_position()
    for _ in drag_steps(window.map_view, [start, QPointF(start.x() + 40, start.y() + 30)]):
        pass
    qtbot.waitUntil(lambda: window.shown_seq == window.requested_seq, timeout=5000)
    assert not np.array_equal(window.image_view.image(), image)


def test_open_with_ctrl_o_switches_model_and_plane(
    open_window, qtbot, tiny_vae_path, tiny_vae16_path, monkeypatch
):
    window = open_window(tiny_vae_path)
    assert window.explorer.state.plane.name.startswith("latent axes")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tiny_vae16_path), ""))
    with qtbot.waitSignals([window.modelOpened, window.imageDisplayed], timeout=10_000):
        qtbot.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    assert window.explorer.loaded.model.latent_dim == 16
    assert window.explorer.state.plane.name.startswith("PCA")
    assert window.image_view.image().shape == (1, 8, 8)
    np.testing.assert_array_equal(
        window.image_view.image(), decode_of(window, window.explorer.state.latent)
    )


def test_drop_a_model_file_opens_it(open_window, qtbot, tiny_vae_path, tiny_vae16_path):
    window = open_window(tiny_vae_path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tiny_vae16_path))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(window.modelOpened, timeout=10_000):
        window.dropEvent(event)
    assert window.explorer.loaded.path == tiny_vae16_path


def test_hover_shows_the_reference_thumbnail_and_a_click_selects(open_window, qtbot, tiny_vae_path):
    window = open_window(tiny_vae_path)
    view = window.map_view
    xs, ys = view.scatter.getData()
    point = QPointF(xs[3], ys[3])
    scene = view.getPlotItem().vb.mapViewToScene(point)
    pos = QPointF(view.mapFromScene(scene))
    view.handle.setPos(point + QPointF(1000, 1000))  # keep the handle out of the way
    send_mouse(view.viewport(), QEvent.Type.MouseMove, pos, Qt.MouseButton.NoButton)
    hover = view.findChild(type(view._hover), "mapHover")
    qtbot.waitUntil(hover.isVisible, timeout=2000)
    assert hover.pixmap().width() >= 64
    for kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease):
        send_mouse(view.viewport(), kind, pos, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.selected == {3}, timeout=2000)  # a click selects the point
    marks = view.selection_marks.getData()
    assert (list(marks[0]), list(marks[1])) == ([xs[3]], [ys[3]])  # ringed
    # hit tests by index: no per-point objects (pyqtgraph's SpotItems) pile up as garbage
    assert all(item is None for item in view.scatter.data["item"])
    for kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease):
        send_mouse(view.viewport(), kind, pos, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.selected == set(), timeout=2000)  # through the ring: deselected
    assert len(view.selection_marks.getData()[0]) == 0


def test_arrow_keys_move_the_point_on_the_map(open_window, qtbot, tiny_vae_path):
    window = open_window(tiny_vae_path)
    view = window.map_view
    (x0, x1), (y0, y1) = view.getPlotItem().vb.viewRange()
    a, b = view.handle_position()
    view.setFocus()
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        qtbot.keyClick(view, Qt.Key.Key_Right)
    assert tuple(window.explorer.state.point) == pytest.approx((a + (x1 - x0) / 20, b))
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        qtbot.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert tuple(window.explorer.state.point) == pytest.approx(
        (a + (x1 - x0) / 20, b - (y1 - y0) / 100)
    )
    np.testing.assert_array_equal(
        window.image_view.image(), decode_of(window, window.explorer.state.latent)
    )


def test_samples_grow_with_the_space_their_panel_has(open_window, qtbot, tiny_vae_path):
    window = open_window(tiny_vae_path)
    panel = window.sample_panel
    window.tabs.setCurrentWidget(panel)
    with qtbot.waitSignal(window.samplesDisplayed, timeout=5000):
        panel.resample()
    tile = panel.tiles[0]

    def icon() -> int:
        return tile.icon().availableSizes()[0].height()

    before = icon()
    assert 32 <= before <= min(tile.width(), tile.height())
    window.resize(window.width() + 400, window.height() + 400)
    qtbot.waitUntil(lambda: icon() > before, timeout=2000)
    assert icon() <= min(tile.width(), tile.height())
    assert icon() % 8 == 0  # the 8x8 samples scaled by a whole factor: pixel-exact


def test_presentation_mode_enlarges_text_and_hides_the_model_panel(
    open_window, qtbot, tiny_vae_path
):
    window = open_window(tiny_vae_path)
    size = window.centralWidget().font().pointSizeF()
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert window.presentation_action.isChecked()
    qtbot.waitUntil(window.isFullScreen, timeout=2000)
    assert window.centralWidget().font().pointSizeF() == pytest.approx(1.5 * size)
    assert window.model_box.isHidden() and window.menuBar().isHidden()
    assert window.map_view.hasFocus()
    qtbot.keyClick(window.map_view, Qt.Key.Key_Escape)
    assert not window.presentation_action.isChecked()
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=2000)
    assert window.centralWidget().font().pointSizeF() == pytest.approx(size)
    assert not window.model_box.isHidden() and not window.menuBar().isHidden()


def test_choosing_a_plane_leaves_the_maps_size_alone(open_window, qtbot, tiny_vae16_path):
    """A plane of latent axes shows spin boxes where others show menus: the map keeps its size
    (a pixel less meant laying out and repainting the whole map again)."""
    window = open_window(tiny_vae16_path)
    size = window.map_view.size()
    for kind, x, y in (("axes", "3", "7"), ("pca", "", ""), ("axes", "1", "2")):
        show_plane(qtbot, window, kind, x, y)
        QApplication.processEvents()
        assert window.map_view.size() == size, kind


def test_the_maps_controls_show_the_axes_of_a_plane_brought_back(
    open_window, qtbot, tiny_vae16_path
):
    """Undo and redo bring back planes the controls did not choose: the controls show their
    axes, and showing them chooses no plane."""
    window = open_window(tiny_vae16_path)
    controls = window.map_controls
    show_plane(qtbot, window, "axes", "3", "7")
    show_plane(qtbot, window, "axes", "1", "2")
    undo = Qt.KeyboardModifier.ControlModifier
    with (
        qtbot.assertNotEmitted(controls.planeChosen),
        qtbot.waitSignal(window.map.planeShown, timeout=5000),
    ):
        qtbot.keyClick(window, Qt.Key.Key_Z, undo)
    assert window.explorer.state.plane.axis_labels == ("z3", "z7")
    assert (controls.axis_x.value(), controls.axis_y.value()) == (3, 7)


def test_ctrl_z_undoes_drags_samples_and_planes_and_ctrl_shift_z_redoes(
    open_window, qtbot, tiny_vae16_path
):
    window = open_window(tiny_vae16_path)
    start = window.explorer.state.latent.copy()
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        window.map_view.handleMoved.emit(1.0, 0.5)  # as a drag does
    qtbot.waitUntil(
        lambda: window.explorer.history.can_undo and not window._checkpoint_timer.isActive(),
        timeout=2000,
    )
    dragged = window.explorer.state.latent.copy()
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        qtbot.mouseClick(window.sample_panel.tiles[3], Qt.MouseButton.LeftButton)
    sample = window.explorer.state.latent.copy()
    show_plane(qtbot, window, "axes", "3", "7")
    assert window.map_controls.kind.currentData() == "axes"
    for expected, plane_kind in ((sample, "pca"), (dragged, "pca"), (start, "pca")):
        with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
            qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        np.testing.assert_allclose(window.explorer.state.latent, expected, atol=1e-9)
        assert window.explorer.state.plane.kind == plane_kind
        # the map and its controls follow in a turn of their own, maybe after the image
        qtbot.waitUntil(
            lambda kind=plane_kind: window.map_controls.kind.currentData() == kind, timeout=5000
        )
        assert window.map_view.handle_position() == pytest.approx(
            tuple(window.explorer.state.point)
        )
    np.testing.assert_array_equal(window.image_view.image(), decode_of(window, start))
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.statusBar().currentMessage() == "Nothing to undo"
    shift_ctrl = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        qtbot.keyClick(window, Qt.Key.Key_Z, shift_ctrl)
    np.testing.assert_allclose(window.explorer.state.latent, dragged, atol=1e-9)


def test_job_callbacks_run_on_the_gui_thread(open_window, qtbot, tiny_vae_path):
    from PySide6.QtCore import QThread
    from PySide6.QtWidgets import QApplication

    window = open_window(tiny_vae_path)
    threads = []

    def steps(_model):
        yield 0.5, "partial"
        return "done"

    def note(*_args):
        threads.append(QThread.currentThread())

    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):  # any signal after the job
        job = window.submit(steps)
        for signal in (job.finished, job.progressed, job.previewed):
            signal.connect(note)
        window.map_view.handleMoved.emit(0.1, 0.1)
    qtbot.waitUntil(lambda: len(threads) == 3, timeout=5000)
    assert all(thread is QApplication.instance().thread() for thread in threads)


def test_the_stall_watchdog_sees_a_blocked_event_loop(qtbot, gui_stall_watchdog):
    import time

    from PySide6.QtCore import QTimer

    QTimer.singleShot(20, lambda: time.sleep(0.3))  # a slot that holds the GUI thread
    qtbot.wait(400)
    time.sleep(0.3)  # the test's own code between waits does not count
    qtbot.wait(50)
    assert 0.29 <= gui_stall_watchdog.worst < 0.5
    gui_stall_watchdog.worst = 0.0  # the stall was this test's own


def test_long_messages_never_change_the_layout(open_window, qtbot, tiny_vae_path):
    window = open_window(tiny_vae_path)
    window.resize(1280, 760)
    QApplication.sendPostedEvents()  # the layout requests, handled now rather than after a wait
    sizes, size = window.centralWidget().sizes(), window.size()
    window.show_status("a very long status line " * 80)
    window.notify("a very long notice " * 80)
    QApplication.sendPostedEvents()
    assert window.centralWidget().sizes() == sizes and window.size() == size
    assert len(window.notices.text.text()) < 400  # elided; the whole text is in the tooltip
