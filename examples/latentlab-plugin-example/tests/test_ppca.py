"""The plugin's tests, as a plugin author writes them with ``latentlab.testing``."""

from __future__ import annotations

import torch
from latentlab_ppca import PPCA, PPCAConfig, fit_ppca

from latentlab.modelfile import build_metadata, load_model, save_model
from latentlab.testing import check_family
from latentlab.testing.qt import drag_handle, sample


def test_ppca_follows_the_model_protocol():
    check_family(PPCA, PPCA.tiny_config())


def test_fit_recovers_the_data_mean():
    images = torch.rand(200, 1, 8, 8)
    model = fit_ppca(images, PPCAConfig(latent_dim=3))
    assert torch.allclose(model.mean, images.reshape(200, -1).mean(0).float(), atol=1e-5)


def test_the_app_opens_a_ppca_model(latentlab_window, tmp_path):
    model = PPCA(PPCA.tiny_config()).eval()
    meta = build_metadata(model, dataset={"name": "noise", "size": 0}, training={})
    path = tmp_path / "ppca.safetensors"
    save_model(path, model, meta)  # needs the plugin installed: pip install -e .
    assert load_model(path).model.family == "ppca"
    window = latentlab_window(path)
    drag_handle(window, steps=10)
    assert sample(window).images.shape[1:] == (1, 8, 8)
