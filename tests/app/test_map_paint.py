"""The map's paint during a drag runs little Python, which would hold the lock the model
worker's decode needs: its points, axes and handle are redrawn from pixmaps, its view box is
not painted at all, and its scatters keep their bounding rectangle between changes, always the
one pyqtgraph would compute (after new points, a new selection, a zoom and a resize)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

from latentlab.app.automation import drag_steps
from latentlab.app.map_view import MapView


def _fresh(item: pg.ScatterPlotItem):
    return pg.ScatterPlotItem.boundingRect(item)


def _check(view: MapView, qtbot) -> None:
    """Each scatter's kept rectangle is pyqtgraph's, once the view's range has settled."""
    for item in (view.scatter, view.selection_marks):
        qtbot.waitUntil(lambda item=item: item.boundingRect() == _fresh(item))


def test_the_kept_rectangle_is_pyqtgraphs_after_every_change(qtbot):
    view = MapView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    qtbot.waitExposed(view)
    points = np.random.default_rng(0).normal(size=(50, 2))
    view.set_reference(points, np.arange(50) % 3, None, ["a", "b", "c"])
    _check(view, qtbot)
    view._on_point_clicked(3)  # a ring around a point
    view._on_point_clicked(40)
    _check(view, qtbot)
    view.set_reference(points * 10 + 5, None, None, [])  # wider, elsewhere
    _check(view, qtbot)
    view.getPlotItem().vb.scaleBy((0.5, 0.25))  # zoom in: the spots' margins shrink
    _check(view, qtbot)
    view.resize(700, 500)
    _check(view, qtbot)
    view.scatter.setSize(15)  # larger spots: a wider margin
    _check(view, qtbot)


def test_the_rectangle_is_computed_once_between_changes(qtbot, monkeypatch):
    view = MapView()
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    view.set_reference(np.random.default_rng(1).normal(size=(20, 2)), None, None, [])
    _check(view, qtbot)
    computed = []
    original = pg.ScatterPlotItem.boundingRect

    def counted(item):
        computed.append(item)
        return original(item)

    monkeypatch.setattr(pg.ScatterPlotItem, "boundingRect", counted)
    first = view.scatter.boundingRect()
    assert [view.scatter.boundingRect() for _ in range(5)] == [first] * 5
    assert len(computed) <= 1
    view.scatter.setData(pos=np.array([[0.0, 0.0], [30.0, 40.0]]))
    assert view.scatter.boundingRect() != first
    assert computed[-1] is view.scatter


def test_a_drag_runs_no_python_paint_at_each_step(qtbot, monkeypatch, every_mouse_move):
    # patched before the view exists: PySide looks up an object's Python overrides once
    painted: list[str] = []
    for cls in (pg.TargetItem, pg.ScatterPlotItem, pg.AxisItem, pg.ViewBox):
        original = cls.paint

        def counted(item, *args, _original=original, _name=cls.__name__):
            painted.append(_name)
            return _original(item, *args)

        monkeypatch.setattr(cls, "paint", counted)
    view = MapView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    qtbot.waitExposed(view)
    view.set_reference(np.random.default_rng(2).normal(size=(200, 2)), None, None, [])
    qtbot.waitUntil(lambda: "ScatterPlotItem" in painted and "TargetItem" in painted)
    painted.clear()
    start = view.handle_scene_position()
    path = [start + QPointF(3 * i, 2 * i) for i in range(31)]
    moved = []
    view.handleMoved.connect(lambda a, b: moved.append((a, b)))
    for _ in drag_steps(view, path):
        QApplication.processEvents()  # the map repaints, as between mouse moves
    assert len(moved) == len(path) - 2  # every move after the first, which starts the drag
    # painted once at most, when hovering changed its colour: not at every step
    assert painted.count("TargetItem") <= 2, painted
    assert painted.count("ScatterPlotItem") + painted.count("AxisItem") <= 2, painted
    assert "ViewBox" not in painted  # it draws nothing, and says so
