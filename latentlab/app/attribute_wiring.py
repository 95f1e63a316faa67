"""The attribute panel's wiring: sliders that move the current point along directions, the
scales an edit may change, groups of reference points that make a new direction, and saving a
copy of the model with its directions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from latentlab.app.file_filters import MODEL_FILTER
from latentlab.explore.explorer import OpenedModel

if TYPE_CHECKING:
    from latentlab.app.main_window import MainWindow

# Model code (torch) is imported in the methods that submit it: the window shows before torch
# has loaded (latentlab.app.model_code).

__all__ = ["AttributeWiring"]


class AttributeWiring(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window, self.explorer = window, window.explorer
        self.explorer.model_changed.connect(self._on_model_opened)
        self.panel = window.attribute_panel
        self.panel.amountChanged.connect(self.explorer.set_amount)
        self.panel.groupsChanged.connect(self.explorer.set_edit_groups)
        self.panel.groupTaken.connect(self.take_group)
        self.panel.directionRequested.connect(self.add_direction)
        self.panel.saveRequested.connect(self.save_model_copy)
        self.explorer.amounts_changed.connect(self.panel.set_amounts)
        self.explorer.groups_changed.connect(self._on_model_groups_changed)
        self.explorer.directions_changed.connect(self._on_model_directions_changed)

    def _on_model_opened(self, opened: OpenedModel) -> None:
        self._on_model_groups_changed({})
        if opened.plane is not None:
            self._on_model_directions_changed(sorted(self.explorer.directions))

    def take_group(self, which: str) -> None:
        """Take the reference points selected on the map as group ``which`` ("A" or "B")."""
        try:
            self.explorer.take_group(which, list(self.window.map_view.selected))
        except ValueError as exc:
            self.window.show_error("Cannot take the group", f"{exc}; select the points again")
        self.window.map_view.clear_selection()

    def _on_model_groups_changed(self, sizes: dict[str, int]) -> None:
        for which in "AB":
            self.panel.set_group_size(which, sizes.get(which, 0))

    def add_direction(self, name: str) -> None:
        """Add the direction from group A's mean latent to group B's as attribute ``name``."""
        try:
            self.explorer.add_direction(name)
        except ValueError as exc:
            hint = "select points on the map, then take them as groups A and B"
            self.window.show_error("Cannot add the direction", f"{exc} ({hint})")
            return
        self.window.show_status(f"Added direction '{name}'", 5000)

    def _on_model_directions_changed(self, names: list[str]) -> None:
        loaded = self.explorer.loaded
        assert loaded is not None  # directions belong to the open model
        groups = [name for name, _ in loaded.model.latent_groups()]
        self.panel.set_directions(names, groups, self.explorer.direction_spreads())

    def save_model_copy(self) -> None:
        """Ask where, then write the open model with the directions it has now."""
        loaded = self.explorer.loaded
        if loaded is None:
            return
        name = f"{loaded.name}-copy.safetensors"
        if path := self.window.ask_save("Save model as", name, MODEL_FILTER):
            from latentlab.explore.export import save_model_copy

            directions = dict(self.explorer.directions)
            job = self.window.submit(save_model_copy, loaded, Path(path), directions, watched=True)
            job.finished.connect(self.window.report_written)
            job.finished.connect(lambda _: self.explorer.saved_as(Path(path), list(directions)))
