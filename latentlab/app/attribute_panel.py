"""One slider per attribute direction, applied live to the current point."""

from __future__ import annotations

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

__all__ = ["AttributePanel"]

# A slider's unit is one standard deviation of the reference images' latents along its
# direction: +-3 spans nearly all of them, so an edit stays where the model has seen data.
_STEPS_PER_UNIT = 100
_RANGE = 3


class AttributePanel(QWidget):
    """Signals (GUI thread): ``amountChanged(name, amount)`` while a slider moves;
    ``groupsChanged(list of bool)`` when the user picks which latent groups edits touch;
    ``groupTaken(which)`` ("A" or "B") to take the map's selected points as a group;
    ``directionRequested(name)`` to add a direction from group A to group B;
    ``saveRequested()`` to save a copy of the model file with the directions."""

    amountChanged = Signal(str, float)
    groupsChanged = Signal(list)
    groupTaken = Signal(str)
    directionRequested = Signal(str)
    saveRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("attributePanel")
        self.sliders: dict[str, QSlider] = {}
        self._spreads: dict[str, float] = {}  # name -> the amount one slider unit is
        self._values: dict[str, QLabel] = {}
        self._group_boxes: list[QWidget] = []  # the group checkboxes and the label before them
        self._rows = QGridLayout()
        self._rows.setColumnStretch(1, 1)
        self._groups = QHBoxLayout()
        self._empty = QLabel("This model has no attribute directions.")
        self._empty.setWordWrap(True)
        self._empty.setStyleSheet("color: #666")
        reset = QPushButton("Reset")
        reset.setToolTip("Set every attribute back to 0")
        reset.clicked.connect(self.reset)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self._empty)
        layout.addLayout(self._rows)
        layout.addLayout(self._groups)
        layout.addWidget(reset, 0, Qt.AlignmentFlag.AlignRight)
        layout.addStretch(1)
        layout.addWidget(self._build_new_direction())
        # many sliders scroll rather than take height from the image above the tabs
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    def _build_new_direction(self) -> QGroupBox:
        box = QGroupBox("New direction from the map")
        box.setToolTip(
            "Click reference points on the map to select them, take them as group "
            "A (without the attribute) and group B (with it), then add."
        )
        self.group_buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for which in "AB":
            button = QPushButton(f"{which} ← selected (0)")
            button.setObjectName(f"group{which}")
            button.clicked.connect(lambda _=False, w=which: self.groupTaken.emit(w))
            row.addWidget(button)
            self.group_buttons[which] = button
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("directionName")
        self.name_edit.setPlaceholderText("name, e.g. thick_strokes")
        self.name_edit.setValidator(QRegularExpressionValidator(QRegularExpression(r"\w{1,64}")))
        add = QPushButton("Add")
        add.setObjectName("addDirection")
        add.setToolTip("Add the direction from the mean of group A to the mean of group B")
        add.clicked.connect(lambda: self.directionRequested.emit(self.name_edit.text()))
        save = QPushButton("Save model copy…")
        save.setObjectName("saveDirections")
        save.setToolTip("Save a copy of the model file that includes these directions")
        save.clicked.connect(self.saveRequested)
        name_row = QHBoxLayout()
        name_row.addWidget(self.name_edit, 1)
        name_row.addWidget(add)
        layout = QVBoxLayout(box)
        layout.addLayout(row)
        layout.addLayout(name_row)
        layout.addWidget(save, 0, Qt.AlignmentFlag.AlignRight)
        return box

    def set_group_size(self, which: str, count: int) -> None:
        self.group_buttons[which].setText(f"{which} ← selected ({count})")

    def set_directions(
        self, names: list[str], groups: list[str], spreads: dict[str, float] | None = None
    ) -> None:
        """Rebuild the sliders for ``names``, each in units of ``spreads[name]`` (the amount of
        one standard deviation of the reference latents along it; 1 if not given); offer group
        checkboxes when there are several groups."""
        self._spreads = {name: (spreads or {}).get(name, 1.0) for name in names}
        for widget in [*self.sliders.values(), *self._values.values(), *self._group_boxes]:
            widget.deleteLater()
        while self._rows.count():
            item = self._rows.takeAt(0)
            if item is not None and (child := item.widget()) is not None:
                child.deleteLater()
        self.sliders, self._values, self._group_boxes = {}, {}, []
        for row, name in enumerate(names):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setObjectName(f"attr:{name}")
            slider.setRange(-_RANGE * _STEPS_PER_UNIT, _RANGE * _STEPS_PER_UNIT)
            slider.setToolTip(
                f"Move the current image along '{name}' (0 = unchanged), in standard "
                "deviations (σ) of the reference images along it: ±3 spans nearly all of them"
            )
            value = QLabel(_shown(0.0))
            value.setMinimumWidth(52)
            slider.valueChanged.connect(lambda v, n=name: self._on_slider(n, v))
            self._rows.addWidget(QLabel(name.replace("_", " ")), row, 0)
            self._rows.addWidget(slider, row, 1)
            self._rows.addWidget(value, row, 2)
            self.sliders[name], self._values[name] = slider, value
        self._empty.setVisible(not names)
        if len(groups) > 1:
            label = QLabel("edit scales:")
            self._groups.addWidget(label)
            self._group_boxes.append(label)
            for group in groups:
                box = QCheckBox(group)
                box.setChecked(True)
                box.setToolTip("Attribute edits change this part of the latent")
                box.toggled.connect(self._on_groups)
                self._groups.addWidget(box)
                self._group_boxes.append(box)

    def set_amounts(self, amounts: dict[str, float]) -> None:
        """Show ``amounts`` without emitting ``amountChanged``."""
        for name, amount in amounts.items():
            slider = self.sliders.get(name)
            if slider is not None:
                units = amount / self._spreads[name]
                slider.blockSignals(True)
                slider.setValue(round(units * _STEPS_PER_UNIT))
                slider.blockSignals(False)
                self._values[name].setText(_shown(units))

    def reset(self) -> None:
        for slider in self.sliders.values():
            slider.setValue(0)

    def _on_slider(self, name: str, value: int) -> None:
        units = value / _STEPS_PER_UNIT
        self._values[name].setText(_shown(units))
        self.amountChanged.emit(name, units * self._spreads[name])

    def _on_groups(self) -> None:
        boxes = [b for b in self._group_boxes if isinstance(b, QCheckBox)]
        self.groupsChanged.emit([b.isChecked() for b in boxes])


def _shown(units: float) -> str:
    return f"{units:+.2f}σ"
