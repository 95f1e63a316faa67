"""A minimal observer: plain callbacks, no Qt, so state objects stay headless and testable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Event"]


class Event:
    """A list of callbacks invoked in order, synchronously, on the thread that emits."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)
