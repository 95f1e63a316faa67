"""The main window: model info, the map, the current image and the sampling grid."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from latentlab.app.image_view import ImageView
from latentlab.app.info_panel import InfoPanel
from latentlab.app.map_view import MapView
from latentlab.app.sample_panel import ROWS, SamplePanel
from latentlab.app.worker import ModelWorker, Worker
from latentlab.explore import ops
from latentlab.explore.state import ExploreState, default_plane
from latentlab.modelfile import LoadedModel, load_model

__all__ = ["MainWindow"]

MODEL_FILTER = "LatentLab models (*.safetensors);;All files (*)"


def _boxed(title: str, widget: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(6, 6, 6, 6)
    layout.addWidget(widget)
    return box


class MainWindow(QMainWindow):
    """Signals (GUI thread): ``modelOpened(path)`` once a model is installed;
    ``openFailed(message)`` when a file could not be opened (the old model stays);
    ``imageDisplayed(seq)`` each time ``imageView`` shows a new decode;
    ``samplesDisplayed()`` each time the sampling grid is filled."""

    modelOpened = Signal(str)
    openFailed = Signal(str)
    imageDisplayed = Signal(int)
    samplesDisplayed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("LatentLab")
        self.setAcceptDrops(True)
        self.loaded: LoadedModel | None = None
        self.state: ExploreState | None = None
        self.worker: ModelWorker | None = None
        self._loader = Worker("model loader")
        self._loader.finished.connect(self._on_loaded)
        self._loader.failed.connect(self._on_load_failed)
        self._seq = 0
        self._load_seq = 0
        self._sample_seq = 0
        self._shown_seq = 0
        self._jobs: dict[int, Callable[[int, Any], None]] = {}
        self._sample_latents: np.ndarray | None = None
        self._decode_ms = 0.0
        self._error_box: QMessageBox | None = None

        self.info_panel = InfoPanel()
        self.map_view = MapView()
        self.image_view = ImageView()
        self.sample_panel = SamplePanel()
        self.map_view.handleMoved.connect(self._on_handle_moved)
        self.sample_panel.sampleRequested.connect(self.request_samples)
        self.sample_panel.sampleChosen.connect(self._on_sample_chosen)
        self.sample_panel.set_enabled(False)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(_boxed("Image", self.image_view))
        right.addWidget(_boxed("Samples", self.sample_panel))
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(_boxed("Model", self.info_panel))
        main.addWidget(_boxed("Map", self.map_view))
        main.addWidget(right)
        main.setStretchFactor(0, 0)
        main.setStretchFactor(1, 3)
        main.setStretchFactor(2, 2)
        main.setSizes([220, 620, 420])
        self.setCentralWidget(main)
        self.statusBar().setObjectName("statusBar")
        self._build_actions()
        self.resize(1280, 760)

    # -- actions -------------------------------------------------------------------------------

    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = QAction("&Open model…", self)
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.setStatusTip("Open a LatentLab model file (.safetensors)")
        open_action.triggered.connect(self.choose_model)
        file_menu.addAction(open_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        sample_menu = self.menuBar().addMenu("&Sample")
        resample = QAction("&New samples", self)
        resample.setShortcut(Qt.Key.Key_Space)
        resample.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        resample.triggered.connect(self.sample_panel.resample)
        sample_menu.addAction(resample)
        self.addAction(resample)
        QShortcut(QKeySequence("Ctrl+W"), self, activated=self.close)

    def choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", "", MODEL_FILTER)
        if path:
            self.open_model(path)

    # -- opening models ------------------------------------------------------------------------

    def open_model(self, path: str | Path) -> None:
        """Load ``path`` on the loader thread; the current model stays until it succeeds."""
        self._load_seq += 1
        path = Path(path)
        self.statusBar().showMessage(f"Opening {path.name}…")
        if self.loaded is None:
            self.image_view.set_placeholder(f"Opening {path.name}…")
        self._loader.submit(self._load_seq, lambda: load_model(path))

    def _on_loaded(self, seq: int, loaded: LoadedModel) -> None:
        if seq == self._load_seq:
            self._install(loaded)

    def _on_load_failed(self, seq: int, message: str) -> None:
        if seq != self._load_seq:
            return
        self.statusBar().showMessage(f"Could not open model: {message}")
        if self.loaded is None:
            self.image_view.set_placeholder("No model open: File ▸ Open model… (Ctrl+O)")
        self.show_error("Cannot open model", message)
        self.openFailed.emit(message)

    def show_error(self, title: str, message: str) -> None:
        """A non-blocking warning dialog (one at a time)."""
        if self._error_box is not None:
            self._error_box.close()
        self._error_box = QMessageBox(QMessageBox.Icon.Warning, title, message,
                                      QMessageBox.StandardButton.Ok, self)
        self._error_box.setObjectName("errorBox")
        self._error_box.open()

    def _install(self, loaded: LoadedModel) -> None:
        model = loaded.model
        if model.latent_dim is None:
            self.show_error("Cannot open model", f"{loaded.name}: this view needs a latent model")
            return
        if self.worker is not None:
            self.worker.shutdown()
            self.worker.deleteLater()
        self.loaded = loaded
        self._jobs.clear()
        self._sample_latents = None
        self.worker = ModelWorker(loaded)
        self.worker.decoded.connect(self._on_decoded)
        self.worker.finished.connect(self._on_job_finished)
        self.worker.failed.connect(self._on_job_failed)

        ref = loaded.reference
        ref_latents = None if ref is None else ref.latents.double().numpy()
        plane = default_plane(model.latent_dim, ref_latents)
        self.state = ExploreState(plane)
        self.state.point_changed.connect(self._on_point_changed)
        if ref is not None:
            points = plane.project(ref_latents)[0]
            labels = None if ref.labels is None else ref.labels.numpy()
            self.map_view.set_reference(points, labels, ref.images.numpy(),
                                        loaded.meta["dataset"].get("label_names", []))
        else:
            self.map_view.set_reference(np.zeros((0, 2)), None, None, [])
        axis = "z" if plane.name.startswith("latent axes") else "PC"
        self.map_view.set_axes_labels(f"{axis}1", f"{axis}2")
        self.info_panel.show_model(loaded)
        self.setWindowTitle(f"LatentLab — {loaded.name}")
        self.sample_panel.set_enabled("sample" in model.capabilities)
        self.state.move_to(*self.map_view.view_centre())
        self.request_samples(self.sample_panel.temperature_value, self.sample_panel.seed.value())
        self.statusBar().showMessage(f"Opened {loaded.name}", 3000)
        self.modelOpened.emit(str(loaded.path))

    # -- the current point ---------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _on_handle_moved(self, a: float, b: float) -> None:
        if self.state is not None:
            self.state.move_to(a, b)

    def _on_point_changed(self, z: np.ndarray) -> None:
        self.map_view.set_handle(*self.state.point)
        self.worker.request_decode(self._next_seq(), z)

    def _on_decoded(self, seq: int, image: np.ndarray, seconds: float) -> None:
        if seq <= self._shown_seq:
            return
        self._shown_seq = seq
        self._decode_ms = seconds * 1000
        self.image_view.set_image(image)
        a, b = self.state.point
        self.statusBar().showMessage(
            f"{self.loaded.name}   point ({a:+.2f}, {b:+.2f})   decode {self._decode_ms:.1f} ms")
        self.imageDisplayed.emit(seq)

    # -- sampling ------------------------------------------------------------------------------

    def request_samples(self, temperature: float, seed: int) -> None:
        if self.worker is None or "sample" not in self.loaded.model.capabilities:
            return
        seq = self._next_seq()
        self._sample_seq = seq
        self._jobs[seq] = self._on_sampled
        self.worker.submit_model_job(seq, ops.sample, ROWS * ROWS, temperature, seed)

    def _on_sampled(self, seq: int, result: tuple[np.ndarray | None, np.ndarray]) -> None:
        if seq != self._sample_seq:
            return  # a newer request is on its way
        latents, images = result
        self._sample_latents = latents
        self.sample_panel.set_samples(images, clickable=latents is not None)
        self.samplesDisplayed.emit()

    def _on_sample_chosen(self, index: int) -> None:
        if self._sample_latents is not None and self.state is not None:
            self.state.set_latent(self._sample_latents[index])

    # -- job results ---------------------------------------------------------------------------

    def _on_job_finished(self, seq: int, result: Any) -> None:
        handler = self._jobs.pop(seq, None)
        if handler is not None:
            handler(seq, result)

    def _on_job_failed(self, seq: int, message: str) -> None:
        self._jobs.pop(seq, None)
        self.statusBar().showMessage(f"Error: {message}")

    # -- drag and drop, closing ----------------------------------------------------------------

    @staticmethod
    def _dropped_model(event: QDragEnterEvent | QDropEvent) -> str | None:
        for url in event.mimeData().urls():
            if url.isLocalFile() and url.toLocalFile().endswith(".safetensors"):
                return url.toLocalFile()
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped_model(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = self._dropped_model(event)
        if path:
            event.acceptProposedAction()
            self.open_model(path)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the worker threads (idempotent)."""
        self._loader.shutdown()
        if self.worker is not None:
            self.worker.shutdown()
