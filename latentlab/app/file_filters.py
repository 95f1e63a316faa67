"""The file kinds the app's open and save dialogs offer."""

from __future__ import annotations

from latentlab.suffixes import IMAGE_SUFFIXES, MODEL_SUFFIX, SESSION_SUFFIX

__all__ = ["IMAGE_FILTER", "MODEL_FILTER", "OPEN_FILTER", "SESSION_FILTER"]

IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ");;All files (*)"
MODEL_FILTER = f"LatentLab models (*{MODEL_SUFFIX});;All files (*)"
SESSION_FILTER = f"LatentLab sessions (*{SESSION_SUFFIX});;All files (*)"
OPEN_FILTER = (
    f"Models, PyTorch checkpoints and sessions (*{MODEL_SUFFIX} *.pth *.pt *{SESSION_SUFFIX})"
    f";;{MODEL_FILTER}"
)
