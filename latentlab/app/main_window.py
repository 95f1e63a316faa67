"""The main window: layout and wiring.

What the user is doing lives in the headless :class:`~latentlab.explore.explorer.Explorer`
(``window.explorer``). The window passes the views' input to it (``_on_view_*`` and the slots the
views connect to), shows its changes (``_on_model_*``), and runs model work on the model worker
through job handles (:mod:`latentlab.app.jobs`).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from latentlab.app.attribute_panel import AttributePanel
from latentlab.app.attribute_wiring import AttributeWiring
from latentlab.app.family_panel import FamilyPanel
from latentlab.app.family_panels import show_family_panel
from latentlab.app.file_wiring import FileWiring
from latentlab.app.image_view import ImageView
from latentlab.app.info_panel import InfoPanel
from latentlab.app.interpolation_panel import InterpolationPanel
from latentlab.app.interpolation_wiring import InterpolationWiring
from latentlab.app.jobs import Job, JobRunner, show_progress
from latentlab.app.map_controls import MapControls
from latentlab.app.map_wiring import MapWiring
from latentlab.app.menus import build_menus
from latentlab.app.model_loader import ModelLoader
from latentlab.app.notices import NoticeBar
from latentlab.app.placeholder import ViewSlot
from latentlab.app.presentation import Presentation
from latentlab.app.sample_panel import SamplePanel
from latentlab.app.sample_wiring import SampleWiring
from latentlab.app.turns import TurnQueue
from latentlab.app.worker import ModelWorker
from latentlab.errors import MAX_MESSAGE
from latentlab.explore.explorer import Explorer, OpenedModel
from latentlab.explore.plane import framing
from latentlab.explore.preview import LinearPreview, along_axes
from latentlab.explore.session import Session, SessionError
from latentlab.untrusted import shorten

if TYPE_CHECKING:  # this module imports no model code, nor pyqtgraph: the window shows first
    from latentlab.app.map_view import MapView
    from latentlab.modelfile import LoadedModel

__all__ = ["MainWindow"]

CHECKPOINT_MS = 300  # the point resting this long ends an action that undo goes back over
FIRST_PAINT_WAIT_MS = 1000  # the longest a file waits to open for the window's first paint
MAP_MODULE = "latentlab.app.map_view"  # pyqtgraph's first importer, imported on a thread
IMPORT_POLL_MS = 20  # how often the GUI thread looks whether that import has ended


def _boxed(title: str, widget: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(6, 6, 6, 6)
    layout.addWidget(widget)
    return box


class MainWindow(QMainWindow):
    """Signals (GUI thread): ``modelOpened(path)`` once a model is installed (and a session
    resumed in it); ``openFailed(message)`` when a file could not be opened (the old model stays);
    ``imageDisplayed(seq)`` each time ``imageView`` shows a new decode (``seq`` 0: an image that
    is not the decode of the current point); ``previewDisplayed(seq)`` each time it shows a
    linear preview of a slow model's decode while the point moves
    (:mod:`latentlab.explore.preview`); ``samplesDisplayed()`` each time the sampling grid
    is filled; ``imagesEncoded(count)`` when the user's image files were encoded and placed on
    the map; ``stripDisplayed()`` when the interpolation strip shows a new path;
    ``jobEnded(message)`` when a long job (export) finished, failed or was cancelled."""

    modelOpened = Signal(str)
    openFailed = Signal(str)
    imageDisplayed = Signal(int)
    previewDisplayed = Signal(int)
    samplesDisplayed = Signal()
    imagesEncoded = Signal(int)
    stripDisplayed = Signal()
    jobEnded = Signal(str)

    def __init__(self, device: str = "auto") -> None:
        super().__init__()
        self.device = device  # the --device choice: each model worker moves its model there
        self.setWindowTitle("LatentLab")
        self.setAcceptDrops(True)
        self.explorer = Explorer()
        self.worker: ModelWorker | None = None
        self.jobs = JobRunner(self)
        self.turns = TurnQueue(self)  # the steps of opening a model, one per turn
        self.jobs.failed.connect(self._on_job_failed)
        self.jobs.cancelled.connect(self._on_job_cancelled)
        self.loader = ModelLoader(self)
        self.loader.opened.connect(self._install)
        self.loader.failed.connect(self._on_open_failed)
        self.requested_seq = 0  # the newest decode asked of the worker
        self.shown_seq = 0  # the decode imageView shows
        self.previewed_seq = 0  # the request whose preview imageView shows, if newer
        self.preview: LinearPreview | None = None  # at the last decode, for a slow model
        self._last_requested: np.ndarray | None = None  # the latent of the newest decode asked
        self.autosave_path: Path | None = None  # where closing the window saves the session
        self.family_panel: FamilyPanel | None = None
        self._kept_panels: dict[type[FamilyPanel], FamilyPanel] = {}  # one per family's panel
        self._error_box: QMessageBox | None = None
        self._checkpoint_timer = QTimer(self)  # a checkpoint once the point rests
        self._checkpoint_timer.setSingleShot(True)
        self._checkpoint_timer.setInterval(CHECKPOINT_MS)
        self._checkpoint_timer.timeout.connect(self.explorer.checkpoint)
        self._build_views()
        self._connect_views()
        self.explorer.model_changed.connect(self._on_model_opened)
        self.explorer.point_changed.connect(self._on_model_point_changed)
        self.statusBar().setObjectName("statusBar")
        self.notices = NoticeBar()  # on the right; the live figures keep the left
        self.statusBar().addPermanentWidget(self.notices)
        self.device_label = QLabel("device: …")  # the open model's, once its worker placed it
        self.device_label.setObjectName("deviceLabel")
        self.statusBar().addPermanentWidget(self.device_label)
        self.presentation_action = build_menus(self)
        self.resize(1280, 760)

    def _build_views(self) -> None:
        self.info_panel, self.image_view = InfoPanel(), ImageView()
        self.map_controls = MapControls()
        # The map (pyqtgraph, 0.5-0.7 s to import) is built once the window is on screen
        self._map_view: MapView | None = None
        self._map_slot = ViewSlot("mapSlot")
        self._map_slot.firstPainted.connect(self._on_first_paint)
        self._map_import: threading.Thread | None = None  # of MAP_MODULE, after the first paint
        self._map_import_poll = QTimer(self)
        self._map_import_poll.setInterval(IMPORT_POLL_MS)
        self._map_import_poll.timeout.connect(self._build_map_once_imported)
        self._waiting_loads: list[Callable[[], None]] = []  # files to open once it is painted
        self.sample_panel, self.attribute_panel = SamplePanel(), AttributePanel()
        self.interpolation_panel = InterpolationPanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.sample_panel, "Samples")
        self.tabs.addTab(self.attribute_panel, "Attributes")
        self.tabs.addTab(self.interpolation_panel, "Interpolation")
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(_boxed("Image", self.image_view))
        right.addWidget(self.tabs)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        map_area = QWidget()
        map_layout = QVBoxLayout(map_area)
        map_layout.setContentsMargins(0, 0, 0, 0)
        map_layout.addWidget(self.map_controls)
        map_layout.addWidget(self._map_slot, 1)
        self._map_layout = map_layout
        self.model_box = _boxed("Model", self.info_panel)
        self.map_box = _boxed("Map", map_area)
        main = QSplitter(Qt.Orientation.Horizontal)
        for i, (widget, stretch) in enumerate(((self.model_box, 0), (self.map_box, 3), (right, 2))):
            main.addWidget(widget)
            main.setStretchFactor(i, stretch)
        main.setSizes([220, 580, 460])
        self.setCentralWidget(main)
        self.presentation = Presentation(self, right, self._map_slot, [self.model_box])

    @property
    def map_view(self) -> MapView:
        """The map; built now if the window has not been painted yet."""
        if self._map_view is None:
            self._build_map()
        assert self._map_view is not None
        return self._map_view

    def _build_map(self) -> None:
        """Put the map where its slot stood (once): with what the slot said, and its wiring."""
        if self._map_view is not None:
            return
        from latentlab.app.map_view import MapView  # at once if the thread imported it

        view = self._map_view = MapView()
        view.set_placeholder(self._map_slot.placeholder.text())
        self._map_layout.replaceWidget(self._map_slot, view)
        view.show()  # with the window, if it is not yet on screen
        self._map_slot.hide()
        self._map_slot.deleteLater()
        self.presentation.show_map(view)
        self.map.attach(view)
        self._start_waiting_loads()  # the slot, gone, will not be painted

    def _set_map_placeholder(self, text: str) -> None:
        if self._map_view is None:
            self._map_slot.placeholder.setText(text)
        else:
            self._map_view.set_placeholder(text)

    def _connect_views(self) -> None:
        self.map = MapWiring(self)
        self.attributes = AttributeWiring(self)
        self.interpolation = InterpolationWiring(self)
        self.files = FileWiring(self)
        self.map.imagesEncoded.connect(self.imagesEncoded)
        self.interpolation.stripDisplayed.connect(self.stripDisplayed)
        self.samples = SampleWiring(self)
        self.samples.samplesDisplayed.connect(self.samplesDisplayed)

    # -- telling and asking the user -------------------------------------------------------------

    def ask_save(self, title: str, name: str, kinds: str) -> str:
        return QFileDialog.getSaveFileName(self, title, name, kinds)[0]

    def notify(self, text: str) -> None:
        """A notice the user should read: kept in the status bar until read (the live figures
        there never replace it), and in the list of messages."""
        self.notices.notify(text)

    def show_error(self, title: str, message: str) -> None:
        """A non-blocking warning dialog, one at a time: a new error replaces the one shown."""
        message = shorten(message, MAX_MESSAGE)
        if self._error_box is None:
            self._error_box = QMessageBox(self)
            self._error_box.setObjectName("errorBox")
            self._error_box.setIcon(QMessageBox.Icon.Warning)
        self._error_box.close()
        self._error_box.setWindowTitle(title)
        self._error_box.setText(message)
        self._error_box.open()

    def show_status(self, message: str, milliseconds: int = 0) -> None:
        self.statusBar().showMessage(message, milliseconds)

    # -- opening models and sessions -------------------------------------------------------------

    def open_model(self, path: str | Path) -> None:
        """Load ``path`` on the loader thread; the current model stays until it succeeds.
        Unsaved work of the open model is discarded only if the user agrees."""
        if not self.files.may_discard():
            return
        self._show_opening(f"Opening {Path(path).name}…")
        self._once_on_screen(partial(self.loader.open_model, path))

    def open_session(self, path: str | Path, fallback: Path | None = None) -> None:
        """Open a session file's model on the loader thread, then go where the session was; if
        either cannot be read, the current model stays (or the ``fallback`` model opens)."""
        if not self.files.may_discard():
            return
        self._show_opening(f"Opening session {Path(path).name}…")
        self._once_on_screen(partial(self.loader.open_session, path, fallback))

    def _once_on_screen(self, load: Callable[[], None]) -> None:
        """Start ``load`` once the window is on screen: after its first paint if it is being
        shown (at most ``FIRST_PAINT_WAIT_MS`` later), else in the next turn of the event loop;
        at once if the map has been built (the first paint builds it). Loading imports torch on
        the loader's thread, which shares Python's lock with the GUI thread: started together,
        the window's first paint came 0.4 s later."""
        if self._map_view is not None:
            load()
            return
        self._waiting_loads.append(load)
        if len(self._waiting_loads) == 1:
            QTimer.singleShot(0, self._start_loads_unless_painting)
            QTimer.singleShot(FIRST_PAINT_WAIT_MS, self._start_waiting_loads)

    def _start_loads_unless_painting(self) -> None:
        if not self.isVisible():
            self._start_waiting_loads()  # else the first paint starts them

    def _on_first_paint(self) -> None:
        """Import the map's module on a thread (on the GUI thread, pyqtgraph's import held the
        window, on screen, for 0.5-0.7 s); once it has loaded, build the map and start the
        files waiting to open. Not both at once: PySide's import hook, which runs at every
        import, crashed the app once (a segmentation fault) with pyqtgraph imported on one
        thread and the loader's modules on another. The first image came 0.1 s later."""
        if self._map_view is not None:  # built meanwhile (asked for, or a model installed)
            self._start_waiting_loads()
            return
        self._map_import = threading.Thread(
            target=importlib.import_module, args=(MAP_MODULE,), name="map import", daemon=True
        )
        self._map_import.start()
        self._map_import_poll.start()

    def _build_map_once_imported(self) -> None:
        if self._map_import is None or not self._map_import.is_alive():
            self._map_import_poll.stop()
            self._build_map()
            self._start_waiting_loads()

    def _start_waiting_loads(self) -> None:
        if self._map_import is not None and self._map_import.is_alive():
            return  # started once the map's module has loaded (see _on_first_paint)
        loads, self._waiting_loads = self._waiting_loads, []
        for load in loads:
            load()

    def _show_opening(self, text: str) -> None:
        self.show_status(text)
        if self.explorer.loaded is None:  # the map and the image have nothing else to show
            self.image_view.set_placeholder(text)
            self._set_map_placeholder(text)

    def install_model(self, loaded: LoadedModel, message: str) -> bool:
        """Make a model built in the app (not read from a file) the open one, prepared on the
        loader thread as a file is; False if a file the user asked to open meanwhile is still
        on its way: that file wins, as the user's latest request (its opening would have
        stopped the job that made the model)."""
        if self.loader.busy:
            return False
        self.loader.install(loaded, message)
        return True

    def _install(self, opened: OpenedModel, session: Session | None, notice: str) -> None:
        """Make ``opened`` the open model: a new worker, a fresh Explorer state, the views."""
        self._build_map()  # a window never painted (a script's) has none yet
        if self.worker is not None:
            self.worker.stop()  # its jobs end as cancelled (attach below); it goes when it ends
        self.worker = ModelWorker(opened.loaded)
        self.worker.decoded.connect(self._on_decoded)
        self.worker.linearised.connect(self._on_linearised)
        self.preview = self._last_requested = None
        self.worker.placed.connect(self._on_placed)
        self.worker.place(self.device)  # on its thread, before the jobs that follow
        self.jobs.attach(self.worker)
        self.explorer.open(opened)
        (x0, x1), (y0, y1) = framing(self.explorer.reference_points())
        self.explorer.start_at((x0 + x1) / 2, (y0 + y1) / 2)  # the centre of the map to come
        self.show_status(f"Opened {opened.loaded.name}", 3000)
        if notice:
            self.notify(notice)
        if session is not None:
            try:
                self.explorer.resume(session)
                self.show_status(f"Resumed the session in {opened.loaded.name}", 5000)
            except SessionError as exc:
                self.show_error(
                    "Cannot resume the session", f"{exc}; the model is open as it starts"
                )
        # The family panel comes in a later turn of the event loop than the views above and the
        # map (latentlab.app.turns)
        self.turns.add(lambda: self._show_family_panel(opened.loaded), key="family panel")

    def _on_placed(self, label: str, notice: str) -> None:
        if self.sender() is self.worker:  # not a worker already replaced
            self.device_label.setText(f"device: {label}")
            if notice:
                self.notify(notice)

    def _show_family_panel(self, loaded: LoadedModel) -> None:
        if self.explorer.loaded is not loaded or self.jobs.worker is None:
            return  # another model followed and shows its own, or the window has closed
        self.family_panel = show_family_panel(
            self.tabs, self.family_panel, loaded, self, self._kept_panels
        )
        if self.family_panel is None:
            self.tabs.setCurrentWidget(self.sample_panel)
        else:
            self.family_panel.setEnabled(True)
            self.family_panel.set_presentation(self.presentation.on)
        self.modelOpened.emit(str(loaded.path))

    def _on_open_failed(self, path: str, message: str) -> None:
        self.show_status(f"Could not open {Path(path).name}")
        if self.explorer.loaded is None:
            self.image_view.set_placeholder("No model open: File ▸ Open model… (Ctrl+O)")
            self._set_map_placeholder("No model open")
            self.files.offer_instead(path, message)
        else:
            self.show_error("Cannot open the file", f"{path}\n\n{message}")
        self.openFailed.emit(message)

    def _on_model_opened(self, opened: OpenedModel) -> None:
        loaded, has_latent = opened.loaded, opened.plane is not None
        self.map_box.setVisible(has_latent)
        for panel in (self.attribute_panel, self.interpolation_panel):
            self.tabs.setTabEnabled(self.tabs.indexOf(panel), has_latent)
        self.image_view.set_image(None)
        if not has_latent:
            self.image_view.set_placeholder(
                "This model has no latent space to explore: click a sample"
            )
        if self.family_panel is not None:
            self.family_panel.setEnabled(False)  # it still serves the model before
        self.info_panel.show_model(loaded)
        self.setWindowTitle(f"LatentLab — {loaded.name}")

    # -- jobs on the model worker ----------------------------------------------------------------

    def submit(self, job: Callable[..., Any], *args: Any, watched: bool = False) -> Job:
        """Run ``job(model, *args)`` on the model worker (:meth:`JobRunner.submit`)."""
        return self.jobs.submit(job, *args, watched=watched)

    def run_long_job(self, title: str, job: Callable[..., Any], *args: Any) -> Job:
        """Run generator ``job(model, *args)`` behind a progress dialog that can cancel it."""
        handle = self.submit(job, *args, watched=True)
        show_progress(self, title, handle)
        return handle

    def _on_job_failed(self, message: str, watched: bool) -> None:
        self.show_status(f"Error: {message}")
        if watched:  # a job the user is waiting for: say so clearly
            self.show_error("The job failed", message)
            self.jobEnded.emit(message)

    def _on_job_cancelled(self) -> None:
        self.show_status("Cancelled; nothing was changed", 5000)
        self.jobEnded.emit("cancelled")

    # -- the current point and the map -----------------------------------------------------------

    def undo(self) -> None:
        """Back to the previous resting place of the point, plane, sliders and endpoints."""
        if not self.explorer.undo():
            self.show_status("Nothing to undo", 3000)

    def redo(self) -> None:
        if not self.explorer.redo():
            self.show_status("Nothing to redo", 3000)

    def set_latent(self, z: np.ndarray) -> None:
        """Make flat latent ``z`` the current point (it is decoded and shown)."""
        self.explorer.set_latent(z)

    def show_image(self, image: np.ndarray) -> None:
        """Show ``image`` (C,H,W in [0, 1]) in ``imageView``, e.g. a family panel's result or a
        sample of a model without a latent."""
        self.image_view.set_image(image)
        self.imageDisplayed.emit(0)

    def current_image(self) -> np.ndarray | None:
        """The image ``imageView`` shows (C,H,W in [0, 1]), or None."""
        return self.image_view.image()

    def _on_model_point_changed(self, z: np.ndarray) -> None:
        state = self.explorer.state
        # the point belongs to an open model's state, and _install made that model's worker
        assert state is not None and self.worker is not None
        self._checkpoint_timer.start()
        self.map_view.set_handle(*state.point)
        self.requested_seq += 1
        axes = np.stack([state.plane.u, state.plane.v])
        dragged = self._last_requested is not None and along_axes(z - self._last_requested, axes)
        self._last_requested = z
        self.worker.request_decode(self.requested_seq, z, axes, dragged)
        self._show_preview(z)

    def _on_decoded(self, seq: int, image: np.ndarray, seconds: float) -> None:
        if seq <= self.shown_seq or seq < self.previewed_seq or self.sender() is not self.worker:
            return  # older than the image shown, or of a model closed since
        self.shown_seq = seq
        self.image_view.set_image(image)
        state, loaded = self.explorer.state, self.explorer.loaded
        assert state is not None and loaded is not None  # the open model has a latent
        a, b = state.point
        name = loaded.name
        self.show_status(f"{name}   point ({a:+.2f}, {b:+.2f})   decode {seconds * 1000:.1f} ms")
        self.imageDisplayed.emit(seq)

    def _on_linearised(self, seq: int, preview: LinearPreview) -> None:
        if self.sender() is self.worker:
            self.preview = preview
            if seq < self.requested_seq:  # the point moved on while the worker was busy
                assert self.explorer.state is not None
                self._show_preview(self.explorer.state.latent)

    def _show_preview(self, z: np.ndarray) -> None:
        """While a slow model's decode of ``z`` is on its way, show the linear preview from its
        last decode, if ``z`` is on the same plane."""
        image = None if self.preview is None else self.preview.at(z)
        if image is None:
            return
        self.previewed_seq = self.requested_seq
        self.image_view.set_image(image)
        state, loaded = self.explorer.state, self.explorer.loaded
        assert state is not None and loaded is not None
        a, b = state.point
        self.show_status(f"{loaded.name}   point ({a:+.2f}, {b:+.2f})   preview; decoding…")
        self.previewDisplayed.emit(self.requested_seq)

    def encode_images(self, paths: list[Path]) -> None:
        self.map.encode_images(paths)

    def report_written(self, written: str) -> None:
        """Say that a job wrote the file ``written`` (an export, a model copy)."""
        self.show_status(f"Wrote {written}", 8000)
        self.jobEnded.emit(written)

    # -- presentation, drag and drop, closing ----------------------------------------------------

    def set_presentation(self, on: bool) -> None:
        """Presentation mode (:mod:`latentlab.app.presentation`); F11 and Esc toggle it."""
        if self.presentation_action.isChecked() != on:
            self.presentation_action.setChecked(on)  # comes back here through toggled
        else:
            self.presentation.set(on)
            if self.family_panel is not None:
                self.family_panel.set_presentation(on)

    @staticmethod
    def _dropped(event: QDragEnterEvent | QDropEvent) -> list[Path]:
        return [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped(event):  # files it cannot use are explained when dropped
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        if paths := self._dropped(event):
            event.acceptProposedAction()
            self.files.open_files(paths)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.files.may_discard():
            event.ignore()
            return
        if self.autosave_path is not None:
            self.files.save_session(self.autosave_path)
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the worker threads without waiting for them (idempotent); jobs still running
        end as cancelled."""
        self.loader.shutdown()
        self.turns.clear()
        self.jobs.attach(None)
        if self.worker is not None:
            self.worker.stop()
