"""Which families have a panel of their own (family identifier -> panel class), and showing it."""

from __future__ import annotations

from PySide6.QtWidgets import QTabWidget

from latentlab.app.family_panel import FamilyPanel, PanelHost
from latentlab.app.flow_panel import FlowLayersPanel
from latentlab.app.gmm_panel import GMMPanel
from latentlab.app.inversion_panel import InversionPanel
from latentlab.app.pixelrnn_panel import PixelRNNPanel
from latentlab.app.posterior_panel import PosteriorPanel
from latentlab.modelfile import LoadedModel

__all__ = ["FAMILY_PANELS", "show_family_panel"]

FAMILY_PANELS: dict[str, type[FamilyPanel]] = {
    "dcgan": InversionPanel,
    "glow": FlowLayersPanel,
    "gmm": GMMPanel,
    "nice": FlowLayersPanel,
    "pixelrnn": PixelRNNPanel,
    "realnvp": FlowLayersPanel,
    "vae": PosteriorPanel,
}


def show_family_panel(
    tabs: QTabWidget, panel: FamilyPanel | None, loaded: LoadedModel, host: PanelHost
) -> FamilyPanel | None:
    """Show the panel of ``loaded``'s family as the first of ``tabs`` (``panel``, the one shown
    now, stays if it is of that family, so that what it shows survives the switch); None when
    the family has no panel."""
    panel_class = FAMILY_PANELS.get(loaded.model.family)
    if panel is not None and type(panel) is not panel_class:
        tabs.removeTab(tabs.indexOf(panel))
        panel.deleteLater()
        panel = None
    if panel_class is None:
        return None
    if panel is None:
        panel = panel_class(host)
        tabs.insertTab(0, panel, panel_class.title)
    panel.show_model(loaded)
    tabs.setCurrentWidget(panel)
    return panel
