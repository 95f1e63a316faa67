"""Which families have a panel of their own (family identifier -> panel class)."""

from __future__ import annotations

from latentlab.app.family_panel import FamilyPanel
from latentlab.app.flow_panel import FlowLayersPanel
from latentlab.app.gmm_panel import GMMPanel
from latentlab.app.inversion_panel import InversionPanel
from latentlab.app.pixelrnn_panel import PixelRNNPanel
from latentlab.app.posterior_panel import PosteriorPanel

__all__ = ["FAMILY_PANELS"]

FAMILY_PANELS: dict[str, type[FamilyPanel]] = {
    "dcgan": InversionPanel,
    "gmm": GMMPanel,
    "nice": FlowLayersPanel,
    "pixelrnn": PixelRNNPanel,
    "realnvp": FlowLayersPanel,
    "vae": PosteriorPanel,
}
