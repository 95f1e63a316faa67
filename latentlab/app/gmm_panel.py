"""The Gaussian mixture's own panel: its components as images with their weights, samples of one
chosen component, and EM fitting live with the log-likelihood rising step by step."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from latentlab.app.charts import panel_chart
from latentlab.app.family_panel import FamilyPanel, PanelHost
from latentlab.app.image_strip import ImageStrip
from latentlab.app.qimage import to_qpixmap
from latentlab.app.run_button import RunButton
from latentlab.explore.gmm import (
    EMProgress,
    component_latent,
    component_means,
    component_samples,
    fit_gmm,
)
from latentlab.modelfile import LoadedModel
from latentlab.models.gmm import COVARIANCES

__all__ = ["GMMPanel"]

_ICON_PIXELS = 48
_SAMPLES = 8
_PACE_S = 0.12  # at least this long per EM iteration, so that a fit can be watched


class GMMPanel(FamilyPanel):
    """Components (click one to explore its mean; sample it), and a live EM fit whose result
    becomes the open model."""

    title = "Mixture"

    def __init__(self, host: PanelHost, parent: QWidget | None = None) -> None:
        super().__init__(host, parent)
        self.setObjectName("gmmPanel")
        self.loaded: LoadedModel | None = None
        self._history: list[tuple[int, float]] = []
        self._icon_pixels = _ICON_PIXELS
        self._shown: tuple[np.ndarray, np.ndarray] | None = None  # the components' means, weights

        self.components = QListWidget()
        self.components.setObjectName("gmmComponents")
        self.components.setViewMode(QListView.ViewMode.IconMode)
        self.components.setIconSize(QSize(_ICON_PIXELS, _ICON_PIXELS))
        self.components.setResizeMode(QListView.ResizeMode.Adjust)
        self.components.setMovement(QListView.Movement.Static)
        self.components.setSpacing(2)
        self.components.setMinimumHeight(2 * (_ICON_PIXELS + 26))  # two rows of components
        self.components.setToolTip(
            "Each component's mean and weight. Click one to make its mean the current point."
        )
        self.components.currentRowChanged.connect(self._on_component_chosen)
        self.components.itemClicked.connect(
            lambda item: self._on_component_chosen(self.components.row(item))
        )

        self.sample_button = QPushButton("Sample this component")
        self.sample_button.setObjectName("gmmSampleComponent")
        self.sample_button.setToolTip("Draw samples x = mu_k + L_k e from the chosen component")
        self.sample_button.clicked.connect(self.sample_component)
        self.samples = ImageStrip("")
        self.samples.setObjectName("gmmComponentSamples")
        self.samples.setMinimumHeight(40)
        self.samples.setToolTip("Samples of the chosen component: click one to explore it")
        self.samples.imageClicked.connect(self._on_sample_clicked)
        self._sample_latents: np.ndarray | None = None
        self._sample_seed = 0

        top = QVBoxLayout()
        top.addWidget(self.components, 1)
        row = QHBoxLayout()
        row.addWidget(self.sample_button)
        row.addWidget(self.samples, 1)
        top.addLayout(row)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addWidget(self._build_fit_box(), 1)

    def _build_fit_box(self) -> QGroupBox:
        box = QGroupBox("Fit by EM")
        box.setToolTip(
            "Fit a new mixture to this model's training images, one EM iteration "
            "at a time; the result becomes the open model (unsaved)"
        )
        self.k_spin = QSpinBox()
        self.k_spin.setObjectName("gmmComponentsSpin")
        self.k_spin.setRange(1, 100)
        self.k_spin.setToolTip("Number of components K")
        self.covariance = QComboBox()
        self.covariance.setObjectName("gmmCovariance")
        self.covariance.addItems(COVARIANCES)
        self.covariance.setToolTip("A full covariance matrix per component, or a diagonal one")
        self.fit_button = RunButton("Fit", "Cancel")
        self.fit_button.setObjectName("gmmFit")
        self.fit_button.setToolTip("Start EM from k-means++ seeds; click again to cancel")
        self.fit_button.runRequested.connect(self.fit)
        self.progress = QProgressBar()
        self.progress.setObjectName("gmmProgress")
        self.progress.setRange(0, 100)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.curve_view = panel_chart("gmmCurve", "EM iteration", "log p (nats)", 110)
        self.curve = self.curve_view.curve(
            "#1f77b4", symbol="o", symbolSize=4, symbolBrush="#1f77b4"
        )
        self.curve_view.set_placeholder("Fit: the log-likelihood of each EM iteration shows here")
        self.fit_label = QLabel("")
        self.fit_label.setObjectName("gmmFitLabel")
        self.fit_label.setWordWrap(True)  # its last line is long: unwrapped, it narrowed the map
        controls = QHBoxLayout()
        controls.addWidget(QLabel("K"))
        controls.addWidget(self.k_spin)
        controls.addWidget(self.covariance)
        controls.addStretch(1)
        controls.addWidget(self.fit_button)
        layout = QVBoxLayout(box)
        layout.addLayout(controls)
        layout.addWidget(self.progress)
        layout.addWidget(self.curve_view, 1)
        layout.addWidget(self.fit_label)
        return box

    # -- the open model ------------------------------------------------------------------------

    def show_model(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        config = loaded.model.config
        if not self.fit_button.running:
            self.k_spin.setValue(config.components)
            self.covariance.setCurrentText(config.covariance)
        self.samples.set_images(None)
        self.host.submit(component_means).finished.connect(
            lambda means_weights: self._show_components(*means_weights)
        )

    def release(self) -> None:
        self.loaded, self._shown, self._sample_latents = None, None, None
        self.samples.set_images(None)
        self.components.clear()

    def set_presentation(self, on: bool) -> None:
        self.curve_view.set_presentation(on, self)
        self._icon_pixels = 2 * _ICON_PIXELS if on else _ICON_PIXELS
        self.components.setIconSize(QSize(self._icon_pixels, self._icon_pixels))
        if self._shown is not None:
            self._show_components(*self._shown)

    def _show_components(self, means: np.ndarray, weights: np.ndarray) -> None:
        self._shown = means, weights
        current = self.components.currentRow()
        self.components.blockSignals(True)
        if self.components.count() != len(means):
            self.components.clear()
            for _ in means:
                self.components.addItem(QListWidgetItem())
        scale = max(1, self._icon_pixels // max(means.shape[2:]))
        for k, (image, weight) in enumerate(zip(means, weights, strict=True)):
            item = self.components.item(k)
            item.setIcon(QIcon(to_qpixmap(image, scale)))
            item.setText(f"{100 * weight:.1f}%")
            item.setToolTip(f"component {k}: weight {weight:.3f}")
        if 0 <= current < len(means):
            self.components.setCurrentRow(current)
        self.components.blockSignals(False)

    def _on_component_chosen(self, k: int) -> None:
        if self.loaded is not None and k >= 0:  # on the worker, where the model's device is
            self.host.submit(component_latent, k).finished.connect(self.host.set_latent)

    def sample_component(self) -> None:
        """Draw samples of the chosen component (the first if none is chosen)."""
        k = max(0, self.components.currentRow())
        self._sample_seed += 1
        job = self.host.submit(component_samples, k, _SAMPLES, 1.0, self._sample_seed)
        job.finished.connect(self._on_component_sampled)

    def _on_component_sampled(self, result: tuple[np.ndarray, np.ndarray]) -> None:
        self._sample_latents, images = result
        self.samples.set_images(images)

    def _on_sample_clicked(self, index: int) -> None:
        assert self._sample_latents is not None  # the strip shows samples only once drawn
        self.host.set_latent(self._sample_latents[index])

    # -- fitting -------------------------------------------------------------------------------

    def fit(self) -> None:
        """Start a live EM fit with the chosen K and covariance."""
        self._history = []
        self.curve.setData([], [])
        self.progress.setValue(0)
        self.fit_label.setText("starting…")
        job = self.host.submit(
            fit_gmm,
            self.loaded,
            self.k_spin.value(),
            self.covariance.currentText(),
            1e-3,
            200,
            0,
            _PACE_S,
            watched=True,
        )
        job.progressed.connect(self._on_fit_progressed)
        job.previewed.connect(self._on_fit_step)
        job.finished.connect(self._on_fitted)
        job.failed.connect(lambda message: self.fit_label.setText(f"failed: {message}"))
        job.cancelled.connect(
            lambda: self.fit_label.setText("cancelled: the open model is unchanged")
        )
        self.fit_button.follow(job)

    def _on_fit_progressed(self, fraction: float) -> None:
        self.progress.setValue(round(100 * fraction))

    def _on_fit_step(self, step: EMProgress) -> None:
        self.curve_view.set_placeholder(None)
        self._history.append((step.iteration, step.log_likelihood))
        iterations, values = zip(*self._history, strict=True)
        self.curve.setData(list(iterations), list(values))
        self.fit_label.setText(
            f"iteration {step.iteration}: {step.log_likelihood:.2f} "
            f"nats/image ({step.bits_per_dim:.3f} bits/dim)"
        )
        self._show_components(step.means, step.weights)

    def _on_fitted(self, loaded: LoadedModel) -> None:
        self.progress.setValue(100)
        config = loaded.model.config
        done = (
            f"Fitted {config.components} {config.covariance} components in "
            f"{loaded.meta['training']['epochs']} EM iterations"
        )
        if self.host.install_model(loaded, f"{done} (unsaved: File ▸ Save model as…)"):
            outcome = "now the open model, unsaved (Ctrl+Shift+S saves it)"
        else:
            outcome = "not opened: the file you asked to open meanwhile goes first"
        # the last iteration's line stays; what was fitted goes to the notices (two lines at
        # most here: a third squeezed the chart above below its axes' height)
        self.fit_label.setText(f"{self.fit_label.text()}\n{outcome}")
