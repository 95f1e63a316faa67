"""Files shipped with LatentLab: bundled models, sample images, style."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_MODEL", "RESOURCES", "bundled_models", "default_model_path"]

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
DEFAULT_MODEL = "glow-synthfaces"


def bundled_models() -> dict[str, Path]:
    """Bundled model files by name (the file name without ``.safetensors``), sorted."""
    return {p.stem: p for p in sorted((RESOURCES / "models").glob("*.safetensors"))}


def default_model_path() -> Path:
    """The model the app opens when none is given."""
    return RESOURCES / "models" / f"{DEFAULT_MODEL}.safetensors"
