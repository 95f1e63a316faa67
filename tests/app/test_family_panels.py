"""Each family's own panel, driven in the real main window: it appears only for its models."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from latentlab.app import gmm_panel
from latentlab.explore import ops
from latentlab.resources import bundled_models

GMM_PATH = bundled_models()["gmm-digits"]


@pytest.fixture
def gmm_window(open_window, monkeypatch):
    monkeypatch.setattr(gmm_panel, "_PACE_S", 0.0)  # no pause between EM iterations
    window = open_window(GMM_PATH)
    return window, window.family_panel


def test_mixture_panel_shows_components_with_weights(gmm_window):
    window, panel = gmm_window
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Mixture"
    assert panel.components.count() == window.loaded.model.config.components == 20
    weights = [float(panel.components.item(k).text().rstrip("%"))
               for k in range(panel.components.count())]
    assert sum(weights) == pytest.approx(100, abs=0.2)


def test_clicking_a_component_shows_its_mean(gmm_window, qtbot):
    window, panel = gmm_window
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        panel.components.setCurrentRow(7)
    means = window.loaded.model.component_images().numpy()
    np.testing.assert_array_equal(window.image_view.image(), means[7])


def test_samples_of_one_component_come_from_it(gmm_window, qtbot):
    window, panel = gmm_window
    panel.components.setCurrentRow(3)
    panel.sample_component()
    qtbot.waitUntil(lambda: panel.samples.pixmap() is not None
                    and not panel.samples.pixmap().isNull(), timeout=5000)
    model = window.loaded.model
    latents, images = gmm_panel.component_samples(model, 3, 50, seed=1)
    assert (latents[:, :20].argmax(1) == 3).all()
    responsibilities = model.responsibilities(ops.torch.as_tensor(images))
    assert (responsibilities.argmax(1) == 3).float().mean() > 0.9


def test_live_em_fit_rises_and_becomes_the_open_model(gmm_window, qtbot):
    window, panel = gmm_window
    before = window.loaded
    panel.k_spin.setValue(4)
    panel.covariance.setCurrentText("diag")
    with qtbot.waitSignal(window.modelOpened, timeout=30_000):
        panel.fit_button.click()
        assert panel.fit_button.text() == "Cancel"
    assert window.loaded is not before
    assert window.loaded.model.config.components == 4
    assert window.family_panel is panel and panel.components.count() == 4
    curve = [value for _, value in panel._history]
    assert len(curve) >= 3
    assert all(b >= a - 1e-6 for a, b in itertools.pairwise(curve))  # EM never falls
    assert "iteration" in panel.fit_label.text() and panel.fit_button.text() == "Fit"
    assert "unsaved" in panel.fit_label.text()


def test_cancelling_a_fit_keeps_the_open_model(gmm_window, qtbot, monkeypatch):
    window, panel = gmm_window
    monkeypatch.setattr(gmm_panel, "_PACE_S", 0.5)
    before = window.loaded
    panel.k_spin.setValue(5)
    panel.fit_button.click()
    qtbot.waitUntil(lambda: len(panel._history) >= 1, timeout=10_000)
    with qtbot.waitSignal(window.jobEnded, timeout=10_000):
        panel.fit_button.click()  # now "Cancel"
    assert window.loaded is before and panel.components.count() in (5, 20)
    assert "cancelled" in panel.fit_label.text() and panel.fit_button.text() == "Fit"


def test_the_panel_leaves_with_its_family(gmm_window, qtbot, tiny_vae_path):
    window, panel = gmm_window
    with qtbot.waitSignal(window.modelOpened, timeout=10_000):
        window.open_model(tiny_vae_path)
    assert window.family_panel is None
    assert window.tabs.indexOf(panel) == -1
    assert "Mixture" not in [window.tabs.tabText(i) for i in range(window.tabs.count())]
