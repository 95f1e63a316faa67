"""Loading the model code (torch, seconds on a small machine) once per process, and what must
follow it: the thread settings of torch and NumPy, and freezing the objects the libraries made.
The model loader calls it on its own thread before the first model is read, so the window is
on screen meanwhile; anything that runs a model calls it first (at once when already done).
Modules imported later, when first needed (PIL's plugins for the first image read), are
frozen after the job that imported them (:func:`freeze_late_imports`)."""

from __future__ import annotations

import gc
import os
import sys
import threading

from latentlab.device import use_cpu_threads

__all__ = ["freeze_late_imports", "load_model_code"]

_lock = threading.Lock()
_loaded = False
_modules_frozen = 0  # how many modules were imported at the last freeze


def load_model_code() -> None:
    """Import torch and configure what depends on it; idempotent, from any thread."""
    global _loaded
    with _lock:
        if _loaded:
            return
        # the model code, torch first (seconds): here, rather than on the GUI thread at first use
        import latentlab.explore.ops
        import latentlab.importers.dispatch  # noqa: F401

        # Leave one core to the GUI thread: torch's intra-op threads spin while they wait, and
        # on two cores two of them made drag latency spike tenfold (benchmarks/interaction.py).
        # NumPy's BLAS threads too: on a busy machine two of them made the PCA plane of a model
        # opening eight times slower (4.7 s instead of 0.6 s for an SVD of 2,000 x 814).
        use_cpu_threads(max(1, (os.cpu_count() or 1) - 1))
        # What the libraries made on import (torch alone: 145,000 objects) lives as long as the
        # app; a full collection walking it held the GUI thread for up to 280 ms
        # (scripts/soak.py). Frozen, collections walk only what came after. The window open
        # now is frozen with it: were it closed while the process goes on (a script opening
        # another window), its Python objects and the model it showed would stay until exit.
        # In the app, closing the window ends the process.
        _freeze()
        _loaded = True


def freeze_late_imports() -> None:
    """Freeze what was imported since the last freeze, if anything was (a cheap check; the
    model worker calls it after each job). In a session the first image read imports PIL's 44
    plugins, an export NumPy's ctypes helpers, a fit numpy.ma (scripts/soak.py): each full
    collection would walk them again, on the GUI thread where the app collects.
    What is garbage at the moment of freezing stays until exit; a few late imports in a
    session make that small."""
    if _loaded and len(sys.modules) > _modules_frozen:
        with _lock:
            _freeze()


def _freeze() -> None:
    global _modules_frozen
    gc.freeze()
    _modules_frozen = len(sys.modules)
