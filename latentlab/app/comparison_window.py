"""A window that sets a Gaussian mixture beside a VAE trained on the same data: the mixture's
component means, a discrete set of prototypes, against the VAE's decodes over a grid of its
latent plane, a continuous map (:mod:`latentlab.explore.comparison`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QDialog, QGridLayout, QLabel, QWidget

from latentlab.app.family_panel import PanelHost
from latentlab.app.image_strip import ImageStrip
from latentlab.explore.comparison import Comparison, compare_with_mixture
from latentlab.explore.images import image_grid
from latentlab.modelfile import LoadedModel

__all__ = ["ComparisonWindow"]

ROWS = 8  # the VAE's grid is ROWS x ROWS decodes
_PROTOTYPE_COLUMNS = 5


def _mosaic(images: np.ndarray, columns: int) -> np.ndarray:
    """``images`` (``N,C,H,W``) tiled into one image ``1,C,H',W'`` (uint8) for a strip."""
    return image_grid(images, columns).transpose(2, 0, 1)[None]


class ComparisonWindow(QDialog):
    """Mixture on the left, VAE on the right, each with a line saying how it explains an image.
    The mixture is read and both are decoded on the model worker."""

    def __init__(
        self, host: PanelHost, vae: LoadedModel, mixture: Path, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("comparisonWindow")
        self.setWindowTitle(f"{mixture.stem} beside {vae.name}")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.comparison: Comparison | None = None
        self.prototypes = ImageStrip(f"Reading {mixture.name}…")
        self.prototypes.setObjectName("mixturePrototypes")
        self.manifold = ImageStrip("Decoding the VAE's plane…")
        self.manifold.setObjectName("vaeManifold")
        self.prototype_caption = QLabel(
            "Mixture: a discrete set of prototypes (the component means, largest weight "
            "first). An image is one of them, picked, plus noise."
        )
        self.manifold_caption = QLabel(
            "VAE: a continuous map. Every point of the latent plane decodes to an image; "
            "nearby points to similar images. The VAE is the distributed version of the mixture."
        )
        layout = QGridLayout(self)
        for column, (title, caption, strip) in enumerate(
            (
                (f"Gaussian mixture ({mixture.stem})", self.prototype_caption, self.prototypes),
                (f"VAE ({vae.name})", self.manifold_caption, self.manifold),
            )
        ):
            heading = QLabel(f"<b>{title}</b>")
            caption.setWordWrap(True)
            layout.addWidget(heading, 0, column)
            layout.addWidget(caption, 1, column)
            layout.addWidget(strip, 2, column)
            layout.setColumnStretch(column, 1)
        layout.setRowStretch(2, 1)
        self.resize(900, 560)
        reference = None if vae.reference is None else vae.reference.latents.numpy()
        job = host.submit(compare_with_mixture, mixture, ROWS, reference, watched=True)
        job.finished.connect(self.show_comparison)

    def set_presentation(self, on: bool, font: QFont) -> None:
        """Presentation mode: full screen, with the text of the panel that opened it (``font``,
        scaled); a window does not take its parent's font by itself."""
        self.setFont(font)
        if on:
            self.showFullScreen()
        elif self.isFullScreen():
            self.showNormal()

    def show_comparison(self, comparison: Comparison) -> None:
        self.comparison = comparison
        self.prototypes.set_images(_mosaic(comparison.prototypes, _PROTOTYPE_COLUMNS))
        self.manifold.set_images(_mosaic(comparison.manifold, comparison.rows))
        self.manifold_caption.setText(
            f"{self.manifold_caption.text()} ({comparison.rows} x {comparison.rows} points of "
            f"the {comparison.plane_name}.)"
        )
