"""Small checks for values that come from outside: model files, session files, the command line.

Imports nothing but the standard library, so every layer (models included) may use it.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["is_finite_number", "short_repr", "shorten"]


def is_finite_number(value: Any) -> bool:
    """True for an int or float (not a bool) that is finite as a float.

    An int too large for a float counts as not finite, so ``float(value)`` is safe afterwards.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in ``...`` where it was cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short_repr(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut short, so that a value from an untrusted file cannot swamp a message."""
    return shorten(repr(value), limit)
