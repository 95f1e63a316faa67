"""The map's controls: which plane of latent space it shows (one of the kinds of
``latentlab.explore.plane.PLANE_KINDS``, which says what each needs) and what colours its
reference points (their labels or an attribute)."""

from __future__ import annotations

from typing import cast

from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from latentlab.explore.plane import PLANE_KINDS, PlaneInputs

__all__ = ["MapControls"]

BY_LABEL = "label"


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
        for kind in PLANE_KINDS.values():
            self.kind.addItem(kind.text, kind.name)
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
        for axis_widget in (self.attribute_x, self.attribute_y, self.axis_x, self.axis_y):
            layout.addWidget(axis_widget)
        layout.addStretch(1)
        self.colour_label = QLabel("colour")
        for colour_widget in (self.colour_label, self.colour, self.key):
            layout.addWidget(colour_widget)
        self._show_axes_of("pca")

    def reset(self, inputs: PlaneInputs, shown: str, colourings: list[str]) -> None:
        """Offer the planes a new model allows (``inputs``: what planes are made from), showing
        the kind ``shown``, and the ``colourings`` of its reference points (the first one
        shown), without emitting."""
        self.blockSignals(True)
        try:
            self.colour.clear()
            self.colour.addItems(colourings)
            for widget in (self.colour_label, self.colour):
                widget.setVisible(len(colourings) > 1)
            self.show_key(None)
            for spin, value in ((self.axis_x, 0), (self.axis_y, 1)):
                spin.setRange(0, len(inputs.current) - 1)
                spin.setValue(value)
            self.set_available(inputs)
            self.show_kind(shown)
        finally:
            self.blockSignals(False)

    def set_available(self, inputs: PlaneInputs) -> None:
        """Enable the kinds of plane that can be made from ``inputs``, and offer its attribute
        directions as axes."""
        names = sorted(inputs.directions)
        for combo, default in ((self.attribute_x, 0), (self.attribute_y, 1)):
            current = combo.currentText()
            combo.clear()
            combo.addItems(names)
            index = names.index(current) if current in names else min(default, len(names) - 1)
            combo.setCurrentIndex(index)
        kinds = cast(QStandardItemModel, self.kind.model())  # a QComboBox's own model
        for kind in PLANE_KINDS.values():
            item = kinds.item(self.kind.findData(kind.name))
            item.setEnabled(kind.available(inputs))
            item.setToolTip("" if kind.available(inputs) else f"Not available: {kind.needs}")

    def show_key(self, ends: tuple[str, str] | None) -> None:
        """The colours of the low and high ends of an attribute's values (``#rrggbb``), or no
        key (colouring by label)."""
        self.key.setVisible(ends is not None)
        if ends is not None:
            low, high = (f'<span style="color:{c}">&#9632;</span>' for c in ends)
            self.key.setText(f"{low} low &nbsp;{high} high")

    def show_kind(self, kind: str, x: str = "", y: str = "") -> None:
        """Show ``kind`` as chosen, and for the kinds with choices its axes ``x`` and ``y`` (as
        ``planeChosen`` gives them), without emitting ``planeChosen``: an undo, a redo or a
        session may bring any plane back."""
        blocked = self.blockSignals(True)
        try:
            self.kind.setCurrentIndex(self.kind.findData(kind))
            self._show_axes_of(kind)
            axes = PLANE_KINDS[kind].axes if kind in PLANE_KINDS else ""
            if axes == "attributes":
                for combo, name in ((self.attribute_x, x), (self.attribute_y, y)):
                    if combo.findText(name) >= 0:
                        combo.setCurrentText(name)
            elif axes == "latent axes":
                for spin, index in ((self.axis_x, x), (self.axis_y, y)):
                    if index.isdigit():  # a session's plane is read from a file
                        spin.setValue(int(index))
        finally:
            self.blockSignals(blocked)

    def _show_axes_of(self, kind: str) -> None:
        axes = PLANE_KINDS[kind].axes
        for combo in (self.attribute_x, self.attribute_y):
            combo.setVisible(axes == "attributes")
        for spin in (self.axis_x, self.axis_y):
            spin.setVisible(axes == "latent axes")

    def _on_kind(self) -> None:
        self._show_axes_of(self.kind.currentData())
        self._emit()

    def _emit(self) -> None:
        kind = self.kind.currentData()
        axes = PLANE_KINDS[kind].axes
        if axes == "attributes":
            x, y = self.attribute_x.currentText(), self.attribute_y.currentText()
        elif axes == "latent axes":
            x, y = str(self.axis_x.value()), str(self.axis_y.value())
        else:
            x = y = ""
        self.planeChosen.emit(kind, x, y)

    # The row keeps one height whichever controls are shown (a spin box is a pixel taller or
    # shorter than a menu): else the map below was laid out, and repainted whole, again.
    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), self._row_height())

    def minimumSizeHint(self) -> QSize:
        return QSize(super().minimumSizeHint().width(), self._row_height())

    def _row_height(self) -> int:
        controls: list[QWidget] = [self.kind, self.attribute_x, self.axis_x, self.colour, self.key]
        return max(control.sizeHint().height() for control in controls)
