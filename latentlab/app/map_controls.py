"""The map's controls: which plane of latent space it shows (principal components, two
attribute directions, two latent axes, or the plane through three of the user's images; DESIGN
"Latent planes") and what colours its reference points (their labels or an attribute)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from latentlab.explore.plane import PLANE_KINDS

__all__ = ["MapControls"]

BY_LABEL = "label"

_KIND_TEXT = {  # what the menu says for each of PLANE_KINDS
    "pca": "principal components",
    "attributes": "two attributes",
    "axes": "two latent axes",
    "images": "your last three images",
}


class MapControls(QWidget):
    """A menu of plane kinds and, for the kinds that need them, the two axes; a menu of what
    colours the reference points, with a key.

    Signals (GUI thread): ``planeChosen(kind, x, y)`` when the user picks a plane; ``x`` and
    ``y`` are attribute names for "attributes", latent indices (as text) for "axes", and empty
    otherwise. ``colourChosen(name)`` when the user picks what colours the points:
    ``BY_LABEL`` or an attribute name.
    """

    planeChosen = Signal(str, str, str)
    colourChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mapControls")
        self.kind = QComboBox()
        self.kind.setObjectName("planeKind")
        self.kind.setToolTip(
            "The plane of latent space shown on the map. Changing it keeps "
            "the current image: the handle moves to where its latent lies."
        )
        for kind in PLANE_KINDS:
            self.kind.addItem(_KIND_TEXT[kind], kind)
        self.attribute_x, self.attribute_y = QComboBox(), QComboBox()
        self.axis_x, self.axis_y = QSpinBox(), QSpinBox()
        for combo, axis in ((self.attribute_x, "horizontal"), (self.attribute_y, "vertical")):
            combo.setToolTip(
                f"The attribute direction along the map's {axis} axis, through the current point"
            )
            combo.activated.connect(self._emit)
        for spin, axis in ((self.axis_x, "horizontal"), (self.axis_y, "vertical")):
            spin.setPrefix("z")
            spin.setToolTip(f"The latent coordinate along the map's {axis} axis")
            spin.valueChanged.connect(self._emit)
        self.kind.activated.connect(self._on_kind)
        self.colour = QComboBox()
        self.colour.setObjectName("mapColour")
        self.colour.setToolTip(
            "What colours the reference points: their labels, or the value "
            "of an attribute the reference images were drawn with"
        )
        self.colour.activated.connect(lambda: self.colourChosen.emit(self.colour.currentText()))
        self.key = QLabel()
        self.key.setObjectName("mapColourKey")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("plane"))
        layout.addWidget(self.kind)
        for widget in (self.attribute_x, self.attribute_y, self.axis_x, self.axis_y):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.colour_label = QLabel("colour")
        for widget in (self.colour_label, self.colour, self.key):
            layout.addWidget(widget)
        self._show_axes_of("pca")

    def reset(
        self,
        latent_dim: int,
        attributes: list[str],
        has_reference: bool,
        shown: str,
        colourings: list[str],
    ) -> None:
        """Offer the planes a new model allows, showing the kind ``shown``, and the
        ``colourings`` of its reference points (the first one shown), without emitting."""
        self.blockSignals(True)
        try:
            self.colour.clear()
            self.colour.addItems(colourings)
            for widget in (self.colour_label, self.colour):
                widget.setVisible(len(colourings) > 1)
            self.show_key(None)
            self._enable("pca", has_reference)
            self.set_attributes(attributes)
            for spin, value in ((self.axis_x, 0), (self.axis_y, 1)):
                spin.setRange(0, latent_dim - 1)
                spin.setValue(value)
            self.set_image_count(0)
            self.show_kind(shown)
        finally:
            self.blockSignals(False)

    def set_attributes(self, names: list[str]) -> None:
        """The attribute directions the model has now (the "attributes" plane needs two)."""
        for combo, default in ((self.attribute_x, 0), (self.attribute_y, 1)):
            current = combo.currentText()
            combo.clear()
            combo.addItems(names)
            index = names.index(current) if current in names else min(default, len(names) - 1)
            combo.setCurrentIndex(index)
        self._enable("attributes", len(names) >= 2)

    def set_image_count(self, count: int) -> None:
        """How many of the user's images are on the map (the "images" plane needs three)."""
        self._enable("images", count >= 3)

    def show_key(self, ends: tuple[str, str] | None) -> None:
        """The colours of the low and high ends of an attribute's values (``#rrggbb``), or no
        key (colouring by label)."""
        self.key.setVisible(ends is not None)
        if ends is not None:
            low, high = (f'<span style="color:{c}">&#9632;</span>' for c in ends)
            self.key.setText(f"{low} low &nbsp;{high} high")

    def show_kind(self, kind: str) -> None:
        """Show ``kind`` as chosen, without emitting ``planeChosen``."""
        self.kind.setCurrentIndex(self.kind.findData(kind))
        self._show_axes_of(kind)

    def _enable(self, kind: str, enabled: bool) -> None:
        item = self.kind.model().item(self.kind.findData(kind))
        item.setEnabled(enabled)

    def _show_axes_of(self, kind: str) -> None:
        self.attribute_x.setVisible(kind == "attributes")
        self.attribute_y.setVisible(kind == "attributes")
        self.axis_x.setVisible(kind == "axes")
        self.axis_y.setVisible(kind == "axes")

    def _on_kind(self) -> None:
        self._show_axes_of(self.kind.currentData())
        self._emit()

    def _emit(self) -> None:
        kind = self.kind.currentData()
        if kind == "attributes":
            x, y = self.attribute_x.currentText(), self.attribute_y.currentText()
        elif kind == "axes":
            x, y = str(self.axis_x.value()), str(self.axis_y.value())
        else:
            x = y = ""
        self.planeChosen.emit(kind, x, y)
