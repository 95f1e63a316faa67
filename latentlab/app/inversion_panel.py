"""The GAN's own panel: find the latent of an image by optimisation (GAN inversion), watching the
reconstruction error fall; the latent found becomes the current point."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from latentlab.app.charts import panel_chart
from latentlab.app.family_panel import FamilyPanel, PanelHost
from latentlab.app.image_source import ImageSource
from latentlab.app.qimage import to_qpixmap
from latentlab.app.run_button import RunButton
from latentlab.app.turns import Throttle
from latentlab.explore.inversion import Inversion, invert_image
from latentlab.modelfile import LoadedModel

__all__ = ["InversionPanel"]

_VIEW_PIXELS = 96


class InversionPanel(FamilyPanel):
    """Target and reconstruction side by side, the error curve, and Invert / Stop."""

    title = "Invert"

    def __init__(self, host: PanelHost, parent: QWidget | None = None) -> None:
        super().__init__(host, parent)
        self.setObjectName("inversionPanel")
        self.loaded: LoadedModel | None = None
        self.target: np.ndarray | None = None
        self.result: Inversion | None = None
        self._errors: list[float] = []
        self._curve_drawer = Throttle(self, self._draw_curve)  # steps come faster than frames
        self.source = ImageSource(host, "Invert")
        self.source.imageChosen.connect(self.set_target)
        self._view_pixels = _VIEW_PIXELS
        self._shown: dict[QLabel, np.ndarray | None] = {}
        self.target_view = self._image_label("inversionTarget", "The image to invert")
        self.result_view = self._image_label(
            "inversionResult", "The generator's image of the latent found"
        )
        self.steps = QSpinBox()
        self.steps.setObjectName("inversionSteps")
        self.steps.setRange(10, 2000)
        self.steps.setValue(200)
        self.steps.setToolTip("Optimisation steps (Adam on the squared error)")
        self.invert_button = RunButton("Invert", "Stop")
        self.invert_button.setObjectName("invertButton")
        self.invert_button.setToolTip("Search the latent space for this image; click again to stop")
        self.invert_button.runRequested.connect(self.invert)
        self.progress = QProgressBar()
        self.progress.setObjectName("inversionProgress")
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.curve_view = panel_chart("inversionCurve", "step", "MSE")
        self.curve_view.setLogMode(False, True)
        self.curve = self.curve_view.curve("#d62728")
        self.curve_view.set_placeholder("Invert: the error of each step shows here")
        self.label = QLabel("Choose an image to invert")
        self.label.setObjectName("inversionLabel")
        self.label.setWordWrap(True)  # the result's line is long: unwrapped, it narrowed the map

        images = QGridLayout()
        images.addWidget(QLabel("target"), 0, 0, Qt.AlignmentFlag.AlignCenter)
        images.addWidget(QLabel("reconstruction"), 0, 1, Qt.AlignmentFlag.AlignCenter)
        images.addWidget(self.target_view, 1, 0)
        images.addWidget(self.result_view, 1, 1)
        top = QHBoxLayout()
        top.addLayout(images, 1)
        top.addWidget(self.source, 0, Qt.AlignmentFlag.AlignTop)
        run = QHBoxLayout()
        run.addWidget(QLabel("steps"))
        run.addWidget(self.steps)
        run.addStretch(1)
        run.addWidget(self.invert_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(run)
        layout.addWidget(self.progress)
        layout.addWidget(self.curve_view, 1)
        layout.addWidget(self.label)

    @staticmethod
    def _image_label(name: str, tip: str) -> QLabel:
        label = QLabel("—")
        label.setObjectName(name)
        label.setToolTip(tip)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setMinimumSize(_VIEW_PIXELS, _VIEW_PIXELS)
        return label

    def _show(self, label: QLabel, image: np.ndarray | None) -> None:
        self._shown[label] = image
        if image is None:
            label.setText("—")
        else:
            label.setPixmap(to_qpixmap(image, max(1, self._view_pixels // max(image.shape[1:]))))

    def show_model(self, loaded: LoadedModel) -> None:
        self.release()  # the image and result of the model before
        self.loaded = loaded

    def release(self) -> None:
        self.loaded = None
        self.set_target(None)

    def set_presentation(self, on: bool) -> None:
        self.curve_view.set_presentation(on, self)
        self._view_pixels = 2 * _VIEW_PIXELS if on else _VIEW_PIXELS
        for label, image in list(self._shown.items()):
            self._show(label, image)

    def set_target(self, image: np.ndarray | None) -> None:
        """The image to invert (``C,H,W`` in [0, 1]) or None."""
        self.target, self.result = image, None
        self._show(self.target_view, image)
        self._show(self.result_view, None)
        self.invert_button.setEnabled(image is not None)
        self.label.setText(
            "Choose an image to invert"
            if image is None
            else "Invert searches the latent space for this image"
        )

    def invert(self) -> None:
        if self.target is None:
            return
        self._errors = []
        self.curve.setData([], [])
        self.progress.setValue(0)
        job = self.host.submit(invert_image, self.target, self.steps.value(), 0, watched=True)
        job.progressed.connect(self._on_progressed)
        job.previewed.connect(self._on_step)
        job.finished.connect(self._on_inverted)
        self.invert_button.follow(job)

    def _on_progressed(self, fraction: float) -> None:
        self.progress.setValue(round(100 * fraction))

    def _on_step(self, mse: float) -> None:
        self._errors.append(mse)
        self._curve_drawer.request()

    def _draw_curve(self) -> None:
        self.curve_view.set_placeholder(None)
        self.curve.setData(np.arange(1, len(self._errors) + 1), np.array(self._errors))
        if self._errors:
            self.label.setText(f"step {len(self._errors)}: MSE {self._errors[-1]:.4f}")

    def _on_inverted(self, result: Inversion) -> None:
        self._curve_drawer.flush()
        self.result = result
        self._show(self.result_view, result.image)
        self.label.setText(
            f"MSE {result.mse:.4f} (RMSE {np.sqrt(result.mse):.3f} in [0, 1]) "
            f"after {len(self._errors)} steps: now the current point"
        )
        self.host.set_latent(result.latent)
