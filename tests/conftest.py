"""Shared fixtures: tiny models written to real model files, and a strict Qt environment."""

from __future__ import annotations

import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
import torch

from latentlab.modelfile import Reference, build_metadata, save_model
from latentlab.models.vae import VAE, VAEConfig


def make_tiny_vae(latent_dim: int = 2, seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(VAEConfig(latent_dim=latent_dim, hidden=4, dense=16)).eval()


def write_tiny_vae(path, latent_dim: int = 2, seed: int = 0, reference: bool = True):
    """Save an untrained tiny VAE on 8x8 digits-like data, with a small reference set."""
    model = make_tiny_vae(latent_dim, seed)
    meta = build_metadata(
        model,
        dataset={"name": "digits", "size": 1797, "label_names": [str(i) for i in range(10)]},
        training={"command": "tests", "epochs": 0, "steps": 0, "seconds": 0.0, "device": "cpu",
                  "test_metric": {"name": "IWAE bound (nats)", "value": -150.0}},
    )
    ref = None
    if reference:
        rng = np.random.default_rng(seed)
        images = rng.integers(0, 256, size=(30, 1, 8, 8), dtype=np.uint8)
        with torch.no_grad():
            latents = model.encode(torch.from_numpy(images).float() / 255)
        ref = Reference(latents, torch.from_numpy(images), torch.arange(30) % 10)
    save_model(path, model, meta, reference=ref)
    return path


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
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()
                and not t.daemon]
    assert not leftover, f"test left threads running: {leftover}"
