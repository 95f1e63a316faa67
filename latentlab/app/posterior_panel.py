"""The VAE's own panel: for one image, the two terms of the ELBO (how well the decoder
reconstructs it, and how far its posterior q(z|x) is from the prior) and the KL of each latent
dimension, beside its average over the reference set: the dimensions the VAE does not use stand
out as bars near zero."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from latentlab.app.charts import panel_chart
from latentlab.app.family_panel import FamilyPanel, PanelHost
from latentlab.app.image_source import ImageSource
from latentlab.app.qimage import to_qpixmap
from latentlab.explore.posterior import IN_USE_KL_NATS, PosteriorReport, posterior_report
from latentlab.modelfile import LoadedModel

__all__ = ["PosteriorPanel"]

_VIEW_PIXELS = 96
_IMAGE_BRUSH, _REFERENCE_BRUSH = pg.mkBrush("#d95f02"), pg.mkBrush(150, 150, 150, 140)


class PosteriorPanel(FamilyPanel):
    """The chosen image, its ELBO terms, and a bar chart of KL per latent dimension."""

    title = "Posterior"

    def __init__(self, host: PanelHost, parent: QWidget | None = None) -> None:
        super().__init__(host, parent)
        self.setObjectName("posteriorPanel")
        self.loaded: LoadedModel | None = None
        self.report: PosteriorReport | None = None
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
        top = QHBoxLayout()
        top.addWidget(self.image_view)
        top.addWidget(self.terms, 1)
        top.addWidget(self.source, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.chart, 1)

    def show_model(self, loaded: LoadedModel) -> None:
        self.loaded, self.report = loaded, None
        self.image_view.setText("—")
        self.terms.setText("Choose an image: its ELBO is split into reconstruction and KL")
        for bars in (self.reference_bars, self.image_bars):
            bars.setOpts(x=[], height=[])

    def analyse(self, image: np.ndarray) -> None:
        """Compute the report of ``image`` (``C,H,W`` in [0, 1]) on the worker and show it."""
        assert self.loaded is not None  # show_family_panel shows the model before any image
        reference = None
        if self.loaded.reference is not None:
            reference = self.loaded.reference.images.numpy() / 255.0
        self.image_view.setPixmap(to_qpixmap(image, max(1, _VIEW_PIXELS // max(image.shape[1:]))))
        self.terms.setText("computing…")
        job = self.host.submit(posterior_report, image, reference, watched=True)
        job.finished.connect(self.show_report)

    def show_report(self, report: PosteriorReport) -> None:
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
        x = np.arange(len(report.kl_per_dim))
        if report.reference_kl_per_dim is not None:
            self.reference_bars.setOpts(x=x, height=report.reference_kl_per_dim)
        self.image_bars.setOpts(x=x, height=report.kl_per_dim)
        self.host.show_status("The ELBO of this image: reconstruction and KL", 5000)
