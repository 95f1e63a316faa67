"""How the names of LatentLab's own files end. A module of its own, importing nothing: the
command line's help and usage errors need these before anything heavy is imported."""

from __future__ import annotations

__all__ = ["IMAGE_SUFFIXES", "MODEL_SUFFIX", "SESSION_SUFFIX"]

MODEL_SUFFIX = ".safetensors"
SESSION_SUFFIX = ".latentlab-session.json"

# the image files LatentLab reads (matched without regard to case)
IMAGE_SUFFIXES = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".bmp",
        ".gif",
        ".tif",
        ".tiff",
        ".webp",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
    }
)
