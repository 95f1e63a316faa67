"""Which families have a panel of their own, and showing it. A panel's module is imported when
a model of its family first opens: the panels run model code (torch), and the window shows
before torch has loaded (latentlab.app.model_code)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QTabWidget

from latentlab.app.family_panel import FamilyPanel, PanelHost

if TYPE_CHECKING:
    from latentlab.modelfile import LoadedModel

__all__ = ["FAMILY_PANELS", "panel_class", "show_family_panel"]

# family identifier -> (module in latentlab.app, panel class)
FAMILY_PANELS: dict[str, tuple[str, str]] = {
    "dcgan": ("inversion_panel", "InversionPanel"),
    "glow": ("flow_panel", "FlowLayersPanel"),
    "gmm": ("gmm_panel", "GMMPanel"),
    "nice": ("flow_panel", "FlowLayersPanel"),
    "pixelrnn": ("pixelrnn_panel", "PixelRNNPanel"),
    "realnvp": ("flow_panel", "FlowLayersPanel"),
    "vae": ("posterior_panel", "PosteriorPanel"),
}


def panel_class(family: str) -> type[FamilyPanel] | None:
    """The panel class of ``family``; None when the family has no panel of its own."""
    if family not in FAMILY_PANELS:
        return None
    module, name = FAMILY_PANELS[family]
    panel: type[FamilyPanel] = getattr(importlib.import_module(f"latentlab.app.{module}"), name)
    return panel


def show_family_panel(
    tabs: QTabWidget,
    panel: FamilyPanel | None,
    loaded: LoadedModel,
    host: PanelHost,
    kept: dict[type[FamilyPanel], FamilyPanel],
) -> FamilyPanel | None:
    """Show the panel of ``loaded``'s family as the first of ``tabs`` (``panel``, the one shown
    now, stays if it is of that family, so that what it shows survives the switch); None when
    the family has no panel. A panel put away is kept in ``kept`` (one per panel class) and
    shown again for the family's next model."""
    wanted = panel_class(loaded.model.family)
    if panel is not None and type(panel) is not wanted:
        tabs.removeTab(tabs.indexOf(panel))
        panel.hide()
        panel.release()
        panel = None
    if wanted is None:
        return None
    if panel is None:
        panel = kept.get(wanted)
        if panel is None:
            panel = kept[wanted] = wanted(host)
        tabs.insertTab(0, panel, wanted.title)
    panel.show_model(loaded)
    tabs.setCurrentWidget(panel)
    return panel
