"""Undo and redo for the exploration state: a list of checkpoints, one per finished action
(a drag let go, a sample chosen, a slider released, a plane picked)."""

from __future__ import annotations

from latentlab.explore.state import ExploreState, Snapshot

__all__ = ["History"]


class History:
    """Checkpoints of ``state``; :meth:`undo` and :meth:`redo` move between them. Changes not
    yet checkpointed (a drag in progress) are checkpointed by :meth:`undo` first, so undo
    always goes back to where the last finished action started."""

    def __init__(self, state: ExploreState, limit: int = 200) -> None:
        self.state, self.limit = state, limit
        self._done: list[Snapshot] = [state.snapshot()]
        self._undone: list[Snapshot] = []

    @property
    def can_undo(self) -> bool:
        return len(self._done) > 1 or not self.state.snapshot().same_as(self._done[-1])

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    def checkpoint(self) -> None:
        """Record where the state is now, if it moved since the last checkpoint."""
        now = self.state.snapshot()
        if not now.same_as(self._done[-1]):
            self._done = [*self._done[-(self.limit - 1) :], now]
            self._undone.clear()

    def undo(self) -> bool:
        """Go back one checkpoint; False when there is nothing to undo."""
        self.checkpoint()
        if len(self._done) < 2:
            return False
        self._undone.append(self._done.pop())
        self.state.restore(self._done[-1])
        return True

    def redo(self) -> bool:
        """Go forward again after :meth:`undo`; False when there is nothing to redo."""
        if not self._undone or not self.state.snapshot().same_as(self._done[-1]):
            return False
        self._done.append(self._undone.pop())
        self.state.restore(self._done[-1])
        return True
