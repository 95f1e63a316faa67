"""The autoregressive model's own panel: paint a mask over an image and watch the model fill it
pixel by pixel, several completions side by side; or sample from scratch the same way."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from latentlab.app.family_panel import FamilyPanel, PanelHost
from latentlab.app.image_source import ImageSource
from latentlab.app.image_strip import ImageStrip
from latentlab.app.mask_canvas import MaskCanvas
from latentlab.app.run_button import RunButton
from latentlab.explore.painting import MASK_PRESETS, mask_preset, paint
from latentlab.modelfile import LoadedModel

__all__ = ["PixelRNNPanel"]

_SECONDS = 3.0  # a painting is spread over about this long, so that it can be watched


class PixelRNNPanel(FamilyPanel):
    """Source image and mask on the left; completions, painted as they are drawn, below."""

    title = "Paint"

    def __init__(self, host: PanelHost, parent: QWidget | None = None) -> None:
        super().__init__(host, parent)
        self.setObjectName("pixelrnnPanel")
        self.loaded: LoadedModel | None = None
        self._seed = 0
        self.canvas = MaskCanvas()
        self.preset = QComboBox()
        self.preset.setObjectName("maskPreset")
        self.preset.addItems(MASK_PRESETS)
        self.preset.setCurrentText("bottom half")
        self.preset.setToolTip("Set the mask to a preset; then paint on the image to change it")
        self.preset.activated.connect(lambda _: self._apply_preset())
        self.source = ImageSource(host, "Complete")
        self.source.imageChosen.connect(self.set_source)
        self.count = QSpinBox()
        self.count.setObjectName("completionCount")
        self.count.setRange(1, 8)
        self.count.setValue(4)
        self.count.setToolTip("How many completions to draw side by side")
        self.paint_button = RunButton("Complete", "Stop")
        self.paint_button.setObjectName("paintButton")
        self.paint_button.setToolTip(
            "Fill the masked pixels one at a time, in raster order; click again to stop"
        )
        self.paint_button.runRequested.connect(self.complete)
        self.results = ImageStrip("Paint a mask, then Complete")
        self.results.setObjectName("completions")
        self.results.setToolTip(
            "Completions: pixels outside the mask are the source's own. Click one to show it above."
        )
        self.results.imageClicked.connect(self._on_completion_clicked)

        source = QGridLayout()
        source.addWidget(self.source, 0, 0)
        source.addWidget(QLabel("mask"), 1, 0)
        source.addWidget(self.preset, 2, 0)
        source.setRowStretch(3, 1)
        top = QHBoxLayout()
        top.addWidget(self.canvas, 1)
        top.addLayout(source)
        run = QHBoxLayout()
        run.addWidget(QLabel("completions"))
        run.addWidget(self.count)
        run.addStretch(1)
        run.addWidget(self.paint_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 3)
        layout.addLayout(run)
        layout.addWidget(self.results, 2)

    # -- the source image and mask -------------------------------------------------------------

    def show_model(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        c, h, w = loaded.model.image_shape
        self.canvas.set_image(np.zeros((c, h, w), dtype=np.float32))
        self.preset.setCurrentText("all")  # a blank source: sample from scratch
        self._apply_preset()
        self._set_results(None)

    def _apply_preset(self) -> None:
        h, w = self.canvas.mask_array.shape
        self.canvas.set_mask(mask_preset(self.preset.currentText(), h, w))

    def set_source(self, image: np.ndarray) -> None:
        """Paint over ``image`` (``C,H,W`` in [0, 1], the model's shape)."""
        self.canvas.set_image(image)
        if self.preset.currentText() == "all":  # keep some of the image to complete
            self.preset.setCurrentText("bottom half")
            self._apply_preset()

    # -- painting ------------------------------------------------------------------------------

    def complete(self) -> None:
        """Fill the mask of the source image, several times side by side, pixel by pixel."""
        if not self.canvas.mask_array.any():
            self.host.show_status("The mask is empty: paint over the pixels to fill", 5000)
            return
        self._seed += 1
        job = self.host.submit(
            paint,
            self.canvas.image(),
            self.canvas.mask_array.copy(),
            self.count.value(),
            1.0,
            self._seed,
            _SECONDS,
            watched=True,
        )
        job.previewed.connect(self._set_results)
        job.finished.connect(self._on_painted)
        self.paint_button.follow(job)

    def _set_results(self, images: np.ndarray | None) -> None:
        self.results.set_images(images)

    def completions(self) -> np.ndarray | None:
        """The completions shown (``N,C,H,W`` in [0, 1]), finished or not, or None."""
        return self.results.images()

    def _on_completion_clicked(self, index: int) -> None:
        images = self.results.images()
        assert images is not None  # the strip only emits clicks on images it shows
        self.host.show_image(images[index])

    def _on_painted(self, images: np.ndarray) -> None:
        self._set_results(images)
        self.host.show_image(images[0])
        self.host.show_status(
            f"Filled {int(self.canvas.mask_array.sum())} pixels in {len(images)} completion(s)",
            5000,
        )
