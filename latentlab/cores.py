"""A core of its own for the app's GUI thread, and the others for the threads and processes that
run models: on Linux, where a process may run on two or more cores.

Why: the GUI thread and the model worker hand Python's lock to each other hundreds of times a
decode, each hand-off a wake-up, and Linux tends to wake a thread on the waker's core. On the
2-core development machine the two ran on the same core in 88-98% of 1 ms samples while the
other core idled, and a GUI turn that fell during a decode waited up to 4-7 ms in that core's
queue (benchmarks/interaction.py prints that wait). Pinning only one of the two did not help:
the scheduler brought the other over. With both pinned, apart, a thread ticking like the GUI's
waited in a queue for 11-16 ms in 5 s instead of 640-690 ms (docs/performance.md).

The app calls :func:`reserve_gui_core` on its GUI thread before any worker starts; every thread
that runs models or loads files (:class:`latentlab.app.worker.Worker`) and every process the
app starts for models (the 2-D lab's) calls :func:`leave_gui_core` first. Other threads made by
the GUI thread later share its core: Qt's own, and the map's import at start-up, which would
otherwise take the other core from torch's import for the first image while the GUI thread,
its window painted, has little to do. Elsewhere (macOS, Windows, one core, or a library user
who never calls :func:`reserve_gui_core`), both do nothing. No Qt, no torch here.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["COMPUTE_CORES_VARIABLE", "compute_cores", "leave_gui_core", "reserve_gui_core"]

# Where the cores for models are kept: in the environment, so that child processes see them
COMPUTE_CORES_VARIABLE = "LATENTLAB_COMPUTE_CORES"


def _fastest_last(cores: set[int]) -> int:
    """The core with the highest top frequency (on a processor with fast and slow cores, a fast
    one), the highest-numbered of those: core 0 tends to take more of the system's work."""

    def top_frequency(core: int) -> int:
        path = Path(f"/sys/devices/system/cpu/cpu{core}/cpufreq/cpuinfo_max_freq")
        try:
            return int(path.read_text())
        except (OSError, ValueError):
            return 0

    return max(cores, key=lambda core: (top_frequency(core), core))


def reserve_gui_core() -> int | None:
    """Pin the calling thread (the GUI thread) to one of the cores this process may use and
    keep the others for models; returns that core, or None where nothing was pinned (not
    Linux, or fewer than two cores). Call it before starting the threads that run models."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cores = os.sched_getaffinity(0)
    if len(cores) < 2:
        return None
    gui = _fastest_last(cores)
    os.environ[COMPUTE_CORES_VARIABLE] = ",".join(str(core) for core in sorted(cores - {gui}))
    os.sched_setaffinity(0, {gui})
    return gui


def compute_cores() -> set[int] | None:
    """The cores kept for models by :func:`reserve_gui_core` in this process or the process
    that started it, or None."""
    text = os.environ.get(COMPUTE_CORES_VARIABLE, "")
    try:
        cores = {int(part) for part in text.split(",")} if text else set()
    except ValueError:
        return None
    return cores or None


def leave_gui_core() -> None:
    """Move the calling thread to the cores kept for models, if any were (the threads it starts
    later follow it there)."""
    cores = compute_cores()
    if cores is None or not hasattr(os, "sched_setaffinity"):
        return
    # OSError: none of them is ours any more (the process was narrowed meanwhile)
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, cores)
