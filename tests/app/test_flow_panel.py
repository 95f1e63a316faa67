"""The flows' panel in the real main window: Glow's layers with their 1x1 convolutions, the
couplings' masks, one level redrawn at a time, and a table readable when presenting."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtWidgets import QApplication, QPushButton

from latentlab.app.automation import send_mouse
from latentlab.resources import bundled_models


@pytest.fixture
def glow_window(open_window, qtbot):
    window = open_window(bundled_models()["glow-synthfaces"])
    panel = window.family_panel
    panel.findChild(QPushButton, "useCurrentImage").click()
    qtbot.waitUntil(lambda: panel.trace is not None and panel.resampled is not None, timeout=10_000)
    return window, panel


def test_glow_gets_the_layer_view_with_its_1x1_convolutions(glow_window):
    window, panel = glow_window
    assert panel.objectName() == "flowLayersPanel" and window.tabs.tabText(0) == "Layers"
    trace = panel.trace
    assert panel.table.rowCount() == len(trace.layers)
    convs = [row for row, t in enumerate(trace.layers) if t.label == "1x1 convolution"]
    couplings = [row for row, t in enumerate(trace.layers) if t.mask is not None]
    splits = [row for row, t in enumerate(trace.layers) if t.factored is not None]
    config = window.explorer.loaded.model.config
    assert len(convs) == len(couplings) == config.scales * config.steps
    assert len(splits) == config.scales - 1
    for row in convs + couplings + splits:  # a heat map, mask or factored latent beside the name
        name = panel.table.item(row, 1)
        assert not name.icon().isNull()
        assert trace.layers[row].detail in name.text()
    first = panel.table.item(convs[0], 1).text()
    assert first.startswith("1x1 convolution\nW 12x12; log|det W|")
    assert "level 1: factors out 6x16x16" in panel.table.item(splits[0], 1).text()
    assert (
        panel.table.item(couplings[0], 1)
        .text()
        .endswith("copies channels 1-6, transforms channels 7-12")
    )
    assert panel.table.item(0, 1).icon().isNull()  # centring has nothing more to show


def test_the_weight_heat_map_is_diverging():
    from latentlab.app.flow_panel import weight_heat_map

    picture = weight_heat_map(np.array([[-2.0, 0.0], [1.0, 2.0]]))
    assert picture.shape == (3, 2, 2) and picture.dtype == np.uint8
    blue, grey, red = picture[:, 0, 0], picture[:, 0, 1], picture[:, 1, 1]
    assert blue[2] > blue[0] and red[0] > red[2]  # negative blue, positive red
    assert abs(int(grey[0]) - int(grey[2])) < 40  # zero neither


def test_each_level_is_redrawn_and_a_click_makes_it_the_current_point(glow_window, qtbot):
    window, panel = glow_window
    result = panel.resampled
    assert len(panel.level_strips) == len(result.levels) == 3
    for strip, images in zip(panel.level_strips, result.images, strict=True):
        assert len(images) == 3
        np.testing.assert_array_equal(strip.images(), images)
    before = result.latents.copy()
    panel.resample_button.click()
    qtbot.waitUntil(lambda: panel.resampled is not result, timeout=10_000)
    assert not np.array_equal(panel.resampled.latents, before)  # drawn anew
    panel.pages.setCurrentWidget(panel.levels_page)
    strip = panel.level_strips[2]
    qtbot.waitUntil(lambda: len(strip.tile_rects()) == 3, timeout=5000)
    with qtbot.waitSignal(window.imageDisplayed, timeout=5000):
        send_mouse(strip, QEvent.Type.MouseButtonPress, QPointF(strip.tile_rects()[1].center()))
    np.testing.assert_allclose(window.explorer.state.latent, panel.resampled.latents[2, 1])


def test_the_panel_stays_for_the_next_flow_and_drops_its_levels(glow_window, qtbot):
    window, panel = glow_window
    panel.pages.setCurrentWidget(panel.levels_page)
    with qtbot.waitSignal(window.modelOpened, timeout=10_000):
        window.open_model(bundled_models()["nice-digits"])
    assert window.family_panel is panel  # one panel for every flow
    assert panel.levels == [] and panel.level_strips == [] and panel.trace is None
    assert not panel.pages.isTabVisible(1) and panel.pages.currentWidget() is panel.table
    qtbot.waitUntil(lambda: window.image_view.image() is not None, timeout=5000)
    panel.findChild(QPushButton, "useCurrentImage").click()
    qtbot.waitUntil(lambda: panel.trace is not None, timeout=5000)
    masks = [t.mask for t in panel.trace.layers if t.mask is not None]
    assert len(masks) == 4  # NICE's alternate partition, its parity flipping down the table
    assert all((a != b).all() for a, b in itertools.pairwise(masks))


@pytest.mark.parametrize("name", ["realnvp-fashion", "glow-synthfaces"])
def test_presenting_keeps_every_figure_in_view_and_readable(open_window, qtbot, name):
    window = open_window(bundled_models()[name])
    panel = window.family_panel
    panel.findChild(QPushButton, "useCurrentImage").click()
    qtbot.waitUntil(lambda: panel.trace is not None, timeout=10_000)
    normal_icons = panel.table.iconSize()
    window.set_presentation(True)
    try:
        window.setGeometry(0, 0, 1920, 1080)  # a projector's screen (offscreen is smaller)
        qtbot.waitUntil(lambda: window.width() == 1920, timeout=2000)
        table, header = panel.table, panel.table.horizontalHeader()
        assert table.iconSize().height() > normal_icons.height()
        widths = [table.columnWidth(column) for column in range(table.columnCount())]
        for column in range(table.columnCount()):
            name = header.model().headerData(column, Qt.Orientation.Horizontal)
            content = max(table.sizeHintForColumn(column), header.sectionSizeHint(column))
            if name != "layer":  # the description wraps in the width the others leave
                assert widths[column] >= content, name
        assert sum(widths) <= table.viewport().width()  # no column scrolled out of view
        for row in range(table.rowCount()):
            assert table.rowHeight(row) >= table.sizeHintForRow(row)  # wrapped text whole
    finally:
        window.set_presentation(False)


def test_a_flows_panel_leaves_the_maps_width_alone(open_window, qtbot):
    """At the window's first size, opening a flow after a VAE keeps the map as wide: the
    levels' explanation wraps rather than widening the right side (it took 41 px of the map
    at every flow opened, and gave them back at the next model)."""
    models = bundled_models()
    window = open_window(models["vae-digits-latent2"])
    width = window.map_view.width()
    with qtbot.waitSignal(window.modelOpened, timeout=10_000):
        window.open_model(models["glow-synthfaces"])
    QApplication.processEvents()  # the layout requests the new panel posted
    assert window.map_view.width() == width
