"""The base of the panels that only one family's models have (GMM components and EM, PixelRNN
painting, GAN inversion, the VAE's posterior). The main window shows one, as its first tab,
for models of its family.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
from PySide6.QtWidgets import QLabel, QWidget

from latentlab.app.jobs import Job

if TYPE_CHECKING:
    from latentlab.modelfile import LoadedModel

__all__ = ["FamilyPanel", "PanelHost", "show_computing"]


def show_computing(figures: QLabel, shown: bool) -> None:
    """Grey ``figures`` while new ones are computed, keeping the last ones when ``shown`` (else
    "computing…"): a placeholder of another length changed the panel's minimum size, and in
    presentation mode the splitters moved and the whole window was laid out again. The panel
    enables the label when it sets the new figures."""
    if not shown:
        figures.setText("computing…")
    figures.setEnabled(False)


class PanelHost(Protocol):
    """What a family panel may ask of the main window (all on the GUI thread)."""

    def submit(self, job: Callable[..., Any], *args: Any, watched: bool = False) -> Job:
        """Run ``job(model, *args)`` on the model worker; follow it through the handle."""
        ...

    def show_error(self, title: str, message: str) -> None: ...

    def show_status(self, message: str, milliseconds: int = 0) -> None: ...

    def show_image(self, image: np.ndarray) -> None: ...

    def current_image(self) -> np.ndarray | None: ...

    def set_latent(self, z: np.ndarray) -> None: ...

    def install_model(self, loaded: LoadedModel, message: str) -> bool: ...


class FamilyPanel(QWidget):
    """A family's own panel. ``title`` names its tab; :meth:`show_model` is called with each
    newly opened model of the family (the panel lives on while models of its family follow
    one another, so what it shows, e.g. a fitting curve, survives the switch). When a model of
    another family opens, the window puts the panel away (:meth:`release`) and shows it again
    for the family's next model: building a panel's charts cost a model switch 30-60 ms."""

    title: ClassVar[str]

    def __init__(self, host: PanelHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host

    def show_model(self, loaded: LoadedModel) -> None:
        raise NotImplementedError

    def release(self) -> None:
        """Put away until a model of the family opens again: let go of the model and of what
        was computed from it, so that they are freed with the model's worker."""
        raise NotImplementedError

    def set_presentation(self, on: bool) -> None:
        """Presentation mode (F11) turned on or off. Fonts scale by themselves; a panel with
        pictures, tables or charts scales them here (a third of its height for a chart at
        least, thumbnails with the space they have, table columns to their content)."""
