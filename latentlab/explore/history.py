"""Undo and redo: a list of checkpoints, one per finished action (a drag let go, a sample
chosen, a slider released, a plane picked, an endpoint taken)."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["History", "Undoable"]


class Undoable(Protocol):
    """What :class:`History` keeps checkpoints of: snapshots that can tell whether they are the
    same place (``same_as``) and that ``restore`` goes back to."""

    def snapshot(self) -> Any: ...

    def restore(self, snapshot: Any) -> None: ...


class History:
    """Checkpoints of ``target`` (an :class:`ExploreState` or the :class:`Explorer`);
    :meth:`undo` and :meth:`redo` move between them. Changes not yet checkpointed (a drag in
    progress) are checkpointed by :meth:`undo` first, so undo always goes back to where the
    last finished action started."""

    def __init__(self, target: Undoable, limit: int = 200) -> None:
        self.target, self.limit = target, limit
        self._done: list[Any] = [target.snapshot()]
        self._undone: list[Any] = []

    @property
    def can_undo(self) -> bool:
        return len(self._done) > 1 or not self.target.snapshot().same_as(self._done[-1])

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    def checkpoint(self) -> None:
        """Record where the state is now, if it moved since the last checkpoint."""
        now = self.target.snapshot()
        if not now.same_as(self._done[-1]):
            self._done = [*self._done[-(self.limit - 1) :], now]
            self._undone.clear()

    def undo(self) -> bool:
        """Go back one checkpoint; False when there is nothing to undo."""
        self.checkpoint()
        if len(self._done) < 2:
            return False
        self._undone.append(self._done.pop())
        self.target.restore(self._done[-1])
        return True

    def redo(self) -> bool:
        """Go forward again after :meth:`undo`; False when there is nothing to redo."""
        if not self._undone or not self.target.snapshot().same_as(self._done[-1]):
            return False
        self._done.append(self._undone.pop())
        self.target.restore(self._done[-1])
        return True
