"""The 2-D lab: flows and EM fitted live on 2-D points small enough to see whole (issue 13).

Layout and wiring only: a :class:`~latentlab.app.lab_runner.LabRunner` runs the fits (a flow in
the app's lab process, a mixture on a worker thread), whose views the plots draw.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from latentlab.app.charts import panel_chart
from latentlab.app.jobs import Job
from latentlab.app.lab_controls import EM, MY_POINTS, LabControls
from latentlab.app.lab_em_views import AncestralAnimation, EMOverlay, WeightsChart
from latentlab.app.lab_flow_views import DataPlot, LatentPlot, LayerPlot
from latentlab.app.lab_jacobian import SIZE as READOUT_SIZE
from latentlab.app.lab_jacobian import JacobianReadout
from latentlab.app.lab_presentation import SCALE, scale_plot, scaled_font
from latentlab.app.lab_runner import BuiltFlow, LabRunner
from latentlab.data.toy2d import load_points_csv, make_toy, save_points_csv
from latentlab.explore.lab_em import EMLabView, ancestral_samples
from latentlab.explore.lab_flow import FlowLabView, box_around
from latentlab.models.flow2d import Flow2DStep

__all__ = ["LabWindow"]

ANCESTRAL_SAMPLES = 24
MIN_POINTS = 10
# A flow's loss curves are redrawn a few times a second, not on every frame: their chart, its
# axes relabelled as the curves grow, took as long to repaint as the other three views together
CURVES_MS = 250
HEAT_MAPS = {"density": "p(x)", "logdet": "log|det ∂z/∂x|", "none": "none"}
_CSV = "CSV files (*.csv);;All files (*)"


class LabWindow(QMainWindow):
    """The lab window (objectName ``labWindow``). F11 presentation mode, Space fit/pause, Esc
    stop (or leave presentation mode)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("labWindow")
        self.setWindowTitle("LatentLab — 2-D lab: flows and EM")
        self.runner = LabRunner(self)
        self.points = np.zeros((0, 2), dtype=np.float32)
        self.steps: list[Flow2DStep] = []  # the flow's leaf layers
        self.cursor_point: tuple[float, float] | None = None
        self.flow_view: FlowLabView | None = None
        self.em_view: EMLabView | None = None
        self.test_history: list[tuple[int, float]] = []
        self.highlighted: int | None = None
        self.sample_seed = 0
        self.presenting = False
        self.toy_shown: tuple[str, int] | None = None  # the toy set and size on show
        self.curves_timer = QTimer(self)
        self.curves_timer.setSingleShot(True)
        self.curves_timer.setInterval(CURVES_MS)
        self.curves_timer.timeout.connect(self._draw_flow_curves)

        self._build_views()
        self._build_layout()
        self._connect()
        self._on_model_chosen()
        self._on_dataset_chosen()

    # -- building ------------------------------------------------------------------------------

    def _build_views(self) -> None:
        self.controls = LabControls()
        self.heat = QComboBox()
        self.heat.setObjectName("labHeat")
        for key, name in HEAT_MAPS.items():
            self.heat.addItem(f"heat map: {name}", key)
        self.heat.setToolTip("What the data view's colours show")
        self.data_view = DataPlot()
        self.latent_view = LatentPlot()
        self.layer_view = LayerPlot()
        self.layer_slider = QSlider(Qt.Orientation.Horizontal)
        self.layer_slider.setObjectName("labLayerSlider")
        self.layer_slider.setToolTip("Show the grid and the points after this layer")
        self.layer_label = QLabel("Fit a flow to see its layers.")
        self.layer_label.setObjectName("labLayerLabel")
        self.layer_label.setWordWrap(True)
        self.readout = JacobianReadout()
        self.curve_view = panel_chart("labCurve", "step", "NLL (nats/point)", 120)
        self.curve_view.addLegend(offset=(-10, 10))
        self.train_curve = self.curve_view.curve("#1f77b4", name="train")
        self.test_curve = self.curve_view.curve("#ff7f0e", name="test")
        self.weights = WeightsChart()
        self.em_overlay = EMOverlay(self.data_view, self.data_view.points)
        self.animation = AncestralAnimation(self)

    def _build_layout(self) -> None:
        data_column = QVBoxLayout()
        data_column.addWidget(self.heat)
        data_column.addWidget(self.data_view, 1)
        self.data_box = _box(data_column)
        layer_column = QVBoxLayout()
        layer_column.addWidget(self.layer_slider)
        layer_column.addWidget(self.layer_label)
        layer_column.addWidget(self.layer_view, 1)
        self.layer_box = _box(layer_column)
        self.grid = QGridLayout()
        for index in (0, 1):
            self.grid.setColumnStretch(index, 1)
            self.grid.setRowStretch(index, 1)
        for widget in (self.data_box, self.latent_view, self.layer_box, self.curve_view):
            # rows and columns share the space by their stretch alone, not by what the
            # widgets' contents would like
            widget.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.weights.widget.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.addWidget(self.controls)
        layout.addLayout(self.grid, 1)
        layout.addWidget(self.readout)
        self.setCentralWidget(central)
        self.resize(1280, 800)

    def _arrange(self, em: bool) -> None:
        """Flow: the data and latent views above, the layers and the loss below, the Jacobian
        readout beside them. EM: the data view large, the weights and the log-likelihood
        beside it."""
        views: list[QWidget] = [self.data_box, self.latent_view, self.layer_box, self.curve_view]
        self.grid.removeWidget(self.weights.widget)
        for view in views:
            self.grid.removeWidget(view)
        if em:
            self.grid.addWidget(self.data_box, 0, 0, 2, 1)
            self.grid.addWidget(self.weights.widget, 0, 1)
            self.grid.addWidget(self.curve_view, 1, 1)
        else:
            for index, view in enumerate(views):
                self.grid.addWidget(view, *divmod(index, 2))
        for flow_only in (self.latent_view, self.layer_box, self.readout):
            flow_only.setVisible(not em)
        self.weights.widget.setVisible(em)
        self.heat.setVisible(not em)
        legend = self.curve_view.getPlotItem().legend
        assert legend is not None  # added in _build_views
        legend.setVisible(not em)
        self.curve_view.setLabel("bottom", "EM iteration" if em else "step")
        self.curve_view.setLabel(
            "left", "log-likelihood (nats/point)" if em else "NLL (nats/point)"
        )

    def _connect(self) -> None:
        c = self.controls
        c.dataset.currentIndexChanged.connect(self._on_dataset_chosen)
        c.count.editingFinished.connect(self._on_dataset_chosen)
        c.model.currentIndexChanged.connect(self._on_model_chosen)
        c.layers.valueChanged.connect(self._discard_fit)
        c.components.valueChanged.connect(self._discard_fit)
        c.paint.toggled.connect(self.data_view.set_painting)
        c.clear.clicked.connect(
            lambda: self._use_own_points(np.zeros((0, 2), dtype=np.float32), reframe=False)
        )
        c.load.clicked.connect(self.choose_csv_to_load)
        c.save.clicked.connect(self.choose_csv_to_save)
        c.fit.clicked.connect(self.fit)
        c.pause.toggled.connect(self.set_paused)
        c.step.clicked.connect(self.step_em)
        c.stop.clicked.connect(self.runner.stop)
        c.pick.clicked.connect(self.pick_and_sample)
        self.heat.currentIndexChanged.connect(self._redraw_flow)
        self.data_view.cursorMoved.connect(self.set_cursor)
        self.data_view.painted.connect(self.paint)
        self.layer_slider.valueChanged.connect(self._on_layer_chosen)
        r = self.runner
        r.built.connect(self._on_built)
        r.viewed.connect(self._on_view)
        r.progressed.connect(lambda fraction: c.progress.setValue(round(100 * fraction)))
        r.runningChanged.connect(c.show_running)
        r.ended.connect(self._on_run_ended)
        r.failed.connect(lambda message: self._show_error("The fit failed", message))
        self.animation.picked.connect(self._on_component_picked)
        self.animation.dropped.connect(self.em_overlay.show_samples)
        self.animation.ended.connect(lambda: self._on_component_picked(None))
        QShortcut(QKeySequence("F11"), self, lambda: self.set_presentation(not self.presenting))
        QShortcut(QKeySequence(Qt.Key.Key_Space), self, self._on_space)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self._on_escape)
        QShortcut(QKeySequence("Ctrl+W"), self, self.close)

    # -- data ----------------------------------------------------------------------------------

    @property
    def em(self) -> bool:
        return self.controls.model_id() == EM

    @property
    def running(self) -> bool:
        return self.runner.running

    def _on_dataset_chosen(self) -> None:
        dataset = self.controls.dataset_id()
        self.controls.count.setEnabled(dataset != MY_POINTS and not self.running)
        wanted = (dataset, self.controls.count.value())
        # editingFinished also comes when the spin box merely loses focus: load only changes
        if dataset != MY_POINTS and wanted != self.toy_shown:
            self.set_points(make_toy(dataset, wanted[1], seed=0))
            self.toy_shown = wanted

    def _use_own_points(self, points: np.ndarray, reframe: bool = True) -> None:
        """Switch to "My points" holding ``points``."""
        self.controls.dataset.blockSignals(True)
        self.controls.dataset.setCurrentIndex(self.controls.dataset.findData(MY_POINTS))
        self.controls.dataset.blockSignals(False)
        self.controls.count.setEnabled(False)
        self.set_points(points, reframe)
        self.toy_shown = None

    def set_points(self, points: np.ndarray, reframe: bool = True) -> None:
        """Show ``points`` (N, 2) as the data, framed unless not ``reframe``; any fit of the
        old data is dropped."""
        self._discard_fit()
        self.points = np.asarray(points, dtype=np.float32)
        self.data_view.show_points(self.points)
        if reframe and len(self.points) >= 2:
            self.data_view.show_box(box_around(self.points))
        self.controls.status.setText(f"{len(self.points)} points. Choose a model, then Fit.")

    def paint(self, x: float, y: float) -> None:
        """Add the point (x, y) to the user's own points."""
        points = np.vstack([self.points, np.array([[x, y]], dtype=np.float32)])
        self._use_own_points(points, reframe=False)  # the view stays still under the brush

    def choose_csv_to_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load points", "", _CSV)
        if path:
            self.load_csv(path)

    def load_csv(self, path: str | Path) -> Job:
        """Read points from a CSV file on the worker; a bad file is reported in a message box
        and the current points stay."""
        job = self.runner.call(load_points_csv, path)
        job.finished.connect(self._use_own_points)
        job.failed.connect(lambda message: self._show_error("Cannot load the points", message))
        return job

    def choose_csv_to_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save points", "points.csv", _CSV)
        if path:
            self.save_csv(path)

    def save_csv(self, path: str | Path) -> Job:
        """Write the points to a CSV file on the worker."""
        job = self.runner.call(save_points_csv, path, self.points.copy())
        job.finished.connect(
            lambda _: self.controls.status.setText(f"Saved {len(self.points)} points.")
        )
        job.failed.connect(lambda message: self._show_error("Cannot save the points", message))
        return job

    def _show_error(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)

    # -- the model and its fit -----------------------------------------------------------------

    def _on_model_chosen(self) -> None:
        self._discard_fit()
        self.controls.show_mode(self.em)
        self._arrange(self.em)
        self.data_view.show_cursor(None if self.em else self.cursor_point)

    def _discard_fit(self) -> None:
        """Forget the fit (the data or the model changed): stop it and clear its views."""
        self.runner.discard()
        self._clear_fit()
        self.controls.pause.setChecked(False)

    def _clear_fit(self) -> None:
        self.curves_timer.stop()
        self.steps = []
        self.flow_view = self.em_view = None
        self.test_history = []
        self.animation.stop()
        self.em_overlay.clear()
        self.data_view.points.setBrush(self.data_view.points.opts["brush"])
        self.data_view.show_heat(None, None, "viridis")
        self.data_view.samples.setData(pos=np.zeros((0, 2)))
        for curve in (self.train_curve, self.test_curve):
            curve.setData([], [])
        self.readout.show_reading(None, "")
        self.controls.progress.setValue(0)

    def fit(self, step: bool = False) -> None:
        """Build the chosen model on the worker, then fit it live (a mixture starting with one
        EM iteration if ``step``)."""
        if self.running:
            return
        # a count typed but not yet entered: fit the points the box shows (else disabling the
        # box as the fit starts ended its editing, and the new points discarded the new fit)
        self._on_dataset_chosen()
        if len(self.points) < MIN_POINTS:
            self.controls.status.setText(f"Paint or load at least {MIN_POINTS} points first.")
            return
        self._clear_fit()
        c = self.controls
        self.runner.fit(self.points, c.model_id(), c.layers.value(), c.components.value(), step)
        c.status.setText("Building the model…")

    def _on_built(self, built: BuiltFlow | None) -> None:
        if built is None:
            return  # a mixture: its first view says it all
        self.steps = built.steps
        for view in (self.latent_view, self.layer_view):
            view.points.set_groups(built.groups)
        self._show_layer_count(len(self.steps))

    def _on_run_ended(self, view: FlowLabView | EMLabView | None) -> None:
        self.controls.pause.setChecked(False)
        if view is not None:
            self.controls.progress.setValue(100)
        else:
            self.controls.status.setText(f"Stopped. {self.controls.status.text()}")

    def set_paused(self, paused: bool) -> None:
        """Pause or resume the fit (its views keep coming while paused)."""
        self.controls.pause.setText("Resume" if paused else "Pause")
        self.runner.set_paused(paused)

    def step_em(self) -> None:
        """One EM iteration: pauses a running fit; when idle, goes on paused from where the
        stopped fit is, or starts a new one."""
        if not self.em:
            return
        self.controls.pause.setChecked(True)
        if not self.runner.step():
            self.fit(step=True)

    def _on_space(self) -> None:
        if self.running:
            self.controls.pause.toggle()
        else:
            self.fit()

    def _on_escape(self) -> None:
        if self.running:
            self.runner.stop()
        elif self.presenting:
            self.set_presentation(False)

    # -- views ---------------------------------------------------------------------------------

    def _on_view(self, view: FlowLabView | EMLabView) -> None:
        if isinstance(view, EMLabView):
            self._show_em(view)
        else:
            self._show_flow(view)

    def _show_flow(self, view: FlowLabView) -> None:
        self.flow_view = view
        if view.test_nll is not None and (
            not self.test_history or self.test_history[-1][0] != view.test_step
        ):
            self.test_history.append((view.test_step, view.test_nll))
        self._redraw_flow()
        c = self.controls
        test = "–" if view.test_nll is None else f"{view.test_nll:.3f}"
        state = _state(view.paused, view.finished, self.running)
        c.status.setText(
            f"{state}: step {view.step}\ntrain NLL {view.train_nll:.3f}\n"
            f"test NLL {test} nats/point\n{view.steps_per_second:.0f} steps/s"
        )

    def _redraw_flow(self) -> None:
        view = self.flow_view
        if view is None:
            return
        heat = self.heat.currentData()
        image = {"density": view.density, "logdet": view.logdet}.get(heat)
        self.data_view.show_heat(image, view.box, "viridis" if heat == "density" else "CET-D1")
        self.data_view.samples.setData(pos=view.samples)
        self.latent_view.points.show(view.latent_points)
        self.layer_view.show_layer(view)
        self.layer_label.setText(f"Layer {view.layer}: {view.layer_label}")
        self.readout.show_reading(view.jacobian, view.layer_label)
        if not self.curves_timer.isActive():
            self.curves_timer.start()

    def _draw_flow_curves(self) -> None:
        view = self.flow_view
        if view is None:  # the fit was cleared meanwhile
            return
        if len(view.loss_history):
            self.train_curve.setData(view.loss_history[:, 0], view.loss_history[:, 1])
        if self.test_history:
            steps, values = zip(*self.test_history, strict=True)
            self.test_curve.setData(list(steps), list(values))

    def _show_em(self, view: EMLabView) -> None:
        self.em_view = view
        self.em_overlay.show(view, self.highlighted)
        self.weights.show(view.weights, self.highlighted)
        history = np.asarray(view.history, dtype=np.float64)
        self.train_curve.setData(np.arange(len(history)), history)  # iteration 0: the start
        state = _state(view.paused, view.converged, self.running, done_word="converged")
        self.controls.status.setText(
            f"{state}: iteration {view.iteration}\n"
            f"log-likelihood {view.log_likelihood:.3f} nats/point"
        )

    def _show_layer_count(self, count: int) -> None:
        """A new flow: the slider spans its layers and starts at the last (the whole flow)."""
        self.layer_slider.blockSignals(True)
        self.layer_slider.setRange(0, max(0, count - 1))
        self.layer_slider.setValue(count - 1)
        self.layer_slider.blockSignals(False)
        self._on_layer_chosen(self.layer_slider.value())

    def _on_layer_chosen(self, index: int) -> None:
        """Say at once what the layer does; the warped plane follows with the next view."""
        if index < len(self.steps):
            step = self.steps[index]
            self.layer_label.setText(f"Layer {index}: {step.label}")
            self.layer_view.show_roles(step.copied, step.transformed)
        self.runner.set_layer(index)

    def set_cursor(self, x: float, y: float) -> None:
        """Read the Jacobian at (x, y) of the data space."""
        self.cursor_point = (x, y)
        self.data_view.show_cursor(None if self.em else self.cursor_point)
        self.runner.set_cursor(self.cursor_point)

    # -- ancestral sampling --------------------------------------------------------------------

    def pick_and_sample(self) -> None:
        """Animate ancestral sampling from the mixture as it is now."""
        if self.em_view is None:
            self.controls.status.setText("Fit the mixture first (Fit or Step).")
            return
        self.sample_seed += 1
        job = self.runner.call(ancestral_samples, self.em_view, ANCESTRAL_SAMPLES, self.sample_seed)
        job.finished.connect(lambda drawn: self.animation.play(*drawn))

    def _on_component_picked(self, k: int | None) -> None:
        self.highlighted = k
        if self.em_view is not None:
            self.em_overlay.show(self.em_view, k)
            self.weights.show(self.em_view.weights, k)

    # -- presentation and closing --------------------------------------------------------------

    def set_presentation(self, on: bool) -> None:
        """Full screen with everything scaled up for a projector, or back."""
        self.presenting = on
        scale = SCALE if on else 1.0
        central = self.centralWidget()
        assert central is not None  # set in _build_layout
        central.setFont(scaled_font(central.font(), scale))
        self.readout.set_font(scaled_font(self.readout.font(), READOUT_SIZE * scale))
        plots = (self.data_view, self.latent_view, self.layer_view, self.curve_view)
        for plot in (*plots, self.weights.widget):
            scale_plot(plot, scale, central.font())
        self.data_view.points.setSize(4 * scale)
        self.data_view.samples.setSize(3 * scale)
        self.layer_view.grid.setPen(pg.mkPen((120, 120, 160), width=scale))
        for points in (self.latent_view.points, self.layer_view.points):
            points.set_size(4 * scale)
        self.em_overlay.width = 2.0 * scale
        self.em_overlay.samples.setSize(11 * scale)
        self.layer_view.set_label_font(central.font())
        if self.em_view is not None:
            self.em_overlay.show(self.em_view, self.highlighted)
        if on:
            self.showFullScreen()
        else:
            self.showNormal()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.animation.stop()
        self.runner.close()  # its threads end on their own, and the lab process drops the fit
        super().closeEvent(event)


def _state(paused: bool, done: bool, running: bool, done_word: str = "finished") -> str:
    if paused:
        return "paused"
    if done:
        return done_word
    return "fitting" if running else "stopped"


class _Cell(QWidget):
    """A grid cell whose height is the grid's to decide: a word-wrapped label inside would
    otherwise make its row claim the height the label wants at its width."""

    def hasHeightForWidth(self) -> bool:
        return False


def _box(layout: QVBoxLayout) -> QWidget:
    widget = _Cell()
    layout.setContentsMargins(0, 0, 0, 0)
    widget.setLayout(layout)
    return widget
