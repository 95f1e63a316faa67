"""The VAE's own panel: for one image, the two terms of the ELBO (how well the decoder
reconstructs it, and how far its posterior q(z|x) is from the prior), the KL of each latent
dimension beside its average over the reference set (the dimensions the VAE does not use stand
out as bars near zero), the posterior's mean m and standard deviation sigma per dimension, and a
few draws z = m + sigma * e decoded side by side. A button sets the mixture fitted on the same
data beside the VAE (:mod:`latentlab.app.comparison_window`)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from latentlab.app.charts import PanelChart, panel_chart
from latentlab.app.comparison_window import ComparisonWindow
from latentlab.app.family_panel import FamilyPanel, PanelHost, show_computing
from latentlab.app.image_source import ImageSource
from latentlab.app.image_strip import ImageStrip
from latentlab.app.jobs import Job
from latentlab.app.qimage import to_qpixmap
from latentlab.explore.comparison import mixture_for
from latentlab.explore.posterior import (
    IN_USE_KL_NATS,
    PosteriorDraws,
    PosteriorReport,
    posterior_draws,
    posterior_report,
    reference_kl_per_dim,
)
from latentlab.modelfile import LoadedModel
from latentlab.resources import bundled_models

__all__ = ["DRAWS", "PosteriorPanel"]

DRAWS = 6
_VIEW_PIXELS = 96
_IMAGE_BRUSH, _REFERENCE_BRUSH = pg.mkBrush("#d95f02"), pg.mkBrush(150, 150, 150, 140)
_MEAN_PEN = pg.mkPen("#1b5e9e", width=2)

_NO_KL_YET = "The KL of each latent dimension shows here once an image is analysed"


class PosteriorPanel(FamilyPanel):
    """The chosen image and its ELBO terms; charts of KL and of m ± sigma per latent dimension;
    draws from q(z|x), decoded."""

    title = "Posterior"

    def __init__(self, host: PanelHost, parent: QWidget | None = None) -> None:
        super().__init__(host, parent)
        self.setObjectName("posteriorPanel")
        self.loaded: LoadedModel | None = None
        self.report: PosteriorReport | None = None
        self.draws: PosteriorDraws | None = None
        self.comparison: ComparisonWindow | None = None
        self._image: np.ndarray | None = None  # the image analysed
        self._reference_kl: np.ndarray | None = None  # the reference set's mean KL per dim
        self._reference_job: Job | None = None
        self._seed = 0
        self._view_pixels = _VIEW_PIXELS
        self.source = ImageSource(host, "Analyse")
        self.source.imageChosen.connect(self.analyse)
        self.image_view = QLabel("—")
        self.image_view.setObjectName("posteriorImage")
        self.image_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_view.setMinimumSize(_VIEW_PIXELS, _VIEW_PIXELS)
        self.terms = QLabel("Choose an image: its ELBO is split into reconstruction and KL")
        self.terms.setObjectName("posteriorTerms")
        self.terms.setWordWrap(True)
        self.chart = panel_chart("posteriorChart", "latent dimension", "KL (nats)", 120)
        self.chart.set_placeholder(_NO_KL_YET)
        self.chart.setToolTip(
            "KL(q(z|x) || N(0, 1)) of each latent dimension: orange for this "
            "image, grey for the mean over the reference set. A dimension "
            "with no KL on average is one the VAE does not use."
        )
        self.reference_bars = pg.BarGraphItem(
            x=[], height=[], width=0.8, brush=_REFERENCE_BRUSH, pen=pg.mkPen(None)
        )
        self.image_bars = pg.BarGraphItem(
            x=[], height=[], width=0.4, brush=_IMAGE_BRUSH, pen=pg.mkPen(None)
        )
        self.chart.addItem(self.reference_bars)
        self.chart.addItem(self.image_bars)
        self.moments_chart: PanelChart | None = None  # built with the first report
        self.sigma_bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), beam=0.3, pen=_MEAN_PEN)
        self.mean_points = pg.ScatterPlotItem(size=8, brush=pg.mkBrush("#1b5e9e"), pen=None)
        self._presenting = False
        self.draw_button = QPushButton(f"Draw {DRAWS} z = m + σ·e")
        self.draw_button.setObjectName("posteriorDrawButton")
        self.draw_button.setToolTip(
            "Draw latents from q(z|x) by the reparameterisation z = m + σ·e, e ~ N(0, I), and "
            "decode them: the images the encoder thinks this one could be"
        )
        self.draw_button.setEnabled(False)
        self.draw_button.clicked.connect(self.draw)
        self.compare_button = QPushButton("Compare with a mixture…")
        self.compare_button.setObjectName("compareMixtureButton")
        self.compare_button.clicked.connect(self.open_comparison)
        self.draw_strip = ImageStrip("Analyse an image, then draw from its posterior")
        self.draw_strip.setObjectName("posteriorDraws")
        self.draw_strip.setToolTip("Decoded draws from q(z|x): click one to make it the point")
        self.draw_strip.imageClicked.connect(self._on_draw_clicked)

        top = QHBoxLayout()
        top.addWidget(self.image_view)
        top.addWidget(self.terms, 1)
        top.addWidget(self.source, 0, Qt.AlignmentFlag.AlignTop)
        self.charts = QHBoxLayout()
        self.charts.addWidget(self.chart, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.draw_button)
        buttons.addWidget(self.compare_button)
        buttons.addStretch(1)
        draws = QHBoxLayout()
        draws.addLayout(buttons)
        draws.addWidget(self.draw_strip, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(self.charts, 2)
        layout.addLayout(draws, 1)

    def show_model(self, loaded: LoadedModel) -> None:
        self.release()  # a comparison open shows the VAE before
        self.loaded = loaded
        self.image_view.setText("—")
        self.terms.setText("Choose an image: its ELBO is split into reconstruction and KL")
        self.terms.setEnabled(True)
        for bars in (self.reference_bars, self.image_bars):
            bars.setOpts(x=[], height=[])
        self.chart.set_placeholder(_NO_KL_YET)
        none = np.zeros(0)
        self.sigma_bars.setData(x=none, y=none, top=none, bottom=none)
        self.mean_points.setData([], [])
        self.draw_button.setEnabled(False)
        mixture = mixture_for(loaded, bundled_models())
        self.compare_button.setEnabled(mixture is not None)
        self.compare_button.setToolTip(
            f"Set the mixture {mixture.stem} (fitted on the same data) beside this VAE"
            if mixture is not None
            else "No bundled mixture was fitted on this model's dataset"
        )

    def release(self) -> None:
        self.loaded, self.report, self.draws, self._image = None, None, None, None
        self._reference_kl, self._reference_job = None, None
        self.draw_strip.set_images(None)
        if self.comparison is not None:  # it shows this VAE
            self.comparison.close()

    def _build_moments_chart(self) -> PanelChart:
        """The chart of m ± sigma, built when first needed: a plot costs the GUI thread tens
        of milliseconds, and opening a model is its busiest moment already."""
        chart = panel_chart("posteriorMoments", "latent dimension", "m ± σ", 120)
        chart.setToolTip(
            "The posterior q(z|x) = N(m, σ²) of each latent dimension: the dot is the "
            "mean m (the encoding), the bar one standard deviation σ = exp(log-variance / 2) "
            "either side. The prior is N(0, 1): an unused dimension sits at 0 ± 1."
        )
        chart.addItem(pg.InfiniteLine(0, angle=0, pen=pg.mkPen(180, 180, 180)))
        chart.getAxis("left").enableAutoSIPrefix(False)
        chart.addItem(self.sigma_bars)
        chart.addItem(self.mean_points)
        if self._presenting:
            chart.set_presentation(True, self)
        self.charts.addWidget(chart, 1)
        return chart

    def _charts(self) -> list[PanelChart]:
        return [self.chart] + ([] if self.moments_chart is None else [self.moments_chart])

    def set_presentation(self, on: bool) -> None:
        self._presenting = on
        for chart in self._charts():
            chart.set_presentation(on, self)
        self._view_pixels = 2 * _VIEW_PIXELS if on else _VIEW_PIXELS
        self.image_view.setMinimumSize(self._view_pixels, self._view_pixels)
        self.draw_strip.setMinimumHeight(self.height() // 4 if on else 48)
        if self.comparison is not None:
            self.comparison.set_presentation(on, self.font())
        if self._image is not None:
            self._show_image(self._image)

    def _show_image(self, image: np.ndarray) -> None:
        self.image_view.setPixmap(
            to_qpixmap(image, max(1, self._view_pixels // max(image.shape[1:])))
        )

    def analyse(self, image: np.ndarray) -> None:
        """Compute the report of ``image`` (``C,H,W`` in [0, 1]) on the worker and show it, then
        draw from its posterior."""
        assert self.loaded is not None  # show_family_panel shows the model before any image
        self._image = image
        self._show_image(image)
        show_computing(self.terms, self.report is not None)
        self._find_reference_kl()
        job = self.host.submit(posterior_report, image, self._reference_kl, watched=True)
        job.finished.connect(self.show_report)
        self.draw()

    def _find_reference_kl(self) -> None:
        """Start the reference set's mean KL per dimension, the same for every image of the
        model, unless it is known or on its way. Jobs run in turn, so it arrives before the
        report asked for next."""
        assert self.loaded is not None
        pending = self._reference_job is not None and self._reference_job.running
        if self._reference_kl is not None or pending or self.loaded.reference is None:
            return
        reference = self.loaded.reference.images.numpy() / 255.0
        self._reference_job = self.host.submit(reference_kl_per_dim, reference)
        self._reference_job.finished.connect(self._keep_reference_kl)

    def _keep_reference_kl(self, kl: np.ndarray) -> None:
        self._reference_kl = kl

    def show_report(self, report: PosteriorReport) -> None:
        if report.reference_kl_per_dim is None and self._reference_kl is not None:
            report = dataclasses.replace(report, reference_kl_per_dim=self._reference_kl)
        self.report = report
        lines = [
            f"reconstruction E[log p(x|z)]: {report.reconstruction:.1f} nats",
            f"KL(q(z|x) ‖ p(z)): {report.kl:.1f} nats",
            f"ELBO: {report.elbo:.1f} nats ({report.bits_per_dim:.3f} bits/dim)",
        ]
        if report.dimensions_in_use is not None:
            lines.append(
                f"dimensions in use: {report.dimensions_in_use} of {len(report.kl_per_dim)} "
                f"(mean KL > {IN_USE_KL_NATS:g} nats)"
            )
        self.terms.setText("\n".join(lines))
        self.terms.setEnabled(True)
        x = np.arange(len(report.kl_per_dim))
        if report.reference_kl_per_dim is not None:
            self.reference_bars.setOpts(x=x, height=report.reference_kl_per_dim)
        self.image_bars.setOpts(x=x, height=report.kl_per_dim)
        self.chart.set_placeholder(None)
        if self.moments_chart is None:
            self.moments_chart = self._build_moments_chart()
        spacing = max(1, len(x) // 8)  # ticks on whole dimensions
        for chart in self._charts():
            chart.getAxis("bottom").setTickSpacing(spacing, spacing)
        self.sigma_bars.setData(x=x, y=report.mean, top=report.std, bottom=report.std)
        self.mean_points.setData(x, report.mean)
        self.host.show_status("The ELBO of this image: reconstruction and KL", 5000)

    def draw(self) -> None:
        """Draw ``DRAWS`` latents from the analysed image's posterior, decoded on the worker."""
        if self._image is None:
            return
        self._seed += 1
        job = self.host.submit(posterior_draws, self._image, DRAWS, self._seed)
        job.finished.connect(self._show_draws)
        self.draw_button.setEnabled(True)

    def _show_draws(self, draws: PosteriorDraws) -> None:
        self.draws = draws
        self.draw_strip.set_images(draws.images)

    def _on_draw_clicked(self, index: int) -> None:
        assert self.draws is not None  # the strip only emits clicks on draws it shows
        self.host.set_latent(self.draws.latents[index])

    def open_comparison(self) -> None:
        """Open (or raise) the window that sets the bundled mixture beside this VAE."""
        assert self.loaded is not None
        mixture = mixture_for(self.loaded, bundled_models())
        if mixture is None:
            return
        if self.comparison is not None:
            self.comparison.close()
        window = self.comparison = ComparisonWindow(self.host, self.loaded, mixture, self)
        window.destroyed.connect(lambda: self._forget_comparison(window))  # closed by the user
        window.show()
        if self._presenting:
            window.set_presentation(True, self.font())

    def _forget_comparison(self, window: ComparisonWindow) -> None:
        if self.comparison is window:
            self.comparison = None
