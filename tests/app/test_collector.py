from __future__ import annotations

import gc
import types
import weakref

from latentlab.app import collector as collector_module
from latentlab.app.collector import FULL_EVERY_S, GuiThreadCollector


class Node:
    """An object in a reference cycle: only the cycle collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_garbage_in_the_oldest_generation_is_freed_within_seconds(qapp, monkeypatch):
    clock = types.SimpleNamespace(now=1000.0)
    monkeypatch.setattr(
        collector_module, "time", types.SimpleNamespace(monotonic=lambda: clock.now)
    )
    collector = GuiThreadCollector()
    try:
        assert not gc.isenabled()
        node = Node()
        gc.collect(1)  # survives the young generations' collections: now in the oldest
        freed = weakref.ref(node)
        del node
        clock.now += FULL_EVERY_S / 2
        for _ in range(3):
            collector.check()  # only the young generations, whatever their counts
        assert freed() is not None
        clock.now += FULL_EVERY_S / 2
        collector.check()
        assert freed() is None
    finally:
        collector.deleteLater()
