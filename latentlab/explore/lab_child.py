"""The 2-D lab's flow fits in a process of their own (docs/lab.md, Speed): in the window's
process, the GUI thread's painting held Python's lock, which a fit on a thread needs between
its many small torch operations, and a training step took 13-24 ms instead of 7.

The app starts it as ``python -m latentlab.explore.lab_child FD``, FD its end of a socket
pair (:mod:`latentlab.app.lab_process`). :func:`serve` reads the window's commands on one thread and
sends its replies on another (:mod:`latentlab.explore.lab_messages`), so that neither the fit
nor the window waits for the other: a command waits in a queue until the fit's next frame, and
a view not yet sent when a newer one comes is dropped for it. No Qt here.
"""

from __future__ import annotations

import collections
import gc
import queue
import signal
import sys
import threading
from multiprocessing.connection import Connection

from latentlab.cores import leave_gui_core

__all__ = ["main", "serve"]


def main() -> None:
    """Serve over the socket whose file descriptor is the first argument."""
    leave_gui_core()  # started by the GUI thread, on its core (see latentlab.cores)
    # Ctrl+C in a terminal reaches the whole process group: the app decides when this one ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(Connection(int(sys.argv[1])))


def serve(connection: Connection) -> None:
    """Serve the flow fits of one window process over ``connection`` until told to quit or
    until the window's end of it closes."""
    inbox: queue.Queue[bytes | None] = queue.Queue()
    # listening before torch loads (seconds), so that the window's first commands never wait
    threading.Thread(target=_read, args=(connection, inbox), daemon=True).start()
    outbox = _Outbox(connection)
    import torch

    from latentlab.explore.lab_fits import FlowFits
    from latentlab.explore.lab_messages import COMMANDS
    from latentlab.explore.wire import decode

    # a training step is many small operations: one thread does them fastest (docs/lab.md)
    torch.set_num_threads(1)
    # what the libraries made on import lives as long as the process: frozen, the collections
    # that come during the fit do not walk it (as in the app: latentlab.app.model_code)
    gc.freeze()
    fits = FlowFits(outbox.put)
    while True:
        for data in _taken(inbox, wait=not fits.running):
            if data is None or not fits.handle(decode(data, COMMANDS)):
                return  # told to quit, or the window's end closed
        if fits.running:
            fits.advance()


def _taken(inbox: queue.Queue[bytes | None], wait: bool) -> list[bytes | None]:
    """The messages waiting in ``inbox``; if ``wait``, at least one."""
    taken = [inbox.get()] if wait else []
    while True:
        try:
            taken.append(inbox.get_nowait())
        except queue.Empty:
            return taken


def _read(connection: Connection, inbox: queue.Queue[bytes | None]) -> None:
    """Put each message from ``connection`` in ``inbox``, then None once it has closed."""
    try:
        while True:
            inbox.put(connection.recv_bytes())
    except (EOFError, OSError):
        inbox.put(None)


class _Outbox:
    """Sends messages on its own thread, in order; a message put as replaceable replaces the
    one before it if that one is replaceable too and not yet sent."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._waiting: collections.deque[tuple[bytes, bool]] = collections.deque()
        self._changed = threading.Condition()
        threading.Thread(target=self._send, daemon=True).start()

    def put(self, data: bytes, replaceable: bool = False) -> None:
        with self._changed:
            if replaceable and self._waiting and self._waiting[-1][1]:
                self._waiting.pop()
            self._waiting.append((data, replaceable))
            self._changed.notify()

    def _send(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._waiting))
                data, _ = self._waiting.popleft()
            try:
                self._connection.send_bytes(data)
            except OSError:  # the window's process has gone, and this one goes with it
                return


if __name__ == "__main__":
    main()
