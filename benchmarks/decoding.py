"""What the drag benchmarks share: the bare decode at a drag's pace, and the imported formats'
checkpoints at their default size. No Qt (``devices.py`` runs where there is none)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from latentlab.cores import leave_gui_core
from latentlab.explore.ops import decode  # the original: interaction.py replaces ops.decode

IMPORTED = ("dcgan", "glow")


def bare_decode_ms(
    model, z: np.ndarray, pace_s: float = 0.0, repeats: int = 200, budget_s: float = 20.0
) -> list[float]:
    """The times in ms of ``repeats`` decodes of the flat latent ``z``, or of as many as fit in
    ``budget_s`` (at least 5: a 64x64 Glow takes about a second a decode on 2 cores); back to
    back, or one started every ``pace_s`` seconds with the process idle in between. They run
    as the app's decodes do: on a thread other than the GUI thread, on the cores kept for
    models (the GUI thread waits), through ``ops.decode`` (the latent to the model's device,
    the image back to the CPU)."""
    times: list[float] = []

    def decode_on_model_cores() -> None:
        leave_gui_core()
        due = time.perf_counter()
        while len(times) < repeats and (len(times) < 5 or sum(times) < budget_s):
            time.sleep(max(0.0, due - time.perf_counter()))
            start = time.perf_counter()
            decode(model, z[None])
            times.append(time.perf_counter() - start)
            due = start + pace_s

    thread = threading.Thread(target=decode_on_model_cores, name="bare decode")
    thread.start()
    thread.join()
    return [1000 * t for t in times]


def imported_checkpoint(kind: str, folder: Path) -> Path:
    """A foreign checkpoint of ``kind`` (one of :data:`IMPORTED`) at its format's default size,
    randomly initialised: the pytorch/examples DCGAN generator (nz 100, ngf 64, 3x64x64) or a
    rosinality glow-pytorch Glow (4 blocks of 32 flows, 512 channels, additive coupling, LU,
    64x64), written by the test suite's replicas of those architectures."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "importers"))
    from foreign import net_g, save_state
    from rosinality import glow

    if kind == "dcgan":
        return save_state(folder / "netG_epoch_0.pth", net_g(nz=100, ngf=64, nc=3))
    model = glow(in_channel=3, n_flow=32, n_block=4, filter_size=512, affine=False)
    return save_state(folder / "model_000001.pt", model)
