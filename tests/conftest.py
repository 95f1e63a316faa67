"""Shared fixtures: tiny models written to real model files, and a strict Qt environment."""

from __future__ import annotations

import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from helpers import write_tiny_vae


@pytest.fixture
def tiny_vae_path(tmp_path):
    return write_tiny_vae(tmp_path / "tiny-vae.safetensors")


@pytest.fixture
def tiny_vae16_path(tmp_path):
    return write_tiny_vae(tmp_path / "tiny-vae16.safetensors", latent_dim=16, seed=1)


@pytest.fixture(scope="module")
def one_thread():
    """For modules of small problems (``pytestmark = pytest.mark.usefixtures("one_thread")``):
    one thread is fastest for torch and for scikit-learn, and it keeps the tests quick on a
    machine whose cores are busy with other work (threads that wait for a descheduled sibling
    at every parallel region are many times slower)."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def no_leftover_threads():
    """Fail a test that leaves a Python thread running (Qt threads are checked by the app)."""
    before = set(threading.enumerate())
    yield
    leftover = [
        t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon
    ]
    assert not leftover, f"test left threads running: {leftover}"
