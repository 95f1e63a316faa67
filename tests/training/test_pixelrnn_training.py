"""The PixelRNN trainer on its smoke preset writes a model file the app can open."""

from __future__ import annotations

import math

import torch

from latentlab.modelfile import load_model
from training import pixelrnn as train_pixelrnn


def test_smoke_run_writes_a_model_the_app_can_open(tmp_path):
    out = tmp_path / "pixelrnn.safetensors"
    assert train_pixelrnn.main(["--preset", "smoke", "--out", str(out)]) == 0
    loaded = load_model(out)
    assert loaded.model.family == "pixelrnn" and loaded.model.image_shape == (1, 8, 8)
    metric = loaded.meta["training"]["test_metric"]
    # two tiny epochs: finite and below the uniform 4.087 bits/dim, far from a trained model
    assert metric["name"] == "test bits/dim" and 0 < metric["value"] < math.log2(17)
    assert loaded.meta["training"]["epochs"] == 2
    assert loaded.reference is None and loaded.attributes == {}  # no latent space
    images = loaded.model.sample(2, generator=torch.Generator().manual_seed(0))
    assert images.shape == (2, 1, 8, 8)
