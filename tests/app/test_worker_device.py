"""The model worker owns the device its model runs on (on the CPU only: CUDA is faked)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QObject

import latentlab.app.worker
from latentlab.app.worker import ModelWorker
from latentlab.modelfile import load_model
from latentlab.resources import bundled_models


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def worker(tiny_vae_path):
    worker = ModelWorker(load_model(tiny_vae_path))
    yield worker
    worker.stop()


class Received(QObject):
    """What a worker's signal brought to the GUI thread (as the window receives it, queued)."""

    def __init__(self, signal):
        super().__init__()
        self.args = []
        signal.connect(self.record)

    def record(self, *args):
        self.args.append(list(args))


def place(qtbot, worker, device):
    placed = Received(worker.placed)
    worker.place(device)
    qtbot.waitUntil(lambda: bool(placed.args), timeout=5000)
    return placed.args[0]


def decode(qtbot, worker, latent_dim=2):
    decoded = Received(worker.decoded)
    worker.request_decode(1, np.zeros(latent_dim))
    qtbot.waitUntil(lambda: bool(decoded.args), timeout=5000)
    return decoded.args[0][1]


def devices(worker):
    return {p.device for p in worker.loaded.model.parameters()}


def test_a_worker_moves_its_model_to_its_device(qtbot, worker, no_gpu):
    assert place(qtbot, worker, "cpu") == ["CPU", ""]
    assert devices(worker) == {torch.device("cpu")}
    image = decode(qtbot, worker)
    assert isinstance(image, np.ndarray) and image.shape == (1, 8, 8)
    assert place(qtbot, worker, "auto") == ["CPU", ""]  # this machine has no GPU


def test_a_device_this_machine_lacks_leaves_the_model_on_the_cpu(qtbot, worker, no_gpu):
    label, notice = place(qtbot, worker, "cuda")
    assert label == "CPU" and notice.startswith("--device cuda: this machine has no CUDA device")
    assert notice.endswith("; the model runs on the CPU")
    assert devices(worker) == {torch.device("cpu")}
    decode(qtbot, worker)


def test_a_failed_move_falls_back_to_the_cpu_with_a_notice(qtbot, worker, monkeypatch):
    model = worker.loaded.model
    real_to, asked = model.to, []

    def to(device):  # as a GPU out of memory fails
        asked.append(torch.device(device).type)
        if torch.device(device).type != "cpu":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_to(device)

    monkeypatch.setattr(model, "to", to)
    monkeypatch.setattr(latentlab.app.worker, "resolve_device", lambda name: torch.device("cuda"))
    label, notice = place(qtbot, worker, "cuda")
    assert asked == ["cuda", "cpu"] and label == "CPU"
    assert notice == (
        "Moving the model to cuda failed (OutOfMemoryError: CUDA out of memory. Tried to "
        "allocate 2.00 GiB); it runs on the CPU"
    )
    assert devices(worker) == {torch.device("cpu")}
    decode(qtbot, worker)


def test_jobs_run_after_the_move(qtbot, worker, no_gpu):
    finished = Received(worker.finished)
    worker.place("cpu")
    worker.submit_model_job(7, lambda model: next(model.parameters()).device)
    qtbot.waitUntil(lambda: bool(finished.args), timeout=5000)
    assert finished.args == [[7, torch.device("cpu")]]


def test_the_status_bar_shows_the_device(open_window, qtbot, tiny_vae_path):
    window = open_window(tiny_vae_path)
    qtbot.waitUntil(lambda: window.device_label.text() == "device: CPU", timeout=5000)
    window.show_status("a live message", 0)
    assert window.device_label.text() == "device: CPU"  # a permanent widget: never replaced


def test_the_app_on_a_device_this_machine_lacks(qtbot, tiny_vae_path, no_gpu):
    from latentlab.app import create_main_window

    window = create_main_window(tiny_vae_path, device="cuda")
    qtbot.addWidget(window)
    with qtbot.waitSignals([window.notices.noticed, window.imageDisplayed], timeout=5000):
        window.show()
    assert window.device_label.text() == "device: CPU"
    (_, notice), *_ = window.notices.notices
    assert notice.startswith("--device cuda: this machine has no CUDA device")


def test_auto_keeps_a_pixelrnn_on_the_cpu_beside_a_gpu(qtbot, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    worker = ModelWorker(load_model(bundled_models()["pixelrnn-digits"]))
    try:
        label, notice = place(qtbot, worker, "auto")
        assert label == "CPU" and notice.startswith("PixelRNN runs on the CPU")
        assert devices(worker) == {torch.device("cpu")}
    finally:
        worker.stop()
