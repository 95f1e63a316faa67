"""The 2-D lab window driven as a person would: data, flows fitted live in the lab process and
EM on the window's worker, pause, step, stop, the layer slider, the Jacobian at the cursor,
painting, CSV files; the lab process's failures and its end."""

from __future__ import annotations

import itertools
import os
import signal

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from latentlab.app import create_lab_window, lab_process, lab_runner, lab_window, menus
from latentlab.app.lab_controls import EM, MY_POINTS
from latentlab.app.lab_jacobian import jacobian_text
from latentlab.app.worker import live_workers
from latentlab.data.toy2d import TOY_DATASETS

TIMEOUT_MS = 30_000  # fits share a busy machine in CI


@pytest.fixture
def lab(qtbot):
    """The lab window, not shown (painting it is not what most tests are about, and the first
    paint of its plots is slow on a busy machine); :func:`show` shows it."""
    window = create_lab_window()
    qtbot.addWidget(window)
    window.resize(1280, 800)
    yield window
    window.close()


def show(qtbot, window) -> None:
    window.show()
    qtbot.waitExposed(window)


def choose(combo, key) -> None:
    combo.setCurrentIndex(combo.findData(key))


def small_flow(lab, kind="realnvp", layers=2, points=300) -> None:
    lab.controls.count.setValue(points)
    lab.controls.count.editingFinished.emit()
    choose(lab.controls.model, kind)
    lab.controls.layers.setValue(layers)


def fitted_flow(qtbot, lab, steps, **settings) -> None:
    small_flow(lab, **settings)
    lab.controls.fit.click()
    qtbot.waitUntil(
        lambda: lab.flow_view is not None and lab.flow_view.step >= steps, timeout=TIMEOUT_MS
    )


def test_window_has_its_views(lab):
    assert lab.objectName() == "labWindow"
    for name in (
        "labDataView",
        "labLatentView",
        "labLayerView",
        "labLayerSlider",
        "labJacobian",
        "labCurve",
        "labDataset",
        "labModel",
        "labFit",
        "labPause",
        "labStop",
    ):
        assert lab.findChild(object, name) is not None, name


def test_each_dataset_fills_the_data_view(lab):
    shown = {}
    for key in TOY_DATASETS:
        choose(lab.controls.dataset, key)
        points = lab.data_view.points.data
        assert len(points) == lab.controls.count.value() == 2000
        shown[key] = np.array([points["x"], points["y"]]).T
    keys = list(shown)
    assert all(not np.allclose(shown[a], shown[b]) for a, b in itertools.pairwise(keys))
    lab.controls.count.setValue(500)
    lab.controls.count.editingFinished.emit()
    assert len(lab.data_view.points.data) == 500


def test_fit_takes_a_count_typed_but_not_yet_entered(qtbot, lab):
    """Starting the fit disables the count box, which ends its editing: the points it then
    made discarded the fit just started, and the lab stayed on "Building the model…"."""
    show(qtbot, lab)
    choose(lab.controls.model, "realnvp")
    lab.controls.layers.setValue(2)
    lab.controls.count.setFocus()
    lab.controls.count.setValue(300)  # typed, no Enter
    lab.controls.fit.click()
    qtbot.waitUntil(lambda: lab.flow_view is not None, timeout=TIMEOUT_MS)
    assert len(lab.points) == 300 and lab.running
    lab.runner.stop()
    qtbot.waitUntil(lambda: not lab.running, timeout=TIMEOUT_MS)


def test_fitting_a_flow_draws_density_and_loss_then_pauses_and_stops(qtbot, lab):
    fitted_flow(qtbot, lab, 40)
    view = lab.flow_view
    image = lab.data_view.heat.image
    assert image is not None and image.shape == view.density.shape
    assert lab.data_view.heat.isVisible()
    # the loss curves are redrawn 4 times a second
    steps_drawn = lambda: lab.train_curve.getData()[0]  # noqa: E731
    qtbot.waitUntil(lambda: steps_drawn() is not None and len(steps_drawn()) >= 2)
    assert lab.latent_view.points.count() == len(view.latent_points)
    assert lab.layer_view.points.count() == len(view.layer_points)
    assert "step" in lab.controls.status.text()

    lab.controls.pause.click()
    qtbot.waitUntil(lambda: lab.flow_view.paused, timeout=TIMEOUT_MS)
    paused_at = lab.flow_view.step
    lab.set_cursor(0.1, 0.2)  # a paused run still answers the cursor
    qtbot.waitUntil(lambda: lab.flow_view.jacobian is not None, timeout=TIMEOUT_MS)
    assert lab.flow_view.step == paused_at

    lab.controls.pause.click()  # resume
    qtbot.waitUntil(lambda: lab.flow_view.step > paused_at, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(lab.runner.ended, timeout=TIMEOUT_MS) as stopped:
        lab.controls.stop.click()
    assert stopped.args == [None]
    assert not lab.running and lab.controls.fit.isEnabled()
    choose(lab.heat, "logdet")  # the other heat map, of the same view
    np.testing.assert_array_equal(lab.data_view.heat.image, lab.flow_view.logdet)
    choose(lab.heat, "none")
    assert not lab.data_view.heat.isVisible()


def test_layer_slider_names_the_layer_and_marks_the_coupling(qtbot, lab):
    fitted_flow(qtbot, lab, 1, kind="glow", layers=2)
    slider = lab.layer_slider
    assert slider.maximum() == 5  # per step: actnorm, 2x2 mixing, coupling
    assert slider.value() == 5  # starts on the whole flow
    marks = []
    for index in range(6):
        slider.setValue(index)
        marks.append(lab.layer_view.role_text())
        assert lab.layer_label.text().startswith(f"Layer {index}: ")
    assert marks[0] == marks[1] == {}  # actnorm, mixing
    assert marks[2] == {"copied": "copied: x1", "transformed": "transformed: x2"}
    assert marks[5] == {"copied": "copied: x2", "transformed": "transformed: x1"}  # alternates
    qtbot.waitUntil(lambda: lab.flow_view.layer == 5, timeout=TIMEOUT_MS)  # the fit follows
    assert "coupling 2" in lab.layer_label.text()
    assert lab.layer_view.getPlotItem().titleLabel.text == "After layer 5"


def test_the_cursor_reads_the_jacobian_once_stopped(qtbot, lab):
    fitted_flow(qtbot, lab, 10)
    with qtbot.waitSignal(lab.runner.ended, timeout=TIMEOUT_MS):
        lab.runner.stop()
    lab.layer_slider.setValue(0)
    lab.set_cursor(0.5, 0.25)
    qtbot.waitUntil(
        lambda: (
            lab.flow_view.jacobian is not None
            and lab.flow_view.jacobian.point == (0.5, 0.25)
            and lab.flow_view.layer == 0
        ),
        timeout=TIMEOUT_MS,
    )
    reading = lab.flow_view.jacobian
    text = lab.readout.text()
    assert text == jacobian_text(reading, lab.flow_view.layer_label)
    assert f"{reading.log_p:8.3f} = {reading.log_prior:.3f} + " in text
    assert f"{reading.whole[0, 0]:7.3f}" in text and f"{reading.whole[1, 1]:7.3f}" in text
    # layer 0 is a coupling copying x1: its Jacobian's top right entry is exactly zero
    assert reading.layer_matrix[0, 1] == 0.0
    assert "       0 ⎤" in text.splitlines()[text.splitlines().index(lab.flow_view.layer_label) + 1]


def test_em_draws_ellipses_and_the_log_likelihood_rises(qtbot, lab, monkeypatch):
    monkeypatch.setattr(lab_runner, "EM_PACE_S", 0.0)
    lab.controls.count.setValue(600)
    lab.controls.count.editingFinished.emit()
    choose(lab.controls.model, EM)
    lab.controls.components.setValue(4)
    assert lab.latent_view.isHidden() and not lab.weights.widget.isHidden()
    lab.controls.fit.click()
    qtbot.waitUntil(
        lambda: lab.em_view is not None and lab.em_view.iteration >= 5, timeout=TIMEOUT_MS
    )
    assert len(lab.em_overlay.curves) == 4
    for one, two in lab.em_overlay.curves:
        assert len(one.getData()[0]) > 10 and len(two.getData()[0]) > 10
    _, values = lab.train_curve.getData()
    assert len(values) >= 5 and np.all(np.diff(values) >= -1e-6) and values[-1] > values[0]
    # points coloured by their responsibilities: not all one colour
    colours = {b.color().rgb() for b in lab.data_view.points.data["brush"][:200]}
    assert len(colours) > 1
    lab.controls.stop.click()
    qtbot.waitUntil(lambda: not lab.running, timeout=TIMEOUT_MS)


def test_step_while_paused_advances_one_iteration(qtbot, lab):
    lab.controls.count.setValue(300)
    lab.controls.count.editingFinished.emit()
    choose(lab.controls.model, EM)
    lab.controls.step.click()  # idle: starts paused, then one step
    qtbot.waitUntil(
        lambda: lab.em_view is not None and lab.em_view.iteration == 1, timeout=TIMEOUT_MS
    )
    assert lab.controls.pause.isChecked() and lab.running
    lab.controls.step.click()
    qtbot.waitUntil(lambda: lab.em_view.iteration == 2, timeout=TIMEOUT_MS)
    qtbot.wait(400)  # paused: no iteration without a request
    assert lab.em_view.iteration == 2 and lab.em_view.paused


def test_pick_then_sample_animates_ancestral_samples(qtbot, lab, monkeypatch):
    monkeypatch.setattr(lab_runner, "EM_PACE_S", 0.0)
    lab.controls.count.setValue(300)
    lab.controls.count.editingFinished.emit()
    choose(lab.controls.model, EM)
    lab.controls.components.setValue(3)
    lab.animation.timer.setInterval(20)
    lab.controls.step.click()
    qtbot.waitUntil(
        lambda: lab.em_view is not None and lab.em_view.iteration == 1, timeout=TIMEOUT_MS
    )
    picked = []
    lab.animation.picked.connect(picked.append)
    with qtbot.waitSignal(lab.animation.ended, timeout=TIMEOUT_MS):
        lab.controls.pick.click()
    assert len(picked) == lab_window.ANCESTRAL_SAMPLES
    assert set(picked) <= {0, 1, 2}
    assert len(lab.em_overlay.samples.data) == lab_window.ANCESTRAL_SAMPLES


def test_painting_adds_points(qtbot, lab):
    show(qtbot, lab)
    before = len(lab.points)
    lab.controls.paint.click()
    view = lab.data_view
    with qtbot.waitSignal(view.painted, timeout=TIMEOUT_MS):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(300, 150))
    assert len(lab.points) == before + 1
    assert lab.controls.dataset_id() == MY_POINTS
    lab.controls.clear.click()
    assert len(lab.points) == 0 and len(view.points.data) == 0
    lab.paint(0.0, 0.0)
    lab.paint(1.0, 1.0)
    assert len(view.points.data) == 2
    lab.controls.fit.click()  # too few points for a fit: said, not started
    assert not lab.running and "at least" in lab.controls.status.text()


def test_csv_round_trip_and_a_bad_file_keeps_the_points(qtbot, lab, tmp_path, monkeypatch):
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, title, text: warnings.append(text))
    lab.controls.count.setValue(300)
    lab.controls.count.editingFinished.emit()
    path = tmp_path / "points.csv"
    with qtbot.waitSignal(lab.save_csv(path).finished, timeout=TIMEOUT_MS):
        pass
    saved = lab.points.copy()
    choose(lab.controls.dataset, "rings")
    with qtbot.waitSignal(lab.load_csv(path).finished, timeout=TIMEOUT_MS):
        pass
    assert lab.controls.dataset_id() == MY_POINTS
    np.testing.assert_allclose(lab.points, saved, rtol=1e-6)

    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n3,nan\n")
    with qtbot.waitSignal(lab.load_csv(bad).failed, timeout=TIMEOUT_MS):
        pass
    assert len(warnings) == 1 and "bad.csv" in warnings[0]
    np.testing.assert_allclose(lab.points, saved, rtol=1e-6)


def test_presentation_mode_scales_text_up_and_back(qtbot, lab):
    show(qtbot, lab)
    normal = lab.readout.font().pointSizeF()
    lab.set_presentation(True)
    assert lab.isFullScreen() or lab.windowState() & Qt.WindowState.WindowFullScreen
    assert lab.readout.font().pointSizeF() > 1.5 * normal
    assert lab.readout.minimumWidth() >= lab.readout.fontMetrics().horizontalAdvance("m" * 38)
    lab.set_presentation(False)
    assert lab.readout.font().pointSizeF() == pytest.approx(normal)


def test_closing_during_a_fit_ends_the_worker_within_a_second(qtbot, lab):
    fitted_flow(qtbot, lab, 1)
    assert lab.running
    lab.close()
    qtbot.waitUntil(lambda: not live_workers(), timeout=1000)


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # offscreen: no window manager
def test_view_menu_keeps_one_lab_per_main_window(qtbot):
    opener = menus._LabOpener()
    opener.open()
    first = opener.lab
    assert first is not None and first.objectName() == "labWindow"
    opener.open()
    assert opener.lab is first  # raised, not a second one
    first.close()  # its workers stop: the next one is new
    opener.open()
    assert opener.lab is not first
    opener.lab.close()


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # offscreen: no window manager
def test_the_main_windows_view_menu_opens_the_lab(open_window, tiny_vae_path):
    window = open_window(tiny_vae_path)
    (action,) = [a for a in window.actions() if a.text() == "2-D &lab…"]
    assert action.shortcut().toString() == "Ctrl+L"
    action.trigger()
    (lab,) = [
        w for w in QApplication.topLevelWidgets() if w.objectName() == "labWindow" and w.isVisible()
    ]
    lab.close()


def test_a_fit_in_another_lab_window_stops_this_ones(qtbot, lab):
    """The lab windows share one process for their flows, which fits one at a time."""
    other = create_lab_window()
    qtbot.addWidget(other)
    fitted_flow(qtbot, lab, 1)
    with qtbot.waitSignal(lab.runner.ended, timeout=TIMEOUT_MS) as ended:
        fitted_flow(qtbot, other, 1)
    assert ended.args == [None] and not lab.running and other.running
    other.close()


def test_running_changed_says_each_change_once(qtbot, lab):
    said = []
    lab.runner.runningChanged.connect(said.append)
    points = np.random.default_rng(0).normal(size=(200, 2)).astype(np.float32)
    lab.runner.fit(points, EM, 0, 3)
    lab.runner.fit(points, EM, 0, 3)  # replaces the fit being built
    lab.runner.stop()
    qtbot.waitUntil(lambda: not lab.running, timeout=TIMEOUT_MS)
    lab.runner.discard()  # nothing runs: nothing to say
    assert said == [True, False, True, False]


# The lab process is shared by the app's lab windows: the tests below kill it or end it, so
# they come last (starting one takes seconds).


def test_an_error_in_the_lab_process_is_reported(qtbot, lab, monkeypatch):
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, title, text: warnings.append(text))
    bad = np.full((20, 2), np.nan, dtype=np.float32)
    with qtbot.waitSignal(lab.runner.failed, timeout=TIMEOUT_MS) as failed:
        lab.runner.fit(bad, "realnvp", 2, 0)
    assert "finite" in failed.args[0] and warnings == failed.args
    assert not lab.running


def test_the_lab_process_dying_is_reported_and_the_next_fit_starts_another(qtbot, lab, monkeypatch):
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, title, text: warnings.append(text))
    fitted_flow(qtbot, lab, 1)
    dead = lab_process.lab_process()
    with qtbot.waitSignal(lab.runner.failed, timeout=TIMEOUT_MS) as failed:
        os.kill(dead.pid, signal.SIGKILL)
    assert failed.args == [
        f"The lab's fitting process ended unexpectedly (exit code -{signal.SIGKILL})."
    ]
    assert not lab.running and lab.controls.fit.isEnabled()
    lab.flow_view = None
    lab.controls.fit.click()
    qtbot.waitUntil(lambda: lab.flow_view is not None, timeout=TIMEOUT_MS)
    assert lab_process.lab_process() is not dead
    lab.runner.stop()
    qtbot.waitUntil(lambda: not lab.running, timeout=TIMEOUT_MS)


def test_quitting_the_app_ends_the_lab_process(qtbot, lab):
    """What the app's aboutToQuit calls (emitted here, it would run pyqtgraph's clean-up too)."""
    fitted_flow(qtbot, lab, 1)
    pid = lab_process.lab_process().pid
    lab.close()
    lab_process.end_lab_process()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped: not even a zombie
