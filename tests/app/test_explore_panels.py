"""The attribute sliders, the user's own images on the map, interpolation and export."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from helpers import show_plane, write_tiny_vae
from PIL import Image
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QSlider,
)

from latentlab.app.automation import send_mouse
from latentlab.explore import ops
from latentlab.resources import bundled_models


@pytest.fixture
def attr_model(tmp_path):
    smile = torch.tensor([1.5, -0.5])
    return write_tiny_vae(
        tmp_path / "attr.safetensors", attributes={"smiling": smile, "eyes_open": -smile}
    )


@pytest.fixture
def image_files(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i, (size, mode) in enumerate([((8, 8), "L"), ((40, 30), "RGB"), ((64, 64), "RGBA")]):
        channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
        array = rng.integers(0, 256, size=(*size[::-1], channels), dtype=np.uint8)
        path = tmp_path / f"image{i}.png"
        Image.fromarray(array.squeeze(-1) if channels == 1 else array, mode).save(path)
        paths.append(path)
    return paths


def test_attribute_slider_moves_the_current_latent(open_window, qtbot, attr_model):
    window = open_window(attr_model)
    panel = window.findChild(type(window.attribute_panel), "attributePanel")
    slider = panel.findChild(QSlider, "attr:smiling")
    assert panel.findChild(QSlider, "attr:eyes_open") is not None
    base = window.explorer.state.latent.copy()
    # the slider's unit: one standard deviation of the reference latents along the direction
    direction = np.array([1.5, -0.5])
    ref = window.explorer.loaded.reference.latents.double().numpy()
    sigma = (ref @ direction).std() / (direction @ direction)
    assert window.explorer.direction_spreads()["smiling"] == pytest.approx(sigma)
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        slider.setValue(200)  # +2.00 sigma
    assert panel._values["smiling"].text() == "+2.00σ"
    np.testing.assert_allclose(
        window.explorer.state.latent, base + 2 * sigma * direction, atol=1e-6
    )
    np.testing.assert_array_equal(
        window.image_view.image(),
        ops.decode(window.explorer.loaded.model, window.explorer.state.latent[None])[0],
    )
    # a new base (a sample) resets the sliders
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        qtbot.mouseClick(window.sample_panel.tiles[0], Qt.MouseButton.LeftButton)
    assert slider.value() == 0


def test_the_map_shows_the_plane_of_two_attributes_through_the_current_point(
    open_window, qtbot, tmp_path
):
    rng = np.random.default_rng(3)
    directions = {
        name: torch.from_numpy(rng.normal(size=16)).float()
        for name in ("smiling", "glasses", "parallel")
    }
    directions["parallel"] = 2 * directions["smiling"]
    window = open_window(
        write_tiny_vae(tmp_path / "m.safetensors", latent_dim=16, attributes=directions)
    )
    chooser = window.map_controls
    before = window.explorer.state.latent.copy()
    shown = window.image_view.image().copy()
    chooser.attribute_x.setCurrentText("glasses")
    chooser.attribute_y.setCurrentText("smiling")
    chooser.kind.setCurrentIndex(chooser.kind.findData("attributes"))
    with qtbot.waitSignal(window.map.planeShown, timeout=5000):
        chooser.kind.activated.emit(chooser.kind.currentIndex())  # as a user's pick does
    assert window.explorer.state.plane.axis_labels == ("glasses", "smiling")
    assert window.map_view.getPlotItem().getAxis("bottom").labelText == "glasses"
    np.testing.assert_allclose(window.explorer.state.latent, before, atol=1e-9)  # same image
    np.testing.assert_array_equal(window.image_view.image(), shown)
    assert window.map_view.handle_position() == pytest.approx((0, 0), abs=1e-9)
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        window.map_view.handleMoved.emit(0.8, 0.0)  # as dragging the handle does
    glasses = directions["glasses"].double().numpy()
    np.testing.assert_allclose(
        window.explorer.state.latent - before, 0.8 * glasses / np.linalg.norm(glasses), atol=1e-9
    )
    # a plane that cannot be made is explained, and the map stays as it was
    plane = window.explorer.state.plane
    chooser.attribute_y.setCurrentText("parallel")
    window.map.choose_plane("attributes", "smiling", "parallel")
    qtbot.waitUntil(lambda: "parallel" in window.statusBar().currentMessage())
    assert window.explorer.state.plane is plane
    show_plane(qtbot, window, "pca")
    assert window.explorer.state.plane.kind == "pca"
    assert window.map_view.getPlotItem().getAxis("bottom").labelText == "PC1"


def test_reference_points_can_be_coloured_by_an_attribute(open_window, qtbot, tmp_path):
    smile = np.linspace(0, 1, 30)
    window = open_window(
        write_tiny_vae(tmp_path / "m.safetensors", reference_attributes={"smiling": smile})
    )
    controls, scatter = window.map_controls, window.map_view.scatter
    assert [controls.colour.itemText(i) for i in range(controls.colour.count())] == [
        "label",
        "smiling",
    ]
    by_label = [b.color().name() for b in scatter.data["brush"]]
    assert len(set(by_label)) == 10 and controls.key.isHidden()
    controls.colour.setCurrentText("smiling")
    controls.colour.activated.emit(1)  # as a user's pick does
    by_smile = [b.color().name() for b in scatter.data["brush"]]
    low, high = by_smile[0], by_smile[-1]
    assert low != high and not controls.key.isHidden()
    assert low in controls.key.text() and high in controls.key.text()
    assert all(not item.isVisible() for item in window.map_view._label_items)
    show_plane(qtbot, window, "axes", "1", "0")  # the colouring survives a change of plane
    assert [b.color().name() for b in scatter.data["brush"]] == by_smile
    controls.colour.setCurrentText("label")
    controls.colour.activated.emit(0)
    assert [b.color().name() for b in scatter.data["brush"]] == by_label


def test_model_without_attributes_says_so(open_window, tiny_vae_path):
    window = open_window(tiny_vae_path)
    assert window.attribute_panel.sliders == {}
    assert not window.attribute_panel._empty.isHidden()


def test_open_images_encodes_them_onto_the_map(
    open_window, qtbot, tiny_vae16_path, image_files, tmp_path, monkeypatch
):
    window = open_window(tiny_vae16_path)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    monkeypatch.setattr(
        QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(p) for p in [*image_files, bad]], "")
    )
    with qtbot.waitSignal(window.imagesEncoded, timeout=10_000) as blocker:
        qtbot.keyClick(window, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    assert blocker.args == [3]
    notices = [text for _, text in window.notices.notices]
    assert any(t.startswith("Skipped broken.png") for t in notices)  # one line per file
    assert any("converted RGB to greyscale" in t for t in notices)
    assert window.findChild(QMessageBox, "errorBox") is None  # the others were encoded
    assert len(window.map_view.markers) == 3
    # each image decodes to itself exactly: its latent round-trips through the map
    expected = ops.encode(window.explorer.loaded.model, window.explorer.user_images.images)
    for i in range(3):
        with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
            window.map_view.imagePicked.emit(i)
        np.testing.assert_allclose(window.explorer.state.latent, expected[i], atol=1e-9)
        np.testing.assert_allclose(
            window.image_view.image(),  # up to float32 rounding
            ops.decode(window.explorer.loaded.model, expected[i][None])[0],
            atol=1e-5,
        )
    # the live figures of the status bar have not replaced the notices
    assert "decode" in window.statusBar().currentMessage()
    assert window.notices.shown == notices[-1] and window.notices.unread == len(notices)
    # the plane through the three images holds them exactly, and they still decode to themselves
    show_plane(qtbot, window, "images")
    assert window.explorer.state.plane.kind == "images"
    _, residuals = window.explorer.state.plane.project(window.explorer.user_images.latents)
    np.testing.assert_allclose(residuals, 0, atol=1e-9)
    for i in range(3):
        with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
            window.map_view.imagePicked.emit(i)
        np.testing.assert_allclose(window.explorer.state.latent, expected[i], atol=1e-9)
        marker = window.map_view.markers[i].pos()
        assert (marker.x(), marker.y()) == pytest.approx(tuple(window.explorer.state.point))


def test_clicking_and_dragging_a_marker(open_window, qtbot, tiny_vae_path, image_files):
    window = open_window(tiny_vae_path)
    with qtbot.waitSignal(window.imagesEncoded, timeout=10_000):
        window.encode_images(image_files[:1])
    marker = window.map_view.markers[0]
    view = window.map_view
    (x0, x1), _ = view.getPlotItem().vb.viewRange()
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):  # the handle off the marker
        window.explorer.state.move_to(marker.pos().x() + (x1 - x0) / 4, marker.pos().y())
    start = QPointF(view.mapFromScene(marker.scenePos()))
    z0 = window.explorer.state.latent.copy()
    viewport = view.viewport()
    send_mouse(viewport, QEvent.Type.MouseMove, start, Qt.MouseButton.NoButton)  # hover first
    qtbot.wait(12)
    send_mouse(viewport, QEvent.Type.MouseButtonPress, start)
    for dx in range(1, 40, 4):
        send_mouse(viewport, QEvent.Type.MouseMove, QPointF(start.x() + dx, start.y()))
        qtbot.wait(12)  # pyqtgraph passes at most 100 moves per second
    send_mouse(
        viewport,
        QEvent.Type.MouseButtonRelease,
        QPointF(start.x() + 39, start.y()),
        Qt.MouseButton.NoButton,
    )
    qtbot.waitUntil(lambda: window.shown_seq == window.requested_seq, timeout=5000)
    assert view.mapFromScene(marker.scenePos()).x() == pytest.approx(start.x() + 38, abs=3)
    point = tuple(window.explorer.user_points()[0])
    assert point == pytest.approx((marker.pos().x(), marker.pos().y()))
    assert not np.allclose(window.explorer.state.latent, z0)
    assert window.map_view.handle_position() == pytest.approx(point)


def test_interpolation_strip_and_export(open_window, qtbot, image_files, tmp_path, monkeypatch):
    # a trained model, so that the frames differ (a GIF writer merges identical frames)
    window = open_window(bundled_models()["vae-digits-latent16"])
    with qtbot.waitSignal(window.imagesEncoded, timeout=10_000):
        window.encode_images(image_files[:2])
    panel = window.interpolation_panel
    for which, index in (("A", 0), ("B", 1)):
        with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
            window.map_view.imagePicked.emit(index)
        window.findChild(QPushButton, f"endpoint{which}").click()
    qtbot.waitSignal(window.stripDisplayed, timeout=5000).wait()
    strip = panel.strip_images()
    assert strip.shape == (8, 1, 8, 8)
    a_image = ops.decode(window.explorer.loaded.model, window.explorer.user_images.latents[:1])[0]
    np.testing.assert_allclose(strip[0], a_image, atol=1e-5)  # batched vs single decode
    with qtbot.waitSignal(window.stripDisplayed, timeout=5000):
        panel.steps.setValue(5)
    assert panel.strip_images().shape[0] == 5
    assert panel.findChild(type(panel.strip), "interpolationStrip").tile_rects()

    for kind in ("png", "gif"):
        out = tmp_path / f"walk.{kind}"
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, o=out, **k: (str(o), ""))
        with qtbot.waitSignal(window.jobEnded, timeout=10_000):
            panel.exportRequested.emit(kind)
        with Image.open(out) as written:
            assert written.format == kind.upper()
            if kind == "gif":
                assert written.n_frames == 5


def test_cancelling_an_export_writes_nothing(
    open_window, qtbot, tiny_vae16_path, tmp_path, monkeypatch
):
    window = open_window(tiny_vae16_path)
    window.interpolation.set_endpoint("A")
    with qtbot.waitSignal(window.samplesDisplayed, timeout=5000):
        window.sample_panel.resample()
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        window.sample_panel.tiles[3].click()
    window.interpolation.set_endpoint("B")
    window.interpolation_panel.steps.setValue(64)
    out = tmp_path / "never.gif"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    gate = threading.Event()
    window.worker.submit(-1, lambda: gate.wait(10))  # hold the worker until we have cancelled
    window.interpolation.export("gif")
    dialog = window.findChild(QProgressDialog, "progressDialog")
    dialog.findChild(QPushButton).click()  # the dialog's Cancel button
    gate.set()
    with qtbot.waitSignal(window.jobEnded, timeout=10_000) as blocker:
        pass
    assert blocker.args == ["cancelled"]
    assert not out.exists()
    assert "Cancelled" in window.statusBar().currentMessage()


def test_direction_from_two_groups_of_map_points_saved_in_a_copy(
    open_window, qtbot, tiny_vae16_path, tmp_path, monkeypatch
):
    from latentlab.modelfile import load_model

    window = open_window(tiny_vae16_path)
    view, panel = window.map_view, window.attribute_panel
    for which, picks in (("A", [0, 1, 2]), ("B", [5, 6])):
        for i in picks:  # click reference points on the map to select them
            view.scatter.pointClicked.emit(i)
        assert len(view.selected) == len(picks)
        panel.findChild(QPushButton, f"group{which}").click()
        assert view.selected == set()
    panel.name_edit.setText("thick")
    panel.findChild(QPushButton, "addDirection").click()
    slider = panel.findChild(QSlider, "attr:thick")
    ref = window.explorer.loaded.reference.latents.double().numpy()
    expected = ref[[5, 6]].mean(0) - ref[[0, 1, 2]].mean(0)
    np.testing.assert_allclose(window.explorer.state.directions["thick"], expected)
    base = window.explorer.state.latent.copy()
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        slider.setValue(100)  # +1 sigma of the reference latents along it
    sigma = (ref @ expected).std() / (expected @ expected)
    np.testing.assert_allclose(window.explorer.state.latent, base + sigma * expected, atol=1e-9)

    # saving over the open file is refused; a copy keeps the weights and adds the direction
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tiny_vae16_path), ""))
    with qtbot.waitSignal(window.jobEnded, timeout=5000) as blocker:
        panel.findChild(QPushButton, "saveDirections").click()
    assert "choose a new file" in blocker.args[0]
    copy = tmp_path / "copy.safetensors"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(copy), ""))
    with qtbot.waitSignal(window.jobEnded, timeout=5000):
        panel.findChild(QPushButton, "saveDirections").click()
    saved = load_model(copy)
    np.testing.assert_allclose(saved.attributes["thick"].numpy(), expected, rtol=1e-6)
    assert saved.meta["dataset"]["attribute_names"] == ["thick"]
    z = torch.zeros(1, 16)
    # numpy's comparison: torch.testing's imports torch.distributed and sympy, seconds of
    # imports on the GUI thread that the stall watchdog would count
    np.testing.assert_allclose(
        saved.model.decode(z).detach().numpy(),
        window.explorer.loaded.model.decode(z).detach().numpy(),
        rtol=1e-6,
    )


def test_adding_a_direction_without_groups_explains(open_window, qtbot, tiny_vae16_path):
    window = open_window(tiny_vae16_path)
    window.attribute_panel.name_edit.setText("nothing")
    window.attribute_panel.findChild(QPushButton, "addDirection").click()
    box = window.findChild(QMessageBox, "errorBox")
    assert box.isVisible() and "group" in box.text()
    assert "nothing" not in window.explorer.state.directions


def take_two_endpoints(window, qtbot) -> None:
    """The current point as endpoint A, sample 3 as B, and the strip between them shown."""
    window.interpolation.set_endpoint("A")
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        window.sample_panel.tiles[3].click()
    with qtbot.waitSignal(window.stripDisplayed, timeout=5000):
        window.interpolation.set_endpoint("B")


def test_clicking_a_step_of_the_strip_makes_it_the_current_point(
    open_window, qtbot, tiny_vae16_path
):
    from PySide6.QtCore import QEvent, QPointF

    window = open_window(tiny_vae16_path)
    take_two_endpoints(window, qtbot)
    strip = window.interpolation_panel.strip
    strip.resize(400, 120)
    rects = strip.tile_rects()
    assert len(rects) == 8 and rects[0].width() >= 8  # largest whole scale that fits
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        send_mouse(strip, QEvent.Type.MouseButtonPress, QPointF(rects[5].center()))
    np.testing.assert_allclose(window.explorer.state.latent, window.interpolation.walk()[5])
    np.testing.assert_allclose(window.image_view.image(), strip.images()[5], atol=1e-6)


def test_a_step_clicked_is_of_the_strip_shown_while_a_newer_walk_is_decoded(
    open_window, qtbot, tiny_vae16_path
):
    window = open_window(tiny_vae16_path)
    take_two_endpoints(window, qtbot)
    panel = window.interpolation_panel
    shown = window.interpolation.walk()
    panel.steps.setValue(2)  # the 2-step walk is decoded on the worker: the 8 steps stay shown
    panel.strip.imageClicked.emit(7)
    np.testing.assert_allclose(window.explorer.state.latent, shown[7])


def test_images_shown_while_the_window_closes_ask_for_no_ellipses(
    open_window, qtbot, tiny_vae_path
):
    window = open_window(tiny_vae_path)  # a VAE: the map shows q(z|x) of the image shown
    window.close()
    window.imageDisplayed.emit(0)  # a decode that arrived as the window closed


def test_best_layout_wraps_to_make_tiles_largest():
    from latentlab.app.image_strip import best_layout

    assert best_layout(8, (32, 32), (80, 1000)) == (8, 2)  # one row: scale 2
    assert best_layout(8, (32, 32), (300, 300))[0] in (3, 4)  # wraps onto rows
    assert best_layout(8, (32, 32), (300, 300))[1] >= 2
    _, scale = best_layout(64, (32, 32), (40, 40))
    assert 0 < scale < 1  # shrunk to fit, never cut off


def test_a_saved_session_resumes_in_a_new_window(
    open_window, qtbot, attr_model, tmp_path, monkeypatch
):
    from latentlab.app import create_main_window

    window = open_window(attr_model)
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        window.map_view.handleMoved.emit(0.7, -0.4)
    window.interpolation.set_endpoint("A")
    with qtbot.waitSignal(window.stripDisplayed, timeout=5000):
        with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
            qtbot.mouseClick(window.sample_panel.tiles[2], Qt.MouseButton.LeftButton)
        window.interpolation.set_endpoint("B")
    show_plane(qtbot, window, "axes", "1", "0")
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        window.attribute_panel.findChild(QSlider, "attr:smiling").setValue(-50)
    path = tmp_path / "talk.latentlab-session.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "Saved session" in window.statusBar().currentMessage())  # worker
    assert path.is_file()

    resumed = create_main_window(session=path)
    qtbot.addWidget(resumed)
    with qtbot.waitSignal(resumed.stripDisplayed, timeout=10_000):
        resumed.show()
    np.testing.assert_allclose(
        resumed.explorer.state.latent, window.explorer.state.latent, atol=1e-12
    )
    sigma = resumed.explorer.direction_spreads()["smiling"]
    assert resumed.explorer.state.amounts == {"smiling": -0.5 * sigma, "eyes_open": 0.0}
    assert resumed.attribute_panel.findChild(QSlider, "attr:smiling").value() == -50
    assert resumed.explorer.state.plane.kind == "axes"
    # the map is drawn in a turn of its own, which may follow the strip's
    bottom = resumed.map_view.getPlotItem().getAxis("bottom")
    qtbot.waitUntil(lambda: bottom.labelText == "z1", timeout=5000)
    assert resumed.map_controls.kind.currentData() == "axes"
    assert (resumed.map_controls.axis_x.value(), resumed.map_controls.axis_y.value()) == (1, 0)
    np.testing.assert_allclose(
        resumed.interpolation_panel.strip_images(),
        window.interpolation_panel.strip_images(),
        atol=1e-6,
    )
    assert not resumed.explorer.history.can_undo  # the session is where undo starts
    resumed.close()


def test_a_session_that_cannot_be_resumed(
    open_window, qtbot, attr_model, tiny_vae16_path, tmp_path
):
    from latentlab.app import create_main_window

    window = open_window(attr_model)
    good = tmp_path / "good.latentlab-session.json"
    assert window.files.save_session(good)
    bad = tmp_path / "bad.latentlab-session.json"
    bad.write_text('{"format": "latentlab-session", "version": 1}')
    with qtbot.waitSignal(window.openFailed, timeout=5000):
        window.open_session(bad)
    box = window.findChild(QMessageBox, "errorBox")
    assert box.isVisible() and "names no model file" in box.text()
    assert window.explorer.loaded.path == attr_model  # the open model stays
    box.close()
    # a session of a 2-D latent cannot resume in a 16-D model: the model opens as it starts
    text = good.read_text().replace(str(attr_model.resolve()), str(tiny_vae16_path.resolve()))
    good.write_text(text)
    with qtbot.waitSignal(window.modelOpened, timeout=5000):
        window.open_session(good)
    assert window.explorer.loaded.path == tiny_vae16_path.resolve()
    box = window.findChild(QMessageBox, "errorBox")
    assert "latent of size 2, this model has 16" in box.text()
    box.close()
    # the app's own last session is gone: the default model opens instead, with a notice
    fresh = create_main_window(session=tmp_path / "gone.latentlab-session.json", last_session=True)
    qtbot.addWidget(fresh)
    with qtbot.waitSignal(fresh.modelOpened, timeout=10_000):
        fresh.show()
    assert "Could not resume the last session" in fresh.notices.shown
    fresh.close()


def test_ctrl_z_undoes_taking_an_endpoint(open_window, qtbot, tiny_vae16_path):
    window = open_window(tiny_vae16_path)
    panel = window.interpolation_panel
    window.interpolation.set_endpoint("A")
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        window.sample_panel.tiles[3].click()
    with qtbot.waitSignal(window.stripDisplayed, timeout=5000):
        window.interpolation.set_endpoint("B")
    assert panel.strip_images() is not None
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert set(window.explorer.endpoints) == {"A"}
    assert panel.strip_images() is None  # no walk without B
    b_label = panel.endpoint_views["B"]
    assert b_label.pixmap().isNull()
    with qtbot.waitSignal(window.stripDisplayed, timeout=5000):
        qtbot.keyClick(window, Qt.Key.Key_Z, shift_ctrl())
    assert set(window.explorer.endpoints) == {"A", "B"}
    assert not b_label.pixmap().isNull()


def shift_ctrl():
    return Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


def test_a_session_brings_back_the_users_images(
    open_window, qtbot, tiny_vae_path, image_files, tmp_path
):
    from latentlab.app import create_main_window

    window = open_window(tiny_vae_path)
    with qtbot.waitSignal(window.imagesEncoded, timeout=10_000):
        window.encode_images(image_files)
    path = tmp_path / "mine.latentlab-session.json"
    assert window.files.save_session(path)

    resumed = create_main_window(session=path)
    qtbot.addWidget(resumed)
    with qtbot.waitSignal(resumed.modelOpened, timeout=10_000):
        resumed.show()
    mine, theirs = window.explorer.user_images, resumed.explorer.user_images
    assert theirs.names == mine.names == tuple(p.name for p in image_files)
    np.testing.assert_array_equal(theirs.latents, mine.latents)
    assert len(resumed.map_view.markers) == 3
    for marker, point in zip(resumed.map_view.markers, resumed.explorer.user_points(), strict=True):
        assert (marker.pos().x(), marker.pos().y()) == pytest.approx(tuple(point))
    with qtbot.waitSignal(resumed.imageDisplayed, timeout=5000):
        resumed.map_view.imagePicked.emit(1)  # each still decodes to itself
    np.testing.assert_allclose(resumed.explorer.state.latent, mine.latents[1], atol=1e-9)
    assert (
        resumed.map_controls.kind.model()
        .item(resumed.map_controls.kind.findData("images"))
        .isEnabled()
    )
    resumed.close()


def test_points_selected_on_one_models_map_never_make_anothers_group(
    open_window, qtbot, tiny_vae16_path, tiny_vae_path
):
    window = open_window(tiny_vae16_path)
    for index in (0, 1):
        window.map_view.scatter.pointClicked.emit(index)
    assert window.map_view.selected == {0, 1}
    with qtbot.waitSignal(window.modelOpened, timeout=5000):
        window.open_model(tiny_vae_path)
    assert window.map_view.selected == set()  # cleared with the model
    window.map_view.selected = {len(window.explorer.reference_latents)}  # clicked before it
    window.attribute_panel.group_buttons["A"].click()
    box = window.findChild(QMessageBox, "errorBox")
    assert box.isVisible() and "not among this model's" in box.text()
    assert window.explorer.groups == {} and window.map_view.selected == set()


def test_unsaved_directions_are_not_discarded_without_asking(
    open_window, qtbot, tiny_vae16_path, tiny_vae_path, questions, tmp_path, monkeypatch
):
    window = open_window(tiny_vae16_path)
    window.explorer.take_group("A", [0, 1, 2])
    window.explorer.take_group("B", [3, 4])
    window.attributes.add_direction("mine")
    questions.answer = QMessageBox.StandardButton.Cancel
    window.open_model(tiny_vae_path)  # the user keeps their work: nothing happens
    assert "mine" in questions.asked[-1] and window.explorer.loaded.path == tiny_vae16_path
    copy = tmp_path / "with-mine.safetensors"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(copy), ""))
    with qtbot.waitSignal(window.jobEnded, timeout=5000):
        window.attributes.save_model_copy()
    asked = len(questions.asked)
    with qtbot.waitSignal(window.modelOpened, timeout=5000):  # saved: no question now
        window.open_model(tiny_vae_path)
    assert len(questions.asked) == asked


def test_a_session_the_user_names_that_cannot_be_opened_offers_a_choice(qtbot, tmp_path):
    from latentlab.app import create_main_window
    from latentlab.resources import default_model_path

    bad = tmp_path / "talk.latentlab-session.json"
    bad.write_text("{not json")
    window = create_main_window(session=bad)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "openInsteadBox") is not None)
    box = window.findChild(QMessageBox, "openInsteadBox")
    assert str(bad) in box.text() and "not JSON" in box.text()  # the full path, and why
    default = next(b for b in box.buttons() if b.text() == "Open the default model")
    with qtbot.waitSignal(window.modelOpened, timeout=10_000):
        default.click()
    assert window.explorer.loaded.path == default_model_path()
    window.close()


def test_files_dropped_that_the_app_cannot_use_are_explained(open_window, tiny_vae_path, tmp_path):
    from latentlab.app.file_wiring import file_kind

    window = open_window(tiny_vae_path)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    window.files.open_files([tmp_path, notes])
    said = [text for _, text in window.notices.notices]
    assert len(said) == 2
    assert "a folder" in said[0] and str(tmp_path) in said[0]
    assert "notes.txt" in said[1]
    assert file_kind(tmp_path / "MODEL.SAFETENSORS") == "model"  # any case
    assert file_kind(tmp_path / "netG_epoch_24.PTH") == "model"  # converted if LatentLab can
    assert file_kind(tmp_path / "Face.PNG") == "image"
    assert file_kind(tmp_path / "x.LATENTLAB-SESSION.JSON") == "session"


def test_in_presentation_mode_switching_tabs_never_moves_the_image(open_window, qtbot, tmp_path):
    rng = np.random.default_rng(4)
    directions = {
        f"attribute_{i}": torch.from_numpy(rng.normal(size=16)).float() for i in range(12)
    }
    window = open_window(
        write_tiny_vae(tmp_path / "m.safetensors", latent_dim=16, attributes=directions)
    )
    window.set_presentation(True)
    qtbot.waitUntil(window.isFullScreen, timeout=2000)
    places = set()
    for i in range(window.tabs.count()):
        window.tabs.setCurrentIndex(i)
        QApplication.sendPostedEvents()  # the layout requests the switch posted, handled now
        places.add(window.image_view.geometry().getRect())
    assert len(places) == 1, places
