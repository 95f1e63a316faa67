"""Small checks for values that come from outside: model files, session files, the command line.

Imports nothing but the standard library, so every layer (models included) may use it.
"""

from __future__ import annotations

import math
import reprlib
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


# Containers are shown a few items and levels deep, and strings in them a few dozen characters
_CONTAINER_REPR = reprlib.Repr()


def short_repr(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut short, so that a value from an untrusted file cannot swamp a message.

    Only a bounded part of a value is ever formatted: a 50 MB string or a deeply nested list
    costs no more than a short one.
    """
    if isinstance(value, str):
        return shorten(repr(value[: limit + 1]), limit)  # one more: the cut shows as "..."
    try:
        text = repr(value) if isinstance(value, (int, float)) else _CONTAINER_REPR.repr(value)
    except ValueError:  # an int with more digits than Python will print
        text = f"<an integer of {value.bit_length():,} bits>"
    return shorten(text, limit)
