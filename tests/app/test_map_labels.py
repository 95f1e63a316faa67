"""The map's class names: one per class shown, kept from map to map and hidden when not needed."""

from __future__ import annotations

import numpy as np

from latentlab.app.map_view import MapView


def _shown(view: MapView) -> list[str]:
    return [item.textItem.toPlainText() for item in view._label_items if item.isVisible()]


def test_class_names_follow_the_maps_classes_and_the_colouring(qtbot):
    view = MapView()
    qtbot.addWidget(view)
    points = np.random.default_rng(0).normal(size=(30, 2))
    names = ["coat", "bag", "shirt"]
    view.set_reference(points, np.arange(30) % 3, None, names)
    assert sorted(_shown(view)) == ["bag", "coat", "shirt"]
    items = list(view._label_items)
    view.set_reference(points, np.zeros(30, dtype=int), None, names)  # one class
    assert _shown(view) == ["coat"]
    view.colour_by(np.arange(30.0))  # by values: no class names
    assert _shown(view) == []
    view.colour_by(None)  # by class again: the one class's name, not the spare ones
    assert _shown(view) == ["coat"]
    view.set_reference(points, None, None, [])  # no labels
    assert _shown(view) == []
    view.set_reference(points, np.arange(30) % 3, None, names)
    assert sorted(_shown(view)) == ["bag", "coat", "shirt"]
    assert view._label_items == items  # the same items, not made again
