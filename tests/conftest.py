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


@pytest.fixture(autouse=True)
def no_leftover_threads():
    """Fail a test that leaves a Python thread running (Qt threads are checked by the app)."""
    before = set(threading.enumerate())
    yield
    leftover = [
        t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon
    ]
    assert not leftover, f"test left threads running: {leftover}"
