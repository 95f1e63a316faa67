"""An example LatentLab plugin: probabilistic PCA (Tipping & Bishop, 1999) as a model family."""

from __future__ import annotations

from latentlab_ppca.model import PPCA, PPCAConfig, fit_ppca

__all__ = ["PPCA", "PPCAConfig", "fit_ppca"]
__version__ = "0.1.0"
