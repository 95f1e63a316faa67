"""The VAE's posterior views (m and sigma, draws, ellipses on the map, the mixture beside it)
and PixelRNN's next-pixel distribution and speed control, in the real main window."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtWidgets import QPushButton

from latentlab.app.automation import send_mouse
from latentlab.resources import bundled_models

VAE2 = bundled_models()["vae-digits-latent2"]


def _posterior(window, images):
    with torch.no_grad():
        mu, logvar = window.explorer.loaded.model.posterior(torch.as_tensor(images).float())
    return mu.double().numpy(), (logvar / 2).exp().double().numpy()


def _outline(window, whose, scale):
    item = window.map_view.ellipses[(whose, scale)]
    x, y = item.getData()
    return np.stack([x, y], axis=1)


@pytest.fixture
def vae_window(open_window, qtbot):
    window = open_window(VAE2)
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        qtbot.mouseClick(window.sample_panel.tiles[0], Qt.MouseButton.LeftButton)
    return window


def test_the_panel_shows_m_and_sigma_and_draws_from_the_posterior(vae_window, qtbot):
    window, panel = vae_window, vae_window.family_panel
    assert not panel.draw_button.isEnabled()
    assert panel.chart.placeholder.isVisible()  # no empty plot before an image is analysed
    panel.findChild(QPushButton, "useCurrentImage").click()
    qtbot.waitUntil(lambda: panel.report is not None and panel.draws is not None, timeout=5000)
    assert not panel.chart.placeholder.isVisible()
    mean, std = _posterior(window, window.image_view.image()[None])
    report = panel.report
    np.testing.assert_allclose(report.std, std[0], rtol=1e-5)  # sigma = exp(logvar / 2)
    _, y = panel.mean_points.getData()
    np.testing.assert_allclose(y, mean[0], rtol=1e-5)
    np.testing.assert_allclose(panel.sigma_bars.opts["top"], report.std)
    np.testing.assert_allclose(panel.sigma_bars.opts["bottom"], report.std)
    draws = panel.draws
    assert draws.images.shape == (6, 1, 8, 8) and panel.draw_strip.images() is draws.images
    np.testing.assert_allclose(draws.latents, report.mean + report.std * draws.noise, rtol=1e-5)
    panel.draw_button.click()  # fresh draws from the same posterior
    qtbot.waitUntil(lambda: panel.draws is not draws, timeout=5000)
    assert not np.allclose(panel.draws.latents, draws.latents)
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        send_mouse(
            panel.draw_strip,
            QEvent.Type.MouseButtonPress,
            QPointF(panel.draw_strip.tile_rects()[3].center()),
        )
    np.testing.assert_allclose(window.explorer.state.latent, panel.draws.latents[3], atol=1e-9)


def test_analysing_again_keeps_the_figures_greyed_and_the_panel_its_size(vae_window, qtbot):
    """A placeholder of another length changed the panel's minimum width, and in presentation
    mode the splitters moved and the whole window was laid out again at every analysis."""
    panel = vae_window.family_panel
    panel.source.use_current_image()
    qtbot.waitUntil(lambda: panel.report is not None, timeout=5000)
    # the first report builds the chart of m and sigma, shown at the event loop's next turn
    qtbot.waitUntil(lambda: panel.moments_chart is not None and panel.moments_chart.isVisible())
    figures, report, minimum = panel.terms.text(), panel.report, panel.minimumSizeHint()
    panel.source.use_current_image()
    assert panel.terms.text() == figures and not panel.terms.isEnabled()
    qtbot.waitUntil(lambda: panel.report is not report, timeout=5000)
    assert panel.terms.isEnabled() and panel.minimumSizeHint() == minimum
    # the reference set's mean KL, the same for every image, is computed once per model
    assert report.reference_kl_per_dim is not None
    assert panel.report.reference_kl_per_dim is report.reference_kl_per_dim


def _wait_for_ellipses(qtbot, window, whose):
    """Wait until the map shows new ellipses of ``whose``."""
    shown = []
    window.map.ellipsesShown.connect(shown.append)
    qtbot.waitUntil(lambda: whose in shown, timeout=5000)
    window.map.ellipsesShown.disconnect(shown.append)


def test_the_map_shows_the_posterior_ellipses_of_the_current_and_user_images(vae_window, qtbot):
    window = vae_window
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        window.map_view.nudge_handle(2, 1)
    _wait_for_ellipses(qtbot, window, "current")  # of the image decoded last
    mean, std = _posterior(window, window.image_view.image()[None])
    one, two = _outline(window, "current", 1.0), _outline(window, "current", 2.0)
    # the latent plane of a 2-D VAE is its own: the 1σ ellipse spans m ± sigma on each axis
    np.testing.assert_allclose(np.nanmin(one, axis=0), mean[0] - std[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.nanmax(one, axis=0), mean[0] + std[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.nanmax(two, axis=0), mean[0] + 2 * std[0], rtol=1e-4)
    images = np.stack([window.explorer.samples.images[k] for k in (1, 2)])
    latents, _ = _posterior(window, images)
    window.explorer.add_user_images(["a.png", "b.png"], images, latents)
    _wait_for_ellipses(qtbot, window, "user")
    user = _outline(window, "user", 1.0)
    mean, std = _posterior(window, images)
    pieces = np.split(user, np.flatnonzero(np.isnan(user[:, 0]))[:-1] + 1)
    assert len(pieces) == 2  # one ellipse per image, separated by a gap
    for piece, m, s in zip(pieces, mean, std, strict=True):
        np.testing.assert_allclose(np.nanmax(piece, axis=0), m + s, rtol=1e-4)
        np.testing.assert_allclose(np.nanmin(piece, axis=0), m - s, rtol=1e-4)


def test_the_ellipses_still_follow_after_a_switch_while_they_were_computed(vae_window, qtbot):
    """Ellipses asked again while their job ran (stale) asked the model going away, which
    never answered: the map waited for that job for good and showed no ellipses again."""
    import threading

    window, go, shown = vae_window, threading.Event(), []
    window.map.update_ellipses("current")  # shown, after any asked before, before going on
    _wait_for_ellipses(qtbot, window, "current")
    window.jobs.submit(lambda _model: go.wait(5))  # holds the worker: what follows waits
    window.map.update_ellipses("current")
    window.map.update_ellipses("current")  # stale: asked again once the first one ends
    window.map.ellipsesShown.connect(lambda whose: shown.append(window.explorer.loaded.name))
    window.open_model(bundled_models()["vae-digits-latent16"])
    try:
        qtbot.waitUntil(lambda: "vae-digits-latent16" in shown, timeout=5000)
    finally:
        go.set()


def test_the_mixture_beside_the_vae(vae_window, qtbot):
    panel = vae_window.family_panel
    assert panel.compare_button.isEnabled()
    panel.compare_button.click()
    window = panel.comparison
    qtbot.waitUntil(lambda: window.comparison is not None, timeout=10_000)
    assert window.comparison.prototypes.shape == (20, 1, 8, 8)
    assert window.comparison.manifold.shape == (64, 1, 8, 8)
    assert window.prototypes.images().shape[0] == window.manifold.images().shape[0] == 1
    assert "prototypes" in window.prototype_caption.text()
    assert "continuous map" in window.manifold_caption.text()
    normal_size = window.font().pointSizeF()
    vae_window.presentation_action.trigger()  # F11: the window follows, full screen
    assert window.isFullScreen()
    assert window.font().pointSizeF() > normal_size
    vae_window.presentation_action.trigger()
    assert not window.isFullScreen()
    window.close()  # deleted on close: the panel lets go of it, and opens a new one
    qtbot.waitUntil(lambda: panel.comparison is None, timeout=5_000)
    panel.compare_button.click()
    assert panel.comparison is not None and panel.comparison is not window
    panel.comparison.close()


def test_the_bar_chart_follows_the_painting(pixelrnn_window, qtbot):
    _, panel = pixelrnn_window
    steps = []
    panel.complete()
    panel.paint_button.job.previewed.connect(steps.append)
    qtbot.waitUntil(lambda: not panel.paint_button.running, timeout=10_000)
    assert len(steps) == 64
    last = panel.last_step
    assert last.position == (7, 7)
    heights = panel.bars.opts["height"]
    assert heights.shape == (17,) and heights.sum() == pytest.approx(1.0)
    drawn = int(last.levels[0, 0])
    assert panel.drawn_bars.opts["x"][0] == drawn
    assert panel.drawn_bars.opts["height"][0] == pytest.approx(heights[drawn])
    assert round(panel.completions()[0, 0, 7, 7] * 16) == drawn
    assert "row 7, column 7" in panel.chart_title.text()
    assert panel.live.pixmap() is not None and not panel.live.pixmap().isNull()


def test_step_paints_one_pixel_per_click(pixelrnn_window, qtbot):
    _, panel = pixelrnn_window
    steps = []
    step_button = panel.findChild(QPushButton, "pace:step")
    step_button.click()  # starts a painting in step mode: its first pixel only
    job = panel.paint_button.job
    job.previewed.connect(steps.append)
    qtbot.waitUntil(lambda: len(steps) == 1, timeout=5000)
    other = panel.host.submit(lambda model: model.image_shape)  # the worker is not held
    with qtbot.waitSignal(other.finished, timeout=5000):
        pass
    assert len(steps) == 1 and step_button.isChecked() and job.running
    step_button.click()
    qtbot.waitUntil(lambda: len(steps) == 2, timeout=5000)
    assert [s.position for s in steps] == [(0, 0), (0, 1)]
    panel.findChild(QPushButton, "pace:fast").click()  # the rest at once
    qtbot.waitUntil(lambda: not panel.paint_button.running, timeout=10_000)
    assert len(steps) == 64


def test_stopping_a_stepped_painting(pixelrnn_window, qtbot):
    window, panel = pixelrnn_window
    panel.set_pace("step")
    qtbot.waitUntil(lambda: panel.last_step is not None, timeout=5000)
    with qtbot.waitSignal(window.jobEnded, timeout=5000):
        panel.paint_button.click()  # "Stop"
    assert not panel.paint_button.running


def test_presentation_mode_gives_the_charts_a_third_of_the_panel_or_a_sixth_of_the_window(
    vae_window, qtbot
):
    window, panel = vae_window, vae_window.family_panel
    panel.findChild(QPushButton, "useCurrentImage").click()
    qtbot.waitUntil(lambda: panel.moments_chart is not None, timeout=5000)
    small = panel.image_view.minimumWidth()
    window.set_presentation(True)
    for chart in (panel.chart, panel.moments_chart):
        qtbot.waitUntil(
            lambda c=chart: c.height() >= min(panel.height() // 3, window.height() // 6) - 1,
            timeout=5000,
        )
    assert panel.image_view.minimumWidth() == 2 * small
    window.set_presentation(False)
    assert panel.image_view.minimumWidth() == small


@pytest.mark.parametrize("other", ["gmm-digits", "vae-digits-latent16"])
def test_another_model_closes_the_comparison_with_the_vae(vae_window, qtbot, other):
    panel = vae_window.family_panel
    panel.compare_button.click()
    qtbot.waitUntil(lambda: panel.comparison is not None, timeout=10_000)
    with qtbot.waitSignal(vae_window.modelOpened, timeout=10_000):
        vae_window.open_model(bundled_models()[other])
    qtbot.waitUntil(lambda: panel.comparison is None, timeout=5_000)  # closed and deleted
    assert panel.loaded is (vae_window.explorer.loaded if other.startswith("vae") else None)


def test_the_bars_take_the_colours_of_each_models_levels_and_channels(pixelrnn_window, qtbot):
    from latentlab.explore.painting import PaintStep

    _, panel = pixelrnn_window
    for channels, levels in [(1, 17), (1, 256), (3, 256), (1, 17)]:  # model after model
        probabilities = np.full((1, channels, levels), 1 / levels)
        images = np.zeros((1, channels, 8, 8))
        drawn = np.zeros((1, channels), dtype=np.int64)
        panel._on_step(PaintStep(images, (0, 0), probabilities, drawn))
        qtbot.waitUntil(lambda n=channels * levels: len(panel.bars.opts["height"]) == n)
        assert len(panel.bars.opts["brushes"]) == channels * levels


def test_new_samples_asked_for_while_a_pixelrnn_draws_replace_them_quietly(open_window, qtbot):
    """A PixelRNN draws its samples pixel by pixel (most of a second for Fashion-MNIST): asked
    again meanwhile, it stops the samples on their way, and says nothing of a cancel the user
    never asked for."""
    window = open_window(bundled_models()["pixelrnn-fashion"])
    cancelled, shown = [], []
    window.jobs.cancelled.connect(lambda: cancelled.append("runner"))
    window.samplesDisplayed.connect(lambda: shown.append(True))
    window.sample_panel.request()
    first = window.samples._job
    first.cancelled.connect(lambda: cancelled.append("first"))
    with qtbot.waitSignal(window.samplesDisplayed, timeout=20_000):
        window.sample_panel.request()
    assert cancelled == ["first"] and shown == [True]
    assert "Cancelled" not in window.statusBar().currentMessage()


def test_the_sample_button_says_how_far_a_pixelrnn_has_drawn(open_window, qtbot):
    window = open_window(bundled_models()["pixelrnn-fashion"])
    button = window.sample_panel.button
    said = []
    with qtbot.waitSignal(window.samplesDisplayed, timeout=20_000):
        window.sample_panel.request()
        qtbot.waitUntil(lambda: said.append(button.text()) or "drawing" in button.text())
    qtbot.waitUntil(lambda: button.text() == "Sample")  # once the samples are in
    assert any(text.startswith("Sample (drawing: ") and text.endswith("%)") for text in said)
