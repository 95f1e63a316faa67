"""The autoregressive model's own panel: paint a mask over an image and watch the model fill it
pixel by pixel, several completions side by side; or sample from scratch the same way. While it
paints, a bar chart shows the distribution over levels p(x_i | x_<i) that the pixel being drawn
comes from, with the level drawn highlighted, and the pixel is outlined on the first completion;
a speed control steps the painting one pixel per click, or runs it slowly or fast."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from latentlab.app.charts import PanelChart, panel_chart
from latentlab.app.family_panel import FamilyPanel, PanelHost
from latentlab.app.image_source import ImageSource
from latentlab.app.image_strip import ImageStrip
from latentlab.app.mask_canvas import MaskCanvas
from latentlab.app.qimage import to_qpixmap
from latentlab.app.run_button import RunButton
from latentlab.app.turns import Throttle
from latentlab.explore.painting import MASK_PRESETS, Pace, PaintStep, mask_preset, paint
from latentlab.modelfile import LoadedModel

__all__ = ["PixelRNNPanel"]

_SECONDS = 3.0  # a fast painting is spread over about this long, so that it can be watched
_LIVE_PIXELS = 96  # the first completion, with the pixel being drawn outlined
_PACES = {
    "step": ("Step", "Draw one pixel per click (starts a painting when none runs)"),
    "slow": ("Slow", "Draw a pixel every fraction of a second: time to read its distribution"),
    "fast": ("Fast", "Draw the whole painting in a few seconds"),
}
_BAR_BRUSHES = {1: ["#9e9e9e"], 3: ["#e57373", "#81c784", "#64b5f6"]}  # grey; or R, G, B
_DRAWN_BRUSH = pg.mkBrush("#d95f02")
_MARKER_PEN = pg.mkPen("#e02020", width=2)


class PixelRNNPanel(FamilyPanel):
    """Source image and mask on the left; completions, painted as they are drawn, below, beside
    the distribution of the pixel being drawn."""

    title = "Paint"

    def __init__(self, host: PanelHost, parent: QWidget | None = None) -> None:
        super().__init__(host, parent)
        self.setObjectName("pixelrnnPanel")
        self.loaded: LoadedModel | None = None
        self.pace = Pace()
        self.last_step: PaintStep | None = None
        self._seed = 0
        self._live_pixels = _LIVE_PIXELS
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
        self.pace_buttons = QButtonGroup(self)
        speed = QHBoxLayout()
        speed.setSpacing(0)
        for mode, (text, tip) in _PACES.items():
            button = QPushButton(text)
            button.setObjectName(f"pace:{mode}")
            button.setCheckable(True)
            button.setChecked(mode == "fast")
            button.setToolTip(tip)
            button.clicked.connect(lambda _checked=False, m=mode: self.set_pace(m))
            self.pace_buttons.addButton(button)
            speed.addWidget(button)
        self.results = ImageStrip("Paint a mask, then Complete")
        self.results.setObjectName("completions")
        self.results.setToolTip(
            "Completions: pixels outside the mask are the source's own. Click one to show it above."
        )
        self.results.imageClicked.connect(self._on_completion_clicked)
        self.live = QLabel()
        self.live.setObjectName("paintingPixel")
        self.live.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.live.setMinimumSize(_LIVE_PIXELS, _LIVE_PIXELS)
        self.live.setToolTip("The first completion: the pixel being drawn is outlined in red")
        self.chart: PanelChart | None = None  # built with the first pixel drawn
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8, pen=pg.mkPen(None))
        self._bars_shape = (0, 0)  # the channels and levels the bars' colours are set for
        self._step_drawer = Throttle(self, self._draw_last_step)
        self.drawn_bars = pg.BarGraphItem(
            x=[], height=[], width=0.8, brush=_DRAWN_BRUSH, pen=pg.mkPen(None)
        )
        self._presenting = False
        self.chart_title = QLabel("The next pixel's distribution shows here while painting")
        self.chart_title.setObjectName("nextPixelTitle")

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
        run.addWidget(QLabel("speed"))
        run.addLayout(speed)
        run.addWidget(self.paint_button)
        self.distribution = QVBoxLayout()
        self.distribution.addWidget(self.chart_title)
        watch = QHBoxLayout()
        watch.addWidget(self.results, 2)
        watch.addWidget(self.live)
        watch.addLayout(self.distribution, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 2)
        layout.addLayout(run)
        layout.addLayout(watch, 3)

    # -- the source image and mask -------------------------------------------------------------

    def show_model(self, loaded: LoadedModel) -> None:
        self.release()  # the completions of the model before
        self.loaded = loaded
        c, h, w = loaded.model.image_shape
        self.canvas.set_image(np.zeros((c, h, w), dtype=np.float32))
        self.preset.setCurrentText("all")  # a blank source: sample from scratch
        self._apply_preset()
        self.live.clear()
        for bars in (self.bars, self.drawn_bars):
            bars.setOpts(x=[], height=[])

    def release(self) -> None:
        self.loaded, self.last_step = None, None
        self._set_results(None)

    def _build_chart(self) -> PanelChart:
        """The bar chart of the next pixel's distribution, built when first needed: a plot
        costs the GUI thread tens of milliseconds, and opening a model is its busiest moment."""
        chart = panel_chart("nextPixelChart", "level", "probability", 110)
        chart.getAxis("left").enableAutoSIPrefix(False)
        chart.setToolTip(
            "p(pixel | the pixels before it): the distribution over levels that the model "
            "draws the pixel being painted from (first completion); the level drawn is orange"
        )
        chart.addItem(self.bars)
        chart.addItem(self.drawn_bars)
        if self._presenting:
            chart.set_presentation(True, self)
        self.distribution.addWidget(chart, 1)
        return chart

    def set_presentation(self, on: bool) -> None:
        self._presenting = on
        if self.chart is not None:
            self.chart.set_presentation(on, self)
        self._live_pixels = 2 * _LIVE_PIXELS if on else _LIVE_PIXELS
        self.live.setMinimumSize(self._live_pixels, self._live_pixels)
        if self.last_step is not None:
            self._show_pixel(self.last_step)

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

    def set_pace(self, mode: str) -> None:
        """Paint one pixel per click ("step": each call draws one more, starting a painting
        when none runs), slowly ("slow") or fast ("fast")."""
        for button in self.pace_buttons.buttons():
            button.setChecked(button.objectName() == f"pace:{mode}")
        self.pace.set_mode(mode)
        if mode == "step":
            if self.paint_button.running:
                self.pace.step()
            else:
                self.complete()

    def complete(self) -> None:
        """Fill the mask of the source image, several times side by side, pixel by pixel."""
        if not self.canvas.mask_array.any():
            self.host.show_status("The mask is empty: paint over the pixels to fill", 5000)
            return
        self._seed += 1
        self.pace = Pace(self.pace.mode)
        if self.pace.mode == "step":
            self.pace.step()  # the first pixel at once
        job = self.host.submit(
            paint,
            self.canvas.image(),
            self.canvas.mask_array.copy(),
            self.count.value(),
            1.0,
            self._seed,
            _SECONDS,
            self.pace,
            watched=True,
        )
        job.previewed.connect(self._on_step)
        job.finished.connect(self._on_painted)
        self.paint_button.follow(job)

    def _on_step(self, step: PaintStep) -> None:
        self.last_step = step
        self._step_drawer.request()

    def _draw_last_step(self) -> None:
        step = self.last_step
        if step is None:  # cleared since
            return
        self._set_results(step.images)
        self._show_distribution(step)
        self._show_pixel(step)

    def _show_distribution(self, step: PaintStep) -> None:
        if self.chart is None:
            self.chart = self._build_chart()
        channels, levels = step.probabilities.shape[1:]
        if (channels, levels) != self._bars_shape:  # the colours once: each bar's brush costs
            colours = [pg.mkBrush(c) for c in _BAR_BRUSHES.get(channels, _BAR_BRUSHES[1])]
            self.bars.setOpts(
                brushes=[
                    colours[ch % len(colours)] for ch in range(channels) for _ in range(levels)
                ]
            )
            self._bars_shape = channels, levels
        width = 0.8 / channels
        offsets = (np.arange(channels) - (channels - 1) / 2) * width  # channels side by side
        x = (np.arange(levels)[None] + offsets[:, None]).ravel()  # C*L, channel-major
        drawn = step.levels[0]
        self.bars.setOpts(
            x=x,
            height=step.probabilities[0].ravel(),
            width=width,
        )
        self.drawn_bars.setOpts(
            x=drawn + offsets, height=step.probabilities[0, np.arange(channels), drawn], width=width
        )
        self.chart.setXRange(-0.5, levels - 0.5, padding=0)
        self.chart.setYRange(0, 1.1 * max(0.05, float(step.probabilities[0].max())), padding=0)
        i, j = step.position
        what = ", ".join(str(int(k)) for k in drawn)
        self.chart_title.setText(
            f"pixel row {i}, column {j}: p(level | pixels before); drew {what} (orange)"
        )

    def _show_pixel(self, step: PaintStep) -> None:
        """The first completion with the pixel just drawn outlined."""
        image = step.images[0]
        scale = max(1, self._live_pixels // max(image.shape[1:]))
        pixmap = to_qpixmap(image, scale)
        painter = QPainter(pixmap)
        painter.setPen(_MARKER_PEN)
        i, j = step.position
        painter.drawRect(QRect(j * scale, i * scale, scale - 1, scale - 1))
        painter.end()
        self.live.setPixmap(pixmap)

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
        self._step_drawer.flush()  # the last pixel's distribution
        self._set_results(images)
        self.host.show_image(images[0])
        self.host.show_status(
            f"Filled {int(self.canvas.mask_array.sum())} pixels in {len(images)} completion(s)",
            5000,
        )
