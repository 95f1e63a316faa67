"""The flows' own panel (NICE, RealNVP, Glow): the change of variables layer by layer, and for
multi-scale flows what each level of the latent holds.

For one image, a row per layer with its output, its log|det J| and the running sum, and the
likelihood they add up to with the prior. Beside a coupling's name, its mask (copied positions
light, transformed dark); beside a 1x1 convolution's, its matrix W as a heat map (Glow §3.2);
beside a split's, the latent it factors out. On a second page, for multi-scale flows, one strip
per level of images whose latent redraws that level alone (:mod:`latentlab.explore.flow_levels`).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from latentlab.app.family_panel import FamilyPanel, PanelHost, show_computing
from latentlab.app.image_source import ImageSource
from latentlab.app.image_strip import ImageStrip
from latentlab.app.qimage import to_qpixmap
from latentlab.explore.flow_levels import FlowLevel, LevelResamples, flow_levels, resample_levels
from latentlab.explore.flow_trace import FlowTrace, LayerTrace, mask_picture, trace_flow
from latentlab.modelfile import LoadedModel
from latentlab.models.flow import FlowModel

__all__ = ["FlowLayersPanel", "weight_heat_map"]

_ICON_HEIGHT = 28  # the thumbnails' height in the table; twice that when presenting
_COLUMNS = ("output", "layer", "shape", "log|det J|", "sum")
_CHOOSE = "Choose an image to follow it through the flow, layer by layer"
_DRAWS = 3  # images per level: in one row at twice their size when presenting at 1920x1080
_STRIP_HEIGHT = 36  # each level's strip, at least: strips grow with the space they are given
_MASK_CORNER = 6  # the mask beside a coupling's name: each channel's top-left 6x6 positions
_MASK_SHADES = (0.15, 0.8)  # transformed, copied: light grey stands out from a white cell
_WEIGHT_COLOURS = pg.colormap.get("CET-D1")  # blue (negative) to red (positive) through grey


def weight_heat_map(weight: np.ndarray) -> np.ndarray:
    """A C,C matrix as a 3,C,C uint8 picture on a diverging scale: 0 grey, the largest
    magnitude full blue (negative) or red (positive)."""
    top = float(np.abs(weight).max()) or 1.0
    rgba = _WEIGHT_COLOURS.map((weight / top + 1) / 2, mode="byte")  # C, C, 4
    return np.ascontiguousarray(rgba[..., :3].transpose(2, 0, 1))


def _thumbnail(picture: np.ndarray, height: int) -> QPixmap:
    """``picture`` enlarged by the whole factor nearest to filling ``height`` x 4*``height``
    (whole factors keep pixels crisp)."""
    h, w = picture.shape[1:]
    return to_qpixmap(picture, max(1, round(min(height / h, 4 * height / w))))


def _beside_name(layer: LayerTrace, height: int) -> QPixmap | None:
    """What is drawn beside a layer's name: a coupling's mask, a 1x1 convolution's W, the
    latent a split factors out; None for the other layers."""
    if layer.mask is not None:  # a corner: a whole fine checkerboard looks the same either way
        corner = mask_picture(layer.mask[:, :_MASK_CORNER, :_MASK_CORNER])
        dark, light = _MASK_SHADES
        return _thumbnail(dark + (light - dark) * corner, height)
    if layer.weight is not None:
        return _thumbnail(weight_heat_map(layer.weight), height)
    if layer.factored is not None:
        return _thumbnail(layer.factored, height)
    return None


class FlowLayersPanel(FamilyPanel):
    """The chosen image, a table of the flow's layers, the likelihood they add up to and, for
    multi-scale flows, its levels redrawn one at a time."""

    title = "Layers"

    def __init__(self, host: PanelHost, parent: QWidget | None = None) -> None:
        super().__init__(host, parent)
        self.setObjectName("flowLayersPanel")
        self.loaded: LoadedModel | None = None
        self.trace: FlowTrace | None = None
        self.image: np.ndarray | None = None  # the image followed
        self.levels: list[FlowLevel] = []
        self.resampled: LevelResamples | None = None
        self._seed = 0
        self._icon_height = _ICON_HEIGHT
        self.source = ImageSource(host, "Follow")
        self.source.imageChosen.connect(self.follow)
        self.summary = QLabel(_CHOOSE)
        self.summary.setObjectName("flowSummary")
        self.summary.setWordWrap(True)
        self.table = self._build_table()
        self.levels_page = self._build_levels_page()
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.source, 0, Qt.AlignmentFlag.AlignTop)
        # two pages, not one above the other: a presentation gives this panel a quarter of the
        # screen's height, too little for both
        self.pages = QTabWidget()
        self.pages.setObjectName("flowPages")
        self.pages.setDocumentMode(True)
        self.pages.addTab(self.table, "Layer by layer")
        self.pages.addTab(self.levels_page, "Levels")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.pages, 1)

    def _build_table(self) -> QTableWidget:
        table = QTableWidget(0, len(_COLUMNS))
        table.setObjectName("flowLayers")
        table.setHorizontalHeaderLabels(_COLUMNS)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().hide()
        table.setWordWrap(True)
        table.setTextElideMode(Qt.TextElideMode.ElideNone)
        header = table.horizontalHeader()
        for column in range(len(_COLUMNS)):
            header.setSectionResizeMode(
                column,
                QHeaderView.ResizeMode.Stretch
                if _COLUMNS[column] == "layer"
                else QHeaderView.ResizeMode.ResizeToContents,
            )
        # rows follow the wrapped description as the layer column widens or narrows
        header.sectionResized.connect(lambda *_: table.resizeRowsToContents())
        table.setToolTip(
            "Each layer's output (its channels in a grid, dark to light from its lowest to its "
            "highest value) and how much it stretches volume, in nats: log p(x) = log p(z) + "
            "the sum of the log-dets. Beside a coupling, its mask (the top-left corner of each "
            "channel): the positions it copies light, those it transforms dark. Beside a 1x1 "
            "convolution, its matrix W (blue negative, red positive). Beside a split, the "
            "latent it factors out"
        )
        return table

    def _build_levels_page(self) -> QWidget:
        box = QWidget()
        box.setObjectName("flowLevels")
        box.setToolTip(
            "Each column redraws one level of the followed image's latent from the prior at this "
            "temperature and keeps the others: what that scale of the model holds. Click an "
            "image to make it the current point"
        )
        self.temperature = QDoubleSpinBox()
        self.temperature.setObjectName("levelTemperature")
        self.temperature.setRange(0.0, 1.5)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(0.7)  # Glow's samples (§5)
        self.resample_button = QPushButton("Resample")
        self.resample_button.setObjectName("resampleLevels")
        self.resample_button.setToolTip("Draw the levels again (Ctrl+R)")
        self.resample_button.clicked.connect(self.resample)
        QShortcut(QKeySequence("Ctrl+R"), self, self.resample)
        # wrapped, so that the panel does not widen the window's right side (and narrow the
        # map) for every flow opened
        explanation = QLabel("Each level redrawn, the others kept;  temperature")
        explanation.setWordWrap(True)
        explanation.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        controls = QHBoxLayout()
        controls.addWidget(explanation, 1)
        controls.addWidget(self.temperature)
        controls.addWidget(self.resample_button)
        self.level_grid = QGridLayout()
        self.level_grid.setRowStretch(1, 1)  # the strips take the height the names leave
        self.level_grid.setVerticalSpacing(0)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 4, 0, 0)  # every pixel of height enlarges the strips
        layout.setSpacing(2)
        layout.addLayout(controls)
        layout.addLayout(self.level_grid, 1)
        self.level_names: list[QLabel] = []
        self.level_strips: list[ImageStrip] = []
        return box

    def show_model(self, loaded: LoadedModel) -> None:
        self.release()  # what the panel showed of the model before
        self.loaded = loaded
        self.summary.setText(_CHOOSE)
        self.summary.setEnabled(True)
        model = loaded.model
        assert isinstance(model, FlowModel)  # FAMILY_PANELS gives this panel to flows only
        self._show_levels(flow_levels(model))

    def release(self) -> None:
        self.loaded, self.trace, self.image, self.resampled = None, None, None, None
        self.table.setRowCount(0)

    def _show_levels(self, levels: list[FlowLevel]) -> None:
        """One column per level: its name and shape, and a strip for its redraws."""
        self.levels = levels
        for widget in [*self.level_names, *self.level_strips]:
            self.level_grid.removeWidget(widget)
            widget.deleteLater()
        for column in range(self.level_grid.columnCount()):
            self.level_grid.setColumnStretch(column, 0)
        self.level_names, self.level_strips = [], []
        for i, level in enumerate(levels):
            name = QLabel(f"{level.name}: " + "x".join(str(s) for s in level.shape))
            strip = ImageStrip(f"{level.name} redrawn: follow an image")
            strip.setObjectName(f"levelStrip{i + 1}")
            strip.imageClicked.connect(lambda j, i=i: self._on_view_level_clicked(i, j))
            # side by side: the panel is wider than high, more so when presenting
            self.level_grid.addWidget(name, 0, i)
            self.level_grid.addWidget(strip, 1, i)
            self.level_grid.setColumnStretch(i, 1)
            self.level_names.append(name)
            self.level_strips.append(strip)
            strip.setMinimumHeight(_STRIP_HEIGHT)
        if not levels:
            self.pages.setCurrentWidget(self.table)
        self.pages.setTabVisible(1, bool(levels))
        self.pages.tabBar().setVisible(bool(levels))

    def follow(self, image: np.ndarray) -> None:
        """Trace ``image`` (``C,H,W`` in [0, 1]) through the flow on the worker and show it;
        redraw its levels too for a multi-scale flow."""
        self.image = image
        show_computing(self.summary, self.trace is not None)
        self.host.submit(trace_flow, image, watched=True).finished.connect(self.show_trace)
        if self.levels:
            self.resample()

    def resample(self) -> None:
        """Redraw each level of the followed image (else the current one) on the worker."""
        image = self.image if self.image is not None else self.host.current_image()
        if not self.levels or image is None:
            self.host.show_status("Follow an image first: its levels are redrawn", 5000)
            return
        self._seed += 1  # each press draws anew; the sequence is reproducible
        job = self.host.submit(
            resample_levels, image, _DRAWS, self.temperature.value(), self._seed, watched=True
        )
        job.finished.connect(self.show_levels)

    def show_levels(self, result: LevelResamples) -> None:
        if result.levels != self.levels:
            return  # of a model closed since
        self.resampled = result
        for strip, images in zip(self.level_strips, result.images, strict=True):
            strip.set_images(images)

    def _on_view_level_clicked(self, level: int, index: int) -> None:
        if self.resampled is not None:
            self.host.set_latent(self.resampled.latents[level, index])

    def show_trace(self, trace: FlowTrace) -> None:
        self.trace = trace
        # Columns and rows are fitted once at the end: fitted to their content at each cell,
        # filling Glow's 43 rows took over 100 ms of the GUI thread.
        header = self.table.horizontalHeader()
        modes = [header.sectionResizeMode(c) for c in range(header.count())]
        header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.setRowCount(len(trace.layers))
        total, largest = 0.0, QSize(0, 0)
        for row, layer in enumerate(trace.layers):
            total += layer.logdet
            pictures = [_thumbnail(layer.picture, self._icon_height)]
            pictures += [p for p in [_beside_name(layer, self._icon_height)] if p is not None]
            for picture in pictures:
                largest = largest.expandedTo(picture.size())
            name = QTableWidgetItem(
                f"{layer.label}\n{layer.detail}" if layer.detail else layer.label
            )
            if len(pictures) > 1:
                name.setIcon(QIcon(pictures[1]))
            name.setToolTip(layer.detail)
            cells = [
                QTableWidgetItem(QIcon(pictures[0]), ""),
                name,
                QTableWidgetItem("x".join(str(s) for s in layer.shape)),
                QTableWidgetItem(f"{layer.logdet:+.2f}"),
                QTableWidgetItem(f"{total:+.2f}"),
            ]
            for column, cell in enumerate(cells):
                if column >= 3:
                    cell.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(row, column, cell)
        for column, mode in enumerate(modes):
            header.setSectionResizeMode(column, mode)
        self._fit_table(largest)
        self.summary.setText(
            f"log p(x) = log p(z) {trace.prior:+.1f} + log-dets {total:+.1f} = "
            f"{trace.log_density:.1f} nats for the dequantized image, "
            f"{trace.bits_per_dim:.3f} bits/dim at its {trace.levels} levels"
        )
        self.summary.setEnabled(True)

    def _fit_table(self, icons: QSize) -> None:
        """Icons as large as the largest picture (``icons``); every column but the layer's
        as wide as what it holds, and the layer's description wrapped in the width left, so
        that the figures stay in view and no cell is cut short."""
        self.table.setIconSize(icons)
        self.table.resizeRowsToContents()

    def set_presentation(self, on: bool) -> None:
        """The table's thumbnails twice as large, and its columns and rows refitted to the
        larger text and pictures (cells would otherwise read "…"); the level strips grow by
        themselves with the space they get."""
        self._icon_height = 2 * _ICON_HEIGHT if on else _ICON_HEIGHT
        if self.trace is not None:
            self.show_trace(self.trace)  # rebuilt with the larger thumbnails and text
