"""The one process of the app in which the 2-D lab fits its flows
(:mod:`latentlab.explore.lab_child`), seen from the GUI thread.

Starting it costs seconds (torch loads), so every lab window shares it: it starts when the first
lab window opens, while the user is still choosing data and a model, and ends when the app quits
(``aboutToQuit``, or at exit for scripts that never ran the event loop). It runs one fit at a
time: a window's new fit replaces another window's, which hears of it by ``fitStarted``. If it
dies, ``died`` says so and the next :func:`lab_process` starts a new one.

It is a new interpreter, spawned: a forked copy of the app would inherit Qt's and OpenMP's
threads in whatever state they were. It is started as ``python -m`` rather than by
multiprocessing's "spawn", which runs the parent's main script again in the child (a script
that made a lab window without an ``if __name__ == "__main__"`` guard killed it), pickles its
start and adds a process of its own to track resources. It gets our ``sys.path`` (a script may
have put the package on it) and one end of a socket pair, over which messages go both ways as
bytes (:mod:`latentlab.explore.wire`, never pickle); the GUI thread reads the replies when a
``QSocketNotifier`` says that some have come, and waits for the process only to end it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection

from PySide6.QtCore import QCoreApplication, QObject, QSocketNotifier, Signal

from latentlab.errors import one_line
from latentlab.explore.lab_messages import REPLIES, Command, Fit, Quit, Reply, Viewed
from latentlab.explore.wire import WireError, decode, encode

__all__ = ["LabProcess", "end_lab_process", "lab_process"]

READ_S = 0.02  # reading replies yields to the event loop after this long
END_S = 0.1  # how long ending waits for the process to quit before it is killed


class LabProcess(QObject):
    """The lab's flow process. Signals (GUI thread): ``replied(reply)`` with each reply of the
    current fit (a :mod:`~latentlab.explore.lab_messages` reply; of consecutive views that came
    at once, only the newest); ``fitStarted(fit)`` when a new fit replaced any other;
    ``died(message)`` when the process ended other than by :meth:`end`."""

    replied = Signal(object)
    fitStarted = Signal(int)
    died = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        ours, theirs = socket.socketpair()
        with theirs:  # the child's once started: its closing is how we hear that it died
            self._process = subprocess.Popen(
                [sys.executable, "-m", "latentlab.explore.lab_child", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            )
        self._connection = Connection(ours.detach())
        self._notifier = QSocketNotifier(self._connection.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._read)
        self.fit = 0  # the current fit's number
        self.alive = True

    @property
    def pid(self) -> int:
        return self._process.pid

    def start_fit(self, command: Fit) -> int:
        """Send ``command`` as a new fit, numbered here; returns its number."""
        self.fit += 1
        command.fit = self.fit
        self.fitStarted.emit(self.fit)
        self._send(command)
        return self.fit

    def send(self, fit: int, command: Command) -> None:
        """Send ``command`` about fit ``fit``, unless another fit has replaced it."""
        if fit == self.fit:
            self._send(command)

    def _send(self, command: Command) -> None:
        if not self.alive:
            return
        # if it died, its end's closing wakes the notifier, which says so
        with contextlib.suppress(OSError):
            self._connection.send_bytes(encode(command))

    def _read(self) -> None:
        """Hand on the replies that have come (of consecutive views, the newest), reading for
        at most ``READ_S``."""
        replies: list[Reply] = []
        until = time.perf_counter() + READ_S
        try:
            while self._connection.poll() and time.perf_counter() < until:
                reply = decode(self._connection.recv_bytes(), REPLIES)
                if replies and _same_view(replies[-1], reply):
                    replies[-1] = reply
                else:
                    replies.append(reply)
        except (EOFError, OSError):
            self._die("The lab's fitting process ended unexpectedly")
        except WireError as exc:
            self._die(f"The lab's fitting process sent nonsense ({one_line(exc)})")
        for reply in replies:
            if reply.fit == self.fit:
                self.replied.emit(reply)

    def _die(self, message: str) -> None:
        self.end()
        code = self._process.returncode
        self.died.emit(f"{message} (exit code {code})." if code is not None else f"{message}.")

    def end(self) -> None:
        """Tell the process to quit, and kill it if it has not within ``END_S`` (it holds
        nothing that needs saving)."""
        if not self.alive:
            return
        self._send(Quit())
        self.alive = False
        self._notifier.setEnabled(False)
        self._connection.close()
        try:
            self._process.wait(END_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _same_view(a: Reply, b: Reply) -> bool:
    return isinstance(a, Viewed) and isinstance(b, Viewed) and a.fit == b.fit


_shared: LabProcess | None = None
_ends_with_the_app = False  # whether the app's aboutToQuit ends it


def lab_process() -> LabProcess:
    """The app's lab process, started now if there is none (or it died)."""
    global _shared, _ends_with_the_app
    app = QCoreApplication.instance()
    if app is not None and not _ends_with_the_app:
        app.aboutToQuit.connect(end_lab_process)
        _ends_with_the_app = True
    if _shared is None or not _shared.alive:
        _shared = LabProcess()
    return _shared


def end_lab_process() -> None:
    """End the app's lab process, if it runs (when the app quits)."""
    global _shared
    if _shared is not None:
        _shared.end()
        _shared = None


atexit.register(end_lab_process)
