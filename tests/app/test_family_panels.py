"""Each family's own panel, driven in the real main window: it appears only for its models."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from latentlab.app import gmm_panel, model_loader
from latentlab.app.automation import send_mouse
from latentlab.explore import ops
from latentlab.resources import bundled_models

GMM_PATH = bundled_models()["gmm-digits"]


@pytest.fixture
def gmm_window(open_window, monkeypatch, qtbot):
    monkeypatch.setattr(gmm_panel, "_PACE_S", 0.0)  # no pause between EM iterations
    window = open_window(GMM_PATH)
    panel = window.family_panel
    # the components' means come from a job of their own, after the window's first image
    qtbot.waitUntil(lambda: panel.components.count() > 0, timeout=10_000)
    return window, panel


def test_mixture_panel_shows_components_with_weights(gmm_window):
    window, panel = gmm_window
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Mixture"
    assert panel.components.count() == window.explorer.loaded.model.config.components == 20
    weights = [
        float(panel.components.item(k).text().rstrip("%")) for k in range(panel.components.count())
    ]
    assert sum(weights) == pytest.approx(100, abs=0.2)


def test_presentation_mode_fits_a_720_pixel_projector(gmm_window, qtbot):
    """The mixture's panel is the tallest; its charts once made the window 752 px tall."""
    window, _panel = gmm_window
    window.set_presentation(True)
    qtbot.waitUntil(window.isFullScreen, timeout=2000)
    assert window.minimumSizeHint().height() <= 720


def test_in_presentation_mode_the_em_chart_and_the_components_grow(gmm_window, qtbot):
    window, panel = gmm_window
    icon = panel.components.iconSize().height()
    icon_pixmap = panel.components.item(0).icon().availableSizes()[0].height()
    window.set_presentation(True)
    qtbot.waitUntil(window.isFullScreen, timeout=2000)
    share = lambda: min(panel.height() // 3, window.height() // 6)  # noqa: E731
    qtbot.waitUntil(lambda: panel.curve_view.height() >= share(), timeout=2000)
    assert panel.components.iconSize().height() == 2 * icon
    assert panel.components.item(0).icon().availableSizes()[0].height() == 2 * icon_pixmap
    tick_font = panel.curve_view.getPlotItem().getAxis("bottom").style["tickFont"]
    presenting = window.centralWidget().font().pointSizeF()
    assert tick_font.pointSizeF() == pytest.approx(presenting)
    assert panel.curve_view.placeholder.font().pointSizeF() == pytest.approx(presenting)
    assert panel.curve_view.placeholder.geometry() == panel.curve_view.rect()  # still covers it
    window.set_presentation(False)
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=2000)
    assert panel.components.iconSize().height() == icon
    assert panel.curve_view.placeholder.font().pointSizeF() < presenting
    assert panel.curve_view.minimumHeight() < panel.height() // 3


def test_in_presentation_mode_a_chart_follows_the_window_not_its_panel(gmm_window, qtbot):
    """The panel's height follows its minimum, of which the chart's is part: a chart following
    its panel laid the window out five or six times over when a model opened."""
    window, panel = gmm_window
    window.set_presentation(True)
    qtbot.waitUntil(window.isFullScreen, timeout=2000)
    chart = panel.curve_view
    qtbot.waitUntil(lambda: chart.minimumHeight() == window.height() // 6, timeout=2000)
    panel.resize(panel.width(), 150)  # a panel that got little room
    assert chart.minimumHeight() == window.height() // 6
    window.set_presentation(False)
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=2000)
    assert chart.minimumHeight() < window.height() // 6


def test_clicking_a_component_shows_its_mean(gmm_window, qtbot):
    window, panel = gmm_window
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        panel.components.setCurrentRow(7)
    means = window.explorer.loaded.model.component_images().numpy()
    np.testing.assert_array_equal(window.image_view.image(), means[7])


def test_samples_of_one_component_come_from_it(gmm_window, qtbot):
    window, panel = gmm_window
    panel.components.setCurrentRow(3)
    panel.sample_component()
    qtbot.waitUntil(lambda: panel.samples.images() is not None, timeout=5000)
    assert len(panel.samples.tile_rects()) == 8
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        send_mouse(
            panel.samples,
            QEvent.Type.MouseButtonPress,
            QPointF(panel.samples.tile_rects()[2].center()),
        )
    assert window.explorer.state.latent[:20].argmax() == 3
    model = window.explorer.loaded.model
    latents, images = gmm_panel.component_samples(model, 3, 50, seed=1)
    assert (latents[:, :20].argmax(1) == 3).all()
    responsibilities = model.responsibilities(ops.torch.as_tensor(images))
    assert (responsibilities.argmax(1) == 3).float().mean() > 0.9


def test_live_em_fit_rises_and_becomes_the_open_model(gmm_window, qtbot):
    window, panel = gmm_window
    before, map_width = window.explorer.loaded, window.map_view.width()
    assert panel.curve_view.placeholder.isVisible()  # no empty plot before a fit
    panel.k_spin.setValue(4)
    panel.covariance.setCurrentText("diag")
    with qtbot.waitSignal(window.modelOpened, timeout=30_000):
        panel.fit_button.click()
        assert panel.fit_button.text() == "Cancel"
    assert window.explorer.loaded is not before
    assert window.explorer.loaded.model.config.components == 4
    assert window.family_panel is panel and panel.components.count() == 4
    assert not panel.curve_view.placeholder.isVisible()
    curve = [value for _, value in panel._history]
    assert len(curve) >= 3
    assert all(b >= a - 1e-6 for a, b in itertools.pairwise(curve))  # EM never falls
    assert "iteration" in panel.fit_label.text() and panel.fit_button.text() == "Fit"
    assert "unsaved" in panel.fit_label.text()
    QApplication.processEvents()  # the layout requests the new text posted
    assert window.map_view.width() == map_width  # the long text wraps in the panel


def test_a_file_asked_for_during_a_fit_wins_over_the_fitted_mixture(
    gmm_window, qtbot, monkeypatch, tiny_vae_path
):
    """The fit ends while the file the user asked for is still loading: the file opens, not
    the mixture (the user's latest request), and the panel says so."""
    window, panel = gmm_window
    loading = threading.Event()
    real_open = model_loader._open_model

    def slow_open(path):
        assert loading.wait(30)
        return real_open(path)

    monkeypatch.setattr(model_loader, "_open_model", slow_open)
    panel.k_spin.setValue(3)
    panel.fit_button.click()
    window.open_model(tiny_vae_path)  # the fit goes on while the file loads
    qtbot.waitUntil(lambda: "not opened" in panel.fit_label.text(), timeout=30_000)
    with qtbot.waitSignal(window.modelOpened, timeout=10_000) as opened:
        loading.set()
    assert opened.args == [str(tiny_vae_path)]
    assert window.explorer.loaded.meta["family"] == "vae"


def test_cancelling_a_fit_keeps_the_open_model(gmm_window, qtbot, monkeypatch):
    window, panel = gmm_window
    monkeypatch.setattr(gmm_panel, "_PACE_S", 0.5)
    before = window.explorer.loaded
    panel.k_spin.setValue(5)
    panel.fit_button.click()
    qtbot.waitUntil(lambda: len(panel._history) >= 1, timeout=10_000)
    with qtbot.waitSignal(window.jobEnded, timeout=10_000):
        panel.fit_button.click()  # now "Cancel"
    assert window.explorer.loaded is before and panel.components.count() in (5, 20)
    assert "cancelled" in panel.fit_label.text() and panel.fit_button.text() == "Fit"


def test_the_panel_leaves_with_its_family(gmm_window, qtbot, tiny_vae_path):
    window, panel = gmm_window
    with qtbot.waitSignal(window.modelOpened, timeout=10_000):
        window.open_model(tiny_vae_path)
    assert window.family_panel is not panel and window.family_panel.title == "Posterior"
    assert window.tabs.indexOf(panel) == -1
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert "Mixture" not in titles and titles[0] == "Posterior"
    assert not panel.isVisible() and panel.loaded is None  # put away, holding no model
    assert panel.components.count() == 0
    gmm_path = bundled_models()["gmm-digits"]
    with qtbot.waitSignal(window.modelOpened, timeout=10_000):
        window.open_model(gmm_path)
    assert window.family_panel is panel and window.tabs.indexOf(panel) == 0  # back, not rebuilt
    assert panel.isVisible() and panel.loaded is window.explorer.loaded
    qtbot.waitUntil(lambda: panel.components.count() == 20, timeout=10_000)


def test_the_vae_panel_splits_the_elbo_and_shows_the_kl_of_each_dimension(open_window, qtbot):
    window = open_window(bundled_models()["vae-digits-latent16"])
    panel = window.family_panel
    assert panel.objectName() == "posteriorPanel" and window.tabs.currentWidget() is panel
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        qtbot.mouseClick(window.sample_panel.tiles[0], Qt.MouseButton.LeftButton)
    panel.findChild(QPushButton, "useCurrentImage").click()
    qtbot.waitUntil(lambda: panel.report is not None, timeout=5000)
    report = panel.report
    assert report.elbo == pytest.approx(report.reconstruction - report.kl)
    assert report.kl == pytest.approx(report.kl_per_dim.sum(), rel=1e-5)
    assert f"KL(q(z|x) ‖ p(z)): {report.kl:.1f} nats" in panel.terms.text()
    heights = panel.image_bars.opts["height"]
    np.testing.assert_allclose(heights, report.kl_per_dim)
    # the bundled 16-D VAE uses 6 of its dimensions (measured): the others carry no KL
    assert "dimensions in use: 6 of 16" in panel.terms.text()


def test_a_model_without_latent_opens_with_its_paint_panel(pixelrnn_window):
    window, panel = pixelrnn_window
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Paint"
    assert not window.map_box.isVisible()
    for title in ("Attributes", "Interpolation"):
        index = [window.tabs.tabText(i) for i in range(window.tabs.count())].index(title)
        assert not window.tabs.isTabEnabled(index)
    assert window.image_view.image() is not None  # the first sample
    assert panel.canvas.mask_array.all()  # a blank source: sample from scratch


def test_clicking_a_sample_shows_it(pixelrnn_window, qtbot):
    window, _ = pixelrnn_window
    window.sample_panel.tiles[5].click()
    np.testing.assert_array_equal(window.image_view.image(), window.explorer.samples.images[5])


def test_completion_paints_only_the_mask_and_shows_progress(pixelrnn_window, qtbot):
    window, panel = pixelrnn_window
    window.sample_panel.tiles[2].click()
    panel.source.use_current_image()
    source = window.image_view.image().copy()
    assert panel.preset.currentText() == "bottom half"
    panel.canvas.mask_array[:, :] = False
    panel.canvas.mask_array[6:, 2:] = True  # as if painted
    frames = []
    window.worker.previewed.connect(lambda _seq, images: frames.append(images))
    panel.count.setValue(3)
    panel.complete()
    assert panel.paint_button.text() == "Stop"
    qtbot.waitUntil(lambda: not panel.paint_button.running, timeout=10_000)
    done = panel.completions()
    assert done.shape == (3, 1, 8, 8) and len(frames) == 12
    keep = ~panel.canvas.mask_array
    for image in done:
        np.testing.assert_array_equal(image[0][keep], source[0][keep])
    assert panel.paint_button.text() == "Complete"


def test_stopping_a_painting(pixelrnn_window, qtbot, monkeypatch):
    from latentlab.app import pixelrnn_panel

    window, panel = pixelrnn_window
    monkeypatch.setattr(pixelrnn_panel, "_SECONDS", 30.0)
    panel.complete()
    qtbot.waitUntil(lambda: panel.completions() is not None, timeout=10_000)
    with qtbot.waitSignal(window.jobEnded, timeout=10_000):
        panel.paint_button.click()  # "Stop"
    assert not panel.paint_button.running and panel.paint_button.text() == "Complete"
    assert "Cancelled" in window.statusBar().currentMessage()


def test_an_empty_mask_is_refused_with_a_message(pixelrnn_window):
    window, panel = pixelrnn_window
    panel.preset.setCurrentText("none")
    panel._apply_preset()
    panel.complete()
    assert not panel.paint_button.running and "mask is empty" in window.statusBar().currentMessage()


@pytest.fixture
def dcgan_window(open_window, tmp_path):
    from helpers import write_untrained

    from latentlab.models.dcgan import DCGAN, DCGANConfig

    torch.manual_seed(0)
    path = write_untrained(
        tmp_path / "tiny-dcgan.safetensors", DCGAN(DCGANConfig(latent_dim=8, ngf=8, ndf=8)).eval()
    )
    window = open_window(path)
    return window, window.family_panel


def test_inverting_the_current_image_finds_a_close_latent(dcgan_window, qtbot):
    window, panel = dcgan_window
    map_width = window.map_view.width()
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Invert"
    assert not panel.invert_button.isEnabled()  # nothing to invert yet
    assert panel.curve_view.placeholder.isVisible()
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        window.sample_panel.tiles[1].click()  # a sample the generator can make exactly
    panel.source.use_current_image()
    panel.steps.setValue(60)
    with qtbot.waitSignal(window.imageDisplayed, timeout=30_000):
        panel.invert_button.click()
        assert panel.invert_button.text() == "Stop"
    assert len(panel._errors) == 60 and panel.result is not None
    assert not panel.curve_view.placeholder.isVisible()
    _, y = panel.curve.getData()
    np.testing.assert_allclose(y, np.log10(panel._errors), rtol=1e-6)  # the last drawn too
    assert panel.result.mse < 0.01  # the generator made the target: it can be found again
    np.testing.assert_array_equal(window.explorer.state.latent, panel.result.latent)
    assert "now the current point" in panel.label.text()
    QApplication.processEvents()  # the layout requests the new text posted
    assert window.map_view.width() == map_width  # the long result line wraps in the panel


def test_an_unreadable_image_file_is_reported(dcgan_window, qtbot, tmp_path):
    window, panel = dcgan_window
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with qtbot.waitSignal(window.jobEnded, timeout=5000):
        panel.source.open_file(bad)
    assert window.findChild(QMessageBox, "errorBox").isVisible()
    assert panel.target is None


@pytest.mark.parametrize("name", ["nice-digits", "realnvp-digits"])
def test_the_flow_panel_follows_an_image_layer_by_layer(open_window, qtbot, name):
    window = open_window(bundled_models()[name])
    panel = window.family_panel
    assert panel.objectName() == "flowLayersPanel" and window.tabs.tabText(0) == "Layers"
    panel.findChild(QPushButton, "useCurrentImage").click()
    qtbot.waitUntil(lambda: panel.trace is not None, timeout=5000)
    trace = panel.trace
    assert panel.table.rowCount() == len(trace.layers)
    total = sum(layer.logdet for layer in trace.layers)
    assert panel.table.item(len(trace.layers) - 1, 4).text() == f"{total:+.2f}"
    assert f"{trace.bits_per_dim:.3f} bits/dim" in panel.summary.text()
