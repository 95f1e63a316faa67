"""Test helpers shared by several test modules (importable as ``helpers``)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch
from PySide6.QtCore import QEvent, QObject

from latentlab.modelfile import Reference, build_metadata, save_model
from latentlab.models.vae import VAE, VAEConfig


def make_tiny_vae(latent_dim: int = 2, seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(VAEConfig(latent_dim=latent_dim, hidden=4, dense=16)).eval()


def write_tiny_vae(
    path,
    latent_dim: int = 2,
    seed: int = 0,
    reference: bool = True,
    attributes: dict | None = None,
    reference_attributes: dict | None = None,
):
    """Save an untrained tiny VAE on 8x8 digits-like data, with a small reference set of 30
    (``reference_attributes``: name -> 30 values)."""
    model = make_tiny_vae(latent_dim, seed)
    meta = build_metadata(
        model,
        dataset={"name": "digits", "size": 1797, "label_names": [str(i) for i in range(10)]},
        training={
            "command": "tests",
            "epochs": 0,
            "steps": 0,
            "seconds": 0.0,
            "device": "cpu",
            "test_metric": {"name": "IWAE bound (nats)", "value": -150.0},
        },
    )
    ref = None
    if reference:
        rng = np.random.default_rng(seed)
        images = rng.integers(0, 256, size=(30, 1, 8, 8), dtype=np.uint8)
        with torch.no_grad():
            latents = model.encode(torch.from_numpy(images).float() / 255)
        ref = Reference(
            latents,
            torch.from_numpy(images),
            torch.arange(30) % 10,
            {
                k: torch.as_tensor(v, dtype=torch.float32)
                for k, v in (reference_attributes or {}).items()
            },
        )
    save_model(path, model, meta, attributes=attributes, reference=ref)
    return path


def write_untrained(path, model, dataset: str = "digits"):
    """Save an untrained model of any family with plain metadata and no reference set."""
    meta = build_metadata(
        model,
        dataset={"name": dataset, "size": 0},
        training={"command": "tests", "epochs": 0, "steps": 0, "seconds": 0.0, "device": "cpu"},
    )
    save_model(path, model, meta)
    return path


class PaintCounter(QObject):
    """Counts the paint events of the widgets it is installed on as an event filter."""

    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


def show_plane(qtbot, window, kind: str, x: str = "", y: str = "") -> None:
    """Choose a plane in the main window and wait until the map is on it (planes are made on
    the model worker)."""
    with qtbot.waitSignal(window.map.planeShown, timeout=5000):
        window.map.choose_plane(kind, x, y)


def error_reading_in_a_child(module: str, function: str, error: str, call: str, path) -> str:
    """What ``function`` of ``module`` says, as ``error``, when it reads ``path`` (``call``: its
    arguments, ``path`` being ``sys.argv[1]``), run in a child process: reading a pipe would
    wait for a writer for ever, and the child is killed after 20 s."""
    code = (
        "import sys\n"
        f"from {module} import {error}, {function}\n"
        "try:\n"
        f"    {function}({call})\n"
        f"except {error} as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=20
    )
    return result.stdout.strip()


def run_to_end(steps):
    """Exhaust a long job's generator: every value it yielded, and what it returned."""
    yielded = []
    while True:
        try:
            yielded.append(next(steps))
        except StopIteration as done:
            return yielded, done.value
