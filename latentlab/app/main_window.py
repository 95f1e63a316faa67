"""The main window: model info, the map, the current image and the sampling grid."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QGroupBox,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from latentlab.app.attribute_panel import AttributePanel
from latentlab.app.family_panel import FamilyPanel
from latentlab.app.family_panels import FAMILY_PANELS
from latentlab.app.image_view import ImageView
from latentlab.app.info_panel import InfoPanel
from latentlab.app.interpolation_panel import InterpolationPanel
from latentlab.app.jobs import JobRunner
from latentlab.app.map_controls import BY_LABEL, MapControls
from latentlab.app.map_view import MapView
from latentlab.app.menus import build_menus
from latentlab.app.sample_panel import ROWS, SamplePanel
from latentlab.app.worker import ModelWorker, Worker
from latentlab.data.folder import IMAGE_SUFFIXES
from latentlab.explore import ops
from latentlab.explore.attributes import group_direction
from latentlab.explore.export import export_walk, save_model_copy
from latentlab.explore.history import History
from latentlab.explore.interpolate import interpolation_path
from latentlab.explore.plane import LatentPlane, make_plane
from latentlab.explore.session import SESSION_SUFFIX, Session, read_session, write_session
from latentlab.explore.state import ExploreState, default_plane
from latentlab.modelfile import LoadedModel, load_model

__all__ = ["MainWindow"]

CHECKPOINT_MS = 300  # the point resting this long ends an action that undo goes back over
SESSION_FILTER = f"LatentLab sessions (*{SESSION_SUFFIX});;All files (*)"
MODEL_FILTER = "LatentLab models (*.safetensors);;All files (*)"
IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ");;All files (*)"


def _boxed(title: str, widget: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(6, 6, 6, 6)
    layout.addWidget(widget)
    return box


class MainWindow(QMainWindow):
    """Signals (GUI thread): ``modelOpened(path)`` once a model is installed;
    ``openFailed(message)`` when a file could not be opened (the old model stays);
    ``imageDisplayed(seq)`` each time ``imageView`` shows a new decode (``seq`` 0: an image
    that is not the decode of the current point);
    ``samplesDisplayed()`` each time the sampling grid is filled;
    ``imagesEncoded(count)`` when the user's image files were encoded and placed on the map;
    ``stripDisplayed()`` when the interpolation strip shows a new path;
    ``jobEnded(message)`` when a long job (export) finished, failed or was cancelled."""

    modelOpened = Signal(str)
    openFailed = Signal(str)
    imageDisplayed = Signal(int)
    samplesDisplayed = Signal()
    imagesEncoded = Signal(int)
    stripDisplayed = Signal()
    jobEnded = Signal(str)

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
        self.jobs = JobRunner(self, self._next_seq)
        self._sample_latents: np.ndarray | None = None
        self._sample_images: np.ndarray | None = None
        self._decode_ms = 0.0
        self._error_box: QMessageBox | None = None
        self._user: ops.EncodedImages | None = None  # the user's encoded images
        self._user_points = np.zeros((0, 2))  # their markers' positions on the map shown
        self._user_residuals = np.zeros((0, 0))
        self._shown_plane: LatentPlane | None = None  # the plane the map shows
        self._ref_latents: np.ndarray | None = None  # the reference set's latents, float64
        self.history: History | None = None
        self.autosave_path: Path | None = None  # where closing the window saves the session
        self._fallback: Path | None = None  # the model to open if a session cannot be resumed
        self._notice = ""  # said in the status bar once the next model is open
        self._checkpoint_timer = QTimer(self)  # a checkpoint once the point rests
        self._checkpoint_timer.setSingleShot(True)
        self._checkpoint_timer.setInterval(CHECKPOINT_MS)
        self._checkpoint_timer.timeout.connect(self._checkpoint)
        self._endpoints: dict[str, np.ndarray] = {}
        self._strip_seq = 0
        self.family_panel: FamilyPanel | None = None

        self.info_panel = InfoPanel()
        self.map_view = MapView()
        self.map_controls = MapControls()
        self.map_controls.planeChosen.connect(self.choose_plane)
        self.map_controls.colourChosen.connect(self.colour_map_by)
        self.image_view = ImageView()
        self.sample_panel = SamplePanel()
        self.attribute_panel = AttributePanel()
        self.interpolation_panel = InterpolationPanel()
        self.map_view.handleMoved.connect(self._on_handle_moved)
        self.map_view.imagePicked.connect(self._on_image_picked)
        self.map_view.imageDragged.connect(self._on_image_dragged)
        self.attribute_panel.amountChanged.connect(self._on_amount_changed)
        self.attribute_panel.groupsChanged.connect(self._on_groups_changed)
        self.attribute_panel.groupTaken.connect(self.take_group)
        self.attribute_panel.directionRequested.connect(self.add_direction)
        self.attribute_panel.saveRequested.connect(self.save_model_copy)
        self._groups: dict[str, np.ndarray] = {}
        self.interpolation_panel.endpointRequested.connect(self.set_endpoint)
        self.interpolation_panel.pathChanged.connect(self._update_strip)
        self.interpolation_panel.exportRequested.connect(self.export_walk)
        self.interpolation_panel.stepChosen.connect(self._on_step_chosen)
        self.sample_panel.sampleRequested.connect(self.request_samples)
        self.sample_panel.sampleChosen.connect(self._on_sample_chosen)
        self.sample_panel.set_enabled(False)

        self.tabs = QTabWidget()
        self.tabs.addTab(self.sample_panel, "Samples")
        self.tabs.addTab(self.attribute_panel, "Attributes")
        self.tabs.addTab(self.interpolation_panel, "Interpolation")
        right = self._right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(_boxed("Image", self.image_view))
        right.addWidget(self.tabs)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        main = QSplitter(Qt.Orientation.Horizontal)
        self._model_box = _boxed("Model", self.info_panel)
        main.addWidget(self._model_box)
        map_area = QWidget()
        map_layout = QVBoxLayout(map_area)
        map_layout.setContentsMargins(0, 0, 0, 0)
        map_layout.addWidget(self.map_controls)
        map_layout.addWidget(self.map_view, 1)
        self._map_box = _boxed("Map", map_area)
        main.addWidget(self._map_box)
        main.addWidget(right)
        main.setStretchFactor(0, 0)
        main.setStretchFactor(1, 3)
        main.setStretchFactor(2, 2)
        main.setSizes([220, 620, 420])
        self.setCentralWidget(main)
        self.statusBar().setObjectName("statusBar")
        self.presentation_action = build_menus(self)
        self.resize(1280, 760)

    # -- actions -------------------------------------------------------------------------------

    def _checkpoint(self) -> None:
        if self.history is not None:
            self.history.checkpoint()

    def undo(self) -> None:
        """Back to the previous resting place of the current point, plane and sliders."""
        if self.history is None or not self.history.undo():
            self.statusBar().showMessage("Nothing to undo", 3000)

    def redo(self) -> None:
        if self.history is None or not self.history.redo():
            self.statusBar().showMessage("Nothing to redo", 3000)

    def set_presentation(self, on: bool) -> None:
        """Presentation mode, for talks: full screen, text 1.5 times larger, the model panel
        and menu bar hidden, and the keyboard on the map (arrow keys move the point, Space
        samples)."""
        if self.presentation_action.isChecked() != on:
            self.presentation_action.setChecked(on)  # comes back here through toggled
            return
        if on:
            self._normal_sizes = self._right.sizes()
        font = self.font()
        size = QApplication.font().pointSizeF()
        font.setPointSizeF(size * 1.5 if on else size)
        self.centralWidget().setFont(font)
        for name in ("left", "bottom"):
            axis = self.map_view.getPlotItem().getAxis(name)
            axis.setStyle(tickFont=font if on else None)
            axis.label.setFont(font)
        self._model_box.setVisible(not on)
        self.menuBar().setVisible(not on)
        if on:
            total = sum(self._normal_sizes)
            self._right.setSizes([total * 3 // 4, total - total * 3 // 4])  # a large image
            self.showFullScreen()
            self.map_view.setFocus()
        else:
            self._right.setSizes(self._normal_sizes)
            self.showNormal()

    def choose_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images to encode", "", IMAGE_FILTER)
        if paths:
            self.encode_images([Path(p) for p in paths])

    def choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", "", MODEL_FILTER)
        if path:
            self.open_model(path)

    # -- opening models ------------------------------------------------------------------------

    def open_model(self, path: str | Path) -> None:
        """Load ``path`` on the loader thread; the current model stays until it succeeds."""
        self._load_seq += 1
        self._fallback = None
        path = Path(path)
        self.statusBar().showMessage(f"Opening {path.name}…")
        if self.loaded is None:
            self.image_view.set_placeholder(f"Opening {path.name}…")
        self._loader.submit(self._load_seq, lambda: (load_model(path), None))

    def open_session(self, path: str | Path, fallback: Path | None = None) -> None:
        """Read a session file and open its model on the loader thread, then go where the
        session was; if either cannot be read, the current model stays (or, with no model
        open, the ``fallback`` model opens)."""
        self._load_seq += 1
        self._fallback = fallback
        path = Path(path)
        self.statusBar().showMessage(f"Opening session {path.name}…")

        def load() -> tuple[LoadedModel, Session]:
            session = read_session(path)
            return load_model(session.model), session

        self._loader.submit(self._load_seq, load)

    def choose_session(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open session", "", SESSION_FILTER)
        if path:
            self.open_session(path)

    def choose_session_file(self) -> None:
        """Ask where, then save the session."""
        if self.state is None or self.loaded.path is None:
            self.statusBar().showMessage(
                "Nothing to save: open a model with a latent space from a file first", 5000
            )
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save session", f"{self.loaded.name}{SESSION_SUFFIX}", SESSION_FILTER
        )
        if path:
            self.save_session(path)

    def save_session(self, path: str | Path) -> bool:
        """Write the session to ``path``; False (with a message) when it cannot be saved."""
        if self.state is None or self.loaded.path is None:
            return False
        try:
            write_session(path, Session.of(self.loaded.path, self.state, self._endpoints))
        except OSError as exc:
            self.show_error("Cannot save the session", f"{Path(path).name}: {exc.strerror or exc}")
            return False
        self.statusBar().showMessage(f"Saved session {Path(path).name}", 5000)
        return True

    def _on_loaded(self, seq: int, result: tuple[LoadedModel, Session | None]) -> None:
        if seq != self._load_seq:
            return
        loaded, session = result
        self._install(loaded)
        if session is not None:
            self._resume(session)

    def _resume(self, session: Session) -> None:
        """Go where ``session`` was in the model just opened."""
        if self.state is None:
            self.show_error("Cannot resume the session", "this model has no latent space")
            return
        try:
            session.check_fits(self.loaded.model.latent_dim, list(self.state.directions))
        except ValueError as exc:
            self.show_error("Cannot resume the session", f"{exc}; the model is open as it starts")
            return
        self.state.restore(session.snapshot)
        self.history = History(self.state)
        if session.endpoints:
            names = sorted(session.endpoints)
            latents = np.stack([session.endpoints[k] for k in names])
            self.submit_job(
                ops.decode,
                latents,
                done=lambda images: self._resume_endpoints(names, latents, images),
            )
        self.statusBar().showMessage(f"Resumed the session in {self.loaded.name}", 5000)

    def _resume_endpoints(self, names: list[str], latents: np.ndarray, images: np.ndarray) -> None:
        for name, z, image in zip(names, latents, images, strict=True):
            self._endpoints[name] = z
            self.interpolation_panel.set_endpoint(name, image)
        self._update_strip()

    def _on_load_failed(self, seq: int, message: str) -> None:
        if seq != self._load_seq:
            return
        if self.loaded is None and self._fallback is not None:
            fallback = self._fallback
            self.open_model(fallback)
            self._notice = f"Could not resume the last session ({message}); opened {fallback.stem}"
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
        self._error_box = QMessageBox(
            QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self
        )
        self._error_box.setObjectName("errorBox")
        self._error_box.open()

    def _install(self, loaded: LoadedModel) -> None:
        """Make ``loaded`` the open model: a new worker, fresh explore state and views."""
        model = loaded.model
        if self.worker is not None:
            self.worker.shutdown()
            self.worker.deleteLater()
        self.loaded = loaded
        self._sample_latents = None
        self.worker = ModelWorker(loaded)
        self.worker.decoded.connect(self._on_decoded)
        self.jobs.attach(self.worker)
        self._user = None
        self.history = None
        self._endpoints.clear()
        self._groups.clear()
        self.interpolation_panel.set_strip(None)
        for which in "AB":
            self.interpolation_panel.set_endpoint(which, None)
            self.attribute_panel.set_group_size(which, 0)
        has_latent = model.latent_dim is not None
        self._map_box.setVisible(has_latent)
        for panel in (self.attribute_panel, self.interpolation_panel):
            self.tabs.setTabEnabled(self.tabs.indexOf(panel), has_latent)
        self.state = None
        self.image_view.set_image(None)
        if has_latent:
            self._install_latent(loaded)
        else:
            self.image_view.set_placeholder(
                "This model has no latent space to explore: click a sample"
            )
        self._install_family_panel(loaded)
        self.info_panel.show_model(loaded)
        self.setWindowTitle(f"LatentLab — {loaded.name}")
        self.sample_panel.set_enabled("sample" in model.capabilities)
        self.sample_panel.set_temperature(model.default_temperature)
        if has_latent:
            self.state.move_to(*self.map_view.view_centre())
            self.history = History(self.state)  # from where the model opens
        self.request_samples(self.sample_panel.temperature_value, self.sample_panel.seed.value())
        self.statusBar().showMessage(
            self._notice or f"Opened {loaded.name}", 10_000 if self._notice else 3000
        )
        self._notice = ""
        self.modelOpened.emit(str(loaded.path))

    def _install_latent(self, loaded: LoadedModel) -> None:
        """The plane, explore state, map and attribute sliders of a latent model."""
        model = loaded.model
        ref = loaded.reference
        self._ref_latents = ref_latents = None if ref is None else ref.latents.double().numpy()
        plane = default_plane(model.latent_dim, ref_latents)
        directions = {k: v.double().numpy() for k, v in loaded.attributes.items()}
        self.state = ExploreState(plane, directions)
        self.state.point_changed.connect(self._on_point_changed)
        self.state.plane_changed.connect(self._show_plane)
        self.state.amounts_changed.connect(self.attribute_panel.set_amounts)
        self.attribute_panel.set_directions(
            sorted(directions), [name for name, _ in model.latent_groups()]
        )
        colourings = [BY_LABEL] + ([] if ref is None else sorted(ref.attributes))
        self.map_controls.reset(
            model.latent_dim, sorted(directions), ref_latents is not None, plane.kind, colourings
        )
        self.map_view.colour_by(None)
        self._shown_plane = plane
        self._show_plane(plane)

    def choose_plane(self, kind: str, x: str = "", y: str = "") -> None:
        """Show the map on another plane (``make_plane``'s kinds), keeping the current image."""
        if self.state is None:
            return
        try:
            plane = make_plane(
                kind,
                x,
                y,
                current=self.state.base_latent,
                reference=self._ref_latents,
                directions=self.state.directions,
                images=self._user_latents(),
            )
        except ValueError as exc:
            self.statusBar().showMessage(f"Cannot show that plane: {exc}", 8000)
            return
        self.history.checkpoint()
        self.state.set_plane(plane)  # the map follows through plane_changed
        self.history.checkpoint()
        self.statusBar().showMessage(f"Map: {plane.name}", 5000)

    def colour_map_by(self, name: str) -> None:
        """Colour the reference points by their labels (``BY_LABEL``) or by the values of the
        attribute ``name`` that the reference images were drawn with."""
        ref = self.loaded.reference if self.loaded is not None else None
        if ref is None or name not in ref.attributes:
            self.map_view.colour_by(None)
            self.map_controls.show_key(None)
            return
        self.map_controls.show_key(self.map_view.colour_by(ref.attributes[name].numpy()))

    def _user_latents(self) -> np.ndarray:
        """Where the user's images are now (dragging a marker moves its latent)."""
        if self._user is None:
            return np.zeros((0, self._shown_plane.dim))
        return self._shown_plane.lift(self._user_points, self._user_residuals)

    def _show_plane(self, plane: LatentPlane) -> None:
        """Show the map on ``plane``: the reference set and the user's images projected."""
        user_latents = self._user_latents()
        self._shown_plane = plane
        ref = self.loaded.reference
        if ref is not None:
            points = plane.project(self._ref_latents)[0]
            labels = None if ref.labels is None else ref.labels.numpy()
            self.map_view.set_reference(
                points,
                labels,
                ref.images.numpy(),
                self.loaded.meta["dataset"].get("label_names", []),
            )
        else:
            self.map_view.set_reference(np.zeros((0, 2)), None, None, [])
        self._user_points, self._user_residuals = plane.project(user_latents)
        if self._user is not None:
            self.map_view.set_user_images(self._user_points, self._user.images)
        else:
            self.map_view.set_user_images(
                np.zeros((0, 2)), np.zeros((0, *self.loaded.model.image_shape))
            )
        self.map_view.set_axes_labels(*plane.axis_labels)
        self.map_view.set_handle(*self.state.point)
        if plane.kind:
            self.map_controls.show_kind(plane.kind)

    def _install_family_panel(self, loaded: LoadedModel) -> None:
        """Show the panel of the model's own family (if it has one) as the first tab."""
        panel_class = FAMILY_PANELS.get(loaded.model.family)
        if self.family_panel is not None and type(self.family_panel) is not panel_class:
            self.tabs.removeTab(self.tabs.indexOf(self.family_panel))
            self.family_panel.deleteLater()
            self.family_panel = None
        if panel_class is None:
            self.tabs.setCurrentWidget(self.sample_panel)
            return
        if self.family_panel is None:
            self.family_panel = panel_class(self)
            self.tabs.insertTab(0, self.family_panel, panel_class.title)
        self.family_panel.show_model(loaded)
        self.tabs.setCurrentWidget(self.family_panel)

    def install_model(self, loaded: LoadedModel, message: str) -> None:
        """Make a model built in the app (not read from a file) the open one."""
        self._load_seq += 1  # a file still loading must not replace it
        self._install(loaded)
        self.statusBar().showMessage(message, 8000)

    def show_status(self, message: str, milliseconds: int = 0) -> None:
        self.statusBar().showMessage(message, milliseconds)

    def show_image(self, image: np.ndarray) -> None:
        """Show ``image`` (C,H,W in [0, 1]) in ``imageView``, e.g. a family panel's result or a
        sample of a model without a latent."""
        self.image_view.set_image(image)
        self.imageDisplayed.emit(0)

    def current_image(self) -> np.ndarray | None:
        """The image ``imageView`` shows (C,H,W in [0, 1]), or None."""
        return self.image_view.image()

    def set_latent(self, z: np.ndarray) -> None:
        """Make flat latent ``z`` the current point (it is decoded and shown)."""
        if self.state is not None:
            self._checkpoint()  # a jump is an action of its own: undo comes back here
            self.state.set_latent(z)

    # -- the current point ---------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _on_handle_moved(self, a: float, b: float) -> None:
        if self.state is not None:
            self.state.move_to(a, b)

    def _on_point_changed(self, z: np.ndarray) -> None:
        self._checkpoint_timer.start()
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
            f"{self.loaded.name}   point ({a:+.2f}, {b:+.2f})   decode {self._decode_ms:.1f} ms"
        )
        self.imageDisplayed.emit(seq)

    # -- sampling ------------------------------------------------------------------------------

    def request_samples(self, temperature: float, seed: int) -> None:
        if self.worker is None or "sample" not in self.loaded.model.capabilities:
            return
        seq = self.submit_job(
            ops.sample,
            ROWS * ROWS,
            temperature,
            seed,
            done=lambda result: self._on_sampled(seq, result),
        )
        self._sample_seq = seq

    def _on_sampled(self, seq: int, result: tuple[np.ndarray | None, np.ndarray]) -> None:
        if seq != self._sample_seq:
            return  # a newer request is on its way
        latents, images = result
        self._sample_latents = latents
        self._sample_images = images
        self.sample_panel.set_samples(images, clickable=True)
        if self.state is None and self.image_view.image() is None:
            self.show_image(images[0])
        self.samplesDisplayed.emit()

    def _on_sample_chosen(self, index: int) -> None:
        if self.state is not None and self._sample_latents is not None:
            self.set_latent(self._sample_latents[index])
        elif self._sample_images is not None:
            self.show_image(self._sample_images[index])

    # -- jobs on the model worker (see JobRunner) ------------------------------------------------

    def submit_job(self, job: Callable[..., Any], *args: Any, **callbacks: Any) -> int:
        """Run ``job(model, *args)`` on the model worker: :meth:`JobRunner.submit`."""
        return self.jobs.submit(job, *args, **callbacks)

    def cancel_job(self, seq: int) -> None:
        self.jobs.cancel(seq)

    def run_long_job(
        self, title: str, done: Callable[[Any], None], job: Callable[..., Any], *args: Any
    ) -> int:
        """Run a generator job behind a progress dialog: :meth:`JobRunner.run_long`."""
        return self.jobs.run_long(title, done, job, *args)

    # -- the user's images ---------------------------------------------------------------------

    def encode_images(self, paths: list[Path]) -> None:
        """Read, convert and encode image files on the worker; place them on the map."""
        if self.worker is None or "encode" not in self.loaded.model.capabilities:
            self.show_error("Cannot encode images", "This model cannot encode images.")
            return
        self.run_long_job(
            f"Encoding {len(paths)} image(s)…", self._on_encoded, ops.encode_files, paths
        )

    def _on_encoded(self, encoded: ops.EncodedImages) -> None:
        if encoded.errors:
            self.show_error("Some images could not be read", "\n".join(encoded.errors))
        if len(encoded.latents) == 0:
            return
        points, residuals = self.state.plane.project(encoded.latents)
        if self._user is not None:  # add to the images already on the map
            encoded = ops.EncodedImages(
                self._user.names + encoded.names,
                np.concatenate([self._user.images, encoded.images]),
                np.concatenate([self._user.latents, encoded.latents]),
                encoded.notices,
            )
            points = np.concatenate([self._user_points, points])
            residuals = np.concatenate([self._user_residuals, residuals])
        self._user, self._user_points, self._user_residuals = encoded, points, residuals
        self.map_view.set_user_images(points, encoded.images)
        self.map_controls.set_image_count(len(encoded.names))
        self.set_latent(encoded.latents[-1])
        notice = "; ".join(encoded.notices[:3]) + (" …" if len(encoded.notices) > 3 else "")
        self.statusBar().showMessage(f"Encoded {len(encoded.names)} image(s). {notice}", 8000)
        self.imagesEncoded.emit(len(encoded.names))

    def _on_image_picked(self, index: int) -> None:
        self.set_latent(
            self.state.plane.lift(self._user_points[index], self._user_residuals[index][None])[0]
        )

    def _on_image_dragged(self, index: int, a: float, b: float) -> None:
        self._user_points[index] = (a, b)
        self.state.move_to(a, b)

    # -- attributes ----------------------------------------------------------------------------

    def _on_amount_changed(self, name: str, amount: float) -> None:
        if self.state is not None:
            self.state.set_amount(name, amount)

    def _on_groups_changed(self, flags: list[bool]) -> None:
        sizes = [size for _, size in self.loaded.model.latent_groups()]
        self.state.set_edit_mask(np.repeat(np.array(flags, dtype=bool), sizes))

    def take_group(self, which: str) -> None:
        """Take the reference points selected on the map as group ``which`` ("A" or "B")."""
        self._groups[which] = np.array(sorted(self.map_view.selected), dtype=int)
        self.attribute_panel.set_group_size(which, len(self._groups[which]))
        self.map_view.clear_selection()

    def add_direction(self, name: str) -> None:
        """Add the direction from group A's mean latent to group B's as attribute ``name``."""
        groups = [self._groups.get(w, np.zeros(0, dtype=int)) for w in "AB"]
        if not name or self.loaded.reference is None:
            self.show_error("Cannot add the direction", "Give the direction a name.")
            return
        try:
            latents = self._ref_latents
            direction = group_direction(latents[groups[0]], latents[groups[1]])
        except ValueError as exc:
            self.show_error(
                "Cannot add the direction",
                f"{exc} (select points on the map, then take them as groups A and B)",
            )
            return
        self.state.add_direction(name, direction)
        self.attribute_panel.set_directions(
            sorted(self.state.directions), [g for g, _ in self.loaded.model.latent_groups()]
        )
        self.map_controls.set_attributes(sorted(self.state.directions))
        self.statusBar().showMessage(f"Added direction '{name}'", 5000)

    def save_model_copy(self) -> None:
        """Ask where, then write the open model with the directions it has now."""
        if self.loaded is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save model as", f"{self.loaded.name}-copy.safetensors", MODEL_FILTER
        )
        if not path:
            return
        directions = {} if self.state is None else dict(self.state.directions)
        self.submit_job(
            save_model_copy,
            self.loaded,
            Path(path),
            directions,
            done=self._on_exported,
            watched=True,
        )

    # -- interpolation -------------------------------------------------------------------------

    def set_endpoint(self, which: str) -> None:
        """Take the current latent as endpoint ``which`` ("A" or "B") of the walk."""
        if self.state is None:
            return
        self._endpoints[which] = self.state.latent.copy()
        self.interpolation_panel.set_endpoint(which, self.image_view.image())
        self._update_strip()

    def _walk(self, steps: int) -> np.ndarray:
        return interpolation_path(
            self._endpoints["A"],
            self._endpoints["B"],
            steps,
            spherical=self.interpolation_panel.spherical.isChecked(),
        )

    def _update_strip(self) -> None:
        if len(self._endpoints) < 2 or self.worker is None:
            return
        seq = self.submit_job(
            ops.decode,
            self._walk(self.interpolation_panel.steps.value()),
            done=lambda images: self._on_strip(seq, images),
        )
        self._strip_seq = seq

    def _on_step_chosen(self, index: int) -> None:
        if len(self._endpoints) == 2 and self.state is not None:
            self.set_latent(self._walk(self.interpolation_panel.steps.value())[index])

    def _on_strip(self, seq: int, images: np.ndarray) -> None:
        if seq == self._strip_seq:
            self.interpolation_panel.set_strip(images)
            self.stripDisplayed.emit()

    def export_walk(self, kind: str) -> None:
        """Ask where, then decode and save the walk as a PNG strip or GIF, with progress."""
        if len(self._endpoints) < 2:
            self.statusBar().showMessage("Pick endpoints A and B first (Interpolation tab)", 5000)
            return
        suffix = "GIF animations (*.gif)" if kind == "gif" else "PNG images (*.png)"
        path, _ = QFileDialog.getSaveFileName(self, "Export interpolation", f"walk.{kind}", suffix)
        if not path:
            return
        path = Path(path)
        if path.suffix.lower() not in (".png", ".gif"):
            path = path.with_suffix(f".{kind}")
        self.run_long_job(
            f"Exporting {path.name}…",
            self._on_exported,
            export_walk,
            self._walk(self.interpolation_panel.steps.value()),
            path,
        )

    def _on_exported(self, written: str) -> None:
        self.statusBar().showMessage(f"Wrote {written}", 8000)
        self.jobEnded.emit(written)

    # -- drag and drop, closing ----------------------------------------------------------------

    @staticmethod
    def _dropped_files(event: QDragEnterEvent | QDropEvent) -> tuple[str | None, list[Path]]:
        """A dropped model file (if any) and dropped image files."""
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        models = [p for p in paths if p.suffix == ".safetensors"]
        images = [p for p in paths if p.suffix.lower() in IMAGE_SUFFIXES]
        return (str(models[0]) if models else None), images

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        model, images = self._dropped_files(event)
        if model or images:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        model, images = self._dropped_files(event)
        if model:
            event.acceptProposedAction()
            self.open_model(model)
        elif images:
            event.acceptProposedAction()
            self.encode_images(images)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.autosave_path is not None:
            self.save_session(self.autosave_path)
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the worker threads (idempotent)."""
        self._loader.shutdown()
        if self.worker is not None:
            self.worker.shutdown()
