"""A drag's decode in a process of its own, against the app's decode on a worker thread.

    python benchmarks/decode_process.py [--model FILE] [--steps 200] [--hz 60]
                                        [--gui-ms 0 0.35 0.7] [--rounds 3] [--quick]

The app decodes on a worker thread of its own process. While it does, the GUI thread runs the
rest of the drag step's Python (the mouse move after the request, then the map's paint), and
holds Python's lock, which the decode takes back after each of its torch calls:
``benchmarks/interaction.py`` finds the decode in the app waiting 0.5-0.6 ms for it (median).
A decode in another process would not wait for that lock, but its latent and its image cross
a socket, and the process has its own torch and its own copy of the model. This measures both
as a drag asks for decodes, the two ways alternating (this machine's speed drifts):

- ``thread``: a thread of this process decodes, on the cores kept for models, as the app's
  model worker does (``latentlab.cores``);
- ``process``: a child process (this script with ``--child``: its own torch import and its
  own copy of the model, on the same cores) decodes; the latent goes to it as float64 bytes and
  the image comes back as float32 bytes over a socket pair (raw bytes of known sizes, the
  cheapest crossing there is; nothing is unpickled).

One request every 1/hz seconds, from a thread on a core of its own as the app's GUI thread is;
after each request that thread runs Python for each of ``--gui-ms`` in turn, then waits for the
image. In the app, the GUI thread runs about 0.7 ms of Python after a drag step's request on
the default Glow (0.1 ms for the rest of the mouse move, 0.6 ms for the map's paint), but lets
go of the lock between the two; pure Python holding it throughout makes the thread wait
longer, and 0.35 ms gives about the app's wait. Prints, for each amount, round and way, the
median time from the request to the image in hand (what a user's drag waits for, before the
image's paint), the median decode time in the decoding thread and their difference; then the
child's start-up time and peak memory. ``--quick`` is a smoke run (20 steps, one round, one
amount: the figures mean nothing).
"""

from __future__ import annotations

import argparse
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from latentlab.cores import compute_cores, leave_gui_core, reserve_gui_core

if TYPE_CHECKING:
    from latentlab.models import GenerativeModel

STOP = b"stop"


def load(path: str | None) -> GenerativeModel:
    """The model of ``path`` (the default model if None), torch on the cores kept for models."""
    import torch

    from latentlab.modelfile import load_model
    from latentlab.resources import default_model_path

    torch.set_num_threads(len(compute_cores() or {0}))
    return load_model(path or default_model_path()).model


def child(fd: int, path: str | None) -> None:
    """Decode the latents that come over socket ``fd`` until told to stop; send each image back
    after its decode time, then the process's peak memory in bytes."""
    from latentlab.explore import ops

    leave_gui_core()
    model = load(path)
    connection = Connection(fd)
    connection.send_bytes(np.int64(model.latent_dim).tobytes())
    while (data := connection.recv_bytes()) != STOP:
        z = np.frombuffer(data, dtype=np.float64).copy()
        start = time.perf_counter()
        image = ops.decode(model, z[None])[0]
        seconds = np.float64(time.perf_counter() - start)
        connection.send_bytes(seconds.tobytes() + image.astype(np.float32).tobytes())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    connection.send_bytes(np.int64(peak).tobytes())


def busy(ms: float) -> None:
    """Run Python for ``ms`` milliseconds, holding the lock as the GUI thread's Python does."""
    until = time.perf_counter() + ms / 1000
    while time.perf_counter() < until:
        pass


Decoder = Callable[[np.ndarray], Callable[[], float]]  # sends a latent; the wait for its image


def drag(decoder: Decoder, latents: list[np.ndarray], hz: float, gui_ms: float) -> np.ndarray:
    """(request to image in hand, decode) in ms for each latent, one request every 1/hz s."""
    times = []
    for z in latents:
        due = time.perf_counter() + 1 / hz
        start = time.perf_counter()
        wait = decoder(z)
        busy(gui_ms)
        decode_s = wait()
        times.append((time.perf_counter() - start, decode_s))
        time.sleep(max(0.0, due - time.perf_counter()))
    return 1000 * np.array(times)


class ThreadDecoder:
    """Decodes on a thread of this process, on the cores kept for models."""

    def __init__(self, path: str | None) -> None:
        from latentlab.explore import ops

        self.model = load(path)
        self.decode = ops.decode
        self.wanted, self.done = threading.Event(), threading.Event()
        self.latent: np.ndarray | None = None
        self.seconds = 0.0
        self.thread = threading.Thread(target=self._run, name="decoder")
        self.thread.start()

    def _run(self) -> None:
        leave_gui_core()
        while self.wanted.wait() and self.latent is not None:
            self.wanted.clear()
            start = time.perf_counter()
            self.decode(self.model, self.latent[None])
            self.seconds = time.perf_counter() - start
            self.done.set()

    def __call__(self, z: np.ndarray) -> Callable[[], float]:
        self.latent = z
        self.wanted.set()

        def wait() -> float:
            self.done.wait()
            self.done.clear()
            return self.seconds

        return wait

    def close(self) -> None:
        self.latent = None
        self.wanted.set()
        self.thread.join()


class ProcessDecoder:
    """Decodes in a child process, over a socket pair."""

    def __init__(self, path: str | None) -> None:
        ours, theirs = socket.socketpair()
        started = time.perf_counter()
        with theirs:
            command = [sys.executable, __file__, "--child", str(theirs.fileno())]
            self.process = subprocess.Popen(
                command + (["--model", path] if path else []), pass_fds=[theirs.fileno()]
            )
        self.connection = Connection(ours.detach())
        self.latent_dim = int(np.frombuffer(self.connection.recv_bytes(), dtype=np.int64)[0])
        self.start_s = time.perf_counter() - started

    def __call__(self, z: np.ndarray) -> Callable[[], float]:
        self.connection.send_bytes(z.astype(np.float64).tobytes())

        def wait() -> float:
            reply = self.connection.recv_bytes()
            np.frombuffer(reply, dtype=np.float32, offset=8)  # the image, in hand
            return float(np.frombuffer(reply[:8], dtype=np.float64)[0])

        return wait

    def close(self) -> int:
        """Stop the child; its peak memory in bytes."""
        self.connection.send_bytes(STOP)
        peak = int(np.frombuffer(self.connection.recv_bytes(), dtype=np.int64)[0])
        self.process.wait()
        return peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="model file (default: the default model)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--hz", type=float, default=60.0, help="requests per second")
    parser.add_argument(
        "--gui-ms",
        type=float,
        nargs="+",
        default=[0.0, 0.35, 0.7],
        help="ms of Python run after each request, each in turn (%(default)s)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20 steps, one round")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child, args.model)
        return 0
    if args.quick:
        args.steps, args.rounds, args.gui_ms = 20, 1, args.gui_ms[-1:]

    gui_core = reserve_gui_core()  # as the app does, before any decoding thread or process
    process = ProcessDecoder(args.model)
    thread = ThreadDecoder(args.model)
    rng = np.random.default_rng(0)
    latents = [0.7 * rng.standard_normal(process.latent_dim) for _ in range(args.steps)]
    for decoder in (thread, process):  # warm: a model's first decodes pay one-off costs
        drag(decoder, latents[:5], args.hz, 0.0)
    print(
        f"{args.steps} requests at {args.hz:.0f} Hz; "
        f"GUI thread's own core: {gui_core}, model cores: {sorted(compute_cores() or [])}"
    )
    for gui_ms in args.gui_ms:
        for round_ in range(args.rounds):
            for name, decoder in (("thread", thread), ("process", process)):
                times = np.median(drag(decoder, latents, args.hz, gui_ms), axis=0)
                print(
                    f"Python {gui_ms:4.2f} ms, round {round_ + 1}, {name:8s} request to image "
                    f"{times[0]:6.2f} ms   decode {times[1]:6.2f} ms   "
                    f"the rest {times[0] - times[1]:5.2f} ms"
                )
    thread.close()
    peak = process.close()
    print(
        f"the decoding process: started in {process.start_s:.2f} s, "
        f"peak memory {peak / 2**20:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
