"""Which families have a panel of their own (family identifier -> panel class)."""

from __future__ import annotations

from latentlab.app.family_panel import FamilyPanel
from latentlab.app.gmm_panel import GMMPanel

__all__ = ["FAMILY_PANELS"]

FAMILY_PANELS: dict[str, type[FamilyPanel]] = {"gmm": GMMPanel}
