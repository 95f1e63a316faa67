"""Where the example plugin lives and what it declares (importable as ``installing``)."""

from __future__ import annotations

from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "latentlab-plugin-example"
EXAMPLE_ENTRY_POINTS = {"ppca": "latentlab_ppca:PPCA"}
