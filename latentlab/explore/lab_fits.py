"""The flow fits of the 2-D lab's own process (:mod:`latentlab.explore.lab_child`), one at a
time, driven by the window's commands (:mod:`latentlab.explore.lab_messages`) and answering with
encoded replies. Headless and synchronous: the process calls :meth:`FlowFits.advance` for each
frame of a running fit and hands it the commands that came in between."""

from __future__ import annotations

from collections.abc import Callable, Generator

from latentlab.errors import one_line
from latentlab.explore.lab_flow import FlowLab, FlowLabView
from latentlab.explore.lab_messages import (
    Built,
    Command,
    Controls,
    Discard,
    Ended,
    Failed,
    Fit,
    Quit,
    Reply,
    Stop,
    Viewed,
    ViewWanted,
)
from latentlab.explore.wire import encode

__all__ = ["FlowFits"]


class FlowFits:
    """One flow fit at a time; ``send(data, replaceable)`` gets each reply encoded, views as
    replaceable (a view not yet sent when a newer one comes may be dropped for it)."""

    def __init__(self, send: Callable[[bytes, bool], None]) -> None:
        self._send = send
        self.fit = 0
        self.lab: FlowLab | None = None
        self._frames: Generator[tuple[float, FlowLabView], None, FlowLabView] | None = None

    @property
    def running(self) -> bool:
        return self._frames is not None

    def handle(self, command: Command) -> bool:
        """Carry out ``command``; False when it says to quit."""
        match command:
            case Fit():
                self._start(command)
            case Controls():
                if self.lab is not None:
                    self._apply(self.lab, command)
            case ViewWanted():
                if self.lab is not None and not self.running:
                    self._view(self.lab)
            case Stop():
                if self.running:
                    self._close()
                    self._reply(Ended(self.fit, None))
            case Discard():
                self._close()
                self.lab = None
            case Quit():
                self._close()
                return False
        return True

    def advance(self) -> None:
        """The running fit's next frame: its view sent, or its end."""
        assert self._frames is not None, "no fit is running"
        try:
            fraction, view = next(self._frames)
        except StopIteration as end:
            self._frames = None
            self._reply(Ended(self.fit, end.value))
        except Exception as exc:  # said to the user; the process goes on
            self._frames = None
            self._reply(Failed(self.fit, one_line(exc)))
        else:
            self._reply(Viewed(self.fit, fraction, view), replaceable=True)

    def _start(self, command: Fit) -> None:
        self._close()
        self.fit, self.lab = command.fit, None
        try:
            lab = FlowLab(command.points, command.kind, command.layers)
        except Exception as exc:  # bad points or settings: said to the user
            self._reply(Failed(self.fit, one_line(exc)))
            return
        self.lab = lab
        self._apply(lab, command.controls)
        self._reply(Built(self.fit, list(lab.flow.steps), lab.shown_points))
        self._frames = lab.run(command.steps)

    @staticmethod
    def _apply(lab: FlowLab, controls: Controls) -> None:
        lab.set_paused(controls.paused)
        lab.set_cursor(controls.cursor)
        lab.set_layer(controls.layer)

    def _view(self, lab: FlowLab) -> None:
        try:
            view = lab.view()
        except Exception as exc:  # said to the user; the process goes on
            self._reply(Failed(self.fit, one_line(exc)))
        else:
            self._reply(Viewed(self.fit, None, view), replaceable=True)

    def _close(self) -> None:
        if self._frames is not None:
            self._frames.close()
            self._frames = None

    def _reply(self, message: Reply, replaceable: bool = False) -> None:
        self._send(encode(message), replaceable)
