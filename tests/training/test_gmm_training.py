"""The GMM trainer end to end on its smoke preset: a model file the app can open and use."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from latentlab.explore import ops
from latentlab.modelfile import load_model
from latentlab.models.gmm import GMM
from training import gmm as train_gmm


def test_smoke_run_writes_a_model_the_app_can_use(tmp_path, capsys):
    out = tmp_path / "smoke.safetensors"
    assert train_gmm.main(["--preset", "smoke", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "EM:" in err and "validation" in err and "bits/dim" in err
    loaded = load_model(out)
    model = loaded.model
    assert isinstance(model, GMM) and model.config.components == 3
    metric = loaded.meta["training"]["test_metric"]
    assert metric["name"] == "test bits/dim" and 0 < metric["value"] < math.log2(17)
    assert 1 <= loaded.meta["training"]["epochs"] <= 5  # EM iterations
    assert loaded.meta["dataset"]["name"] == "digits"
    # the reference set for the map: encoded test images that decode to their thumbnails
    reference = loaded.reference
    assert reference.latents.shape == (64, 3 + 64) and reference.labels is not None
    decoded = ops.decode(model, reference.latents.double().numpy())
    assert np.array_equal(np.round(decoded * 255).astype(np.uint8), reference.images.numpy())
    # what the app's worker does: sample, encode, decode
    z, images = ops.sample(model, 6, temperature=0.7, seed=1)
    assert z.shape == (6, 67) and images.shape == (6, 1, 8, 8)
    assert np.array_equal(ops.encode(model, images)[:, :3], z[:, :3])
    assert np.array_equal(ops.decode(model, ops.encode(model, images)), images)


def test_options_reach_the_model(tmp_path, capsys):
    out = tmp_path / "diag.safetensors"
    assert (
        train_gmm.main(
            [
                "--preset",
                "smoke",
                "--out",
                str(out),
                "--components",
                "2",
                "--covariance",
                "diag",
                "--max-iter",
                "100",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    assert "converged" in capsys.readouterr().err
    model = load_model(out).model
    assert model.config.covariance == "diag" and model.config.components == 2
    torch.testing.assert_close(model.mixture.weights.sum(), torch.tensor(1.0, dtype=torch.float64))


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    out = tmp_path / "bad.safetensors"
    with pytest.raises(SystemExit, match="outside"):
        train_gmm.main(["--preset", "smoke", "--out", str(out), "--components", "300"])
    # 20 full covariances from about 13 images each in 64 dimensions are singular without
    # reg_covar: a clear message, exit status 1, and no model file
    assert (
        train_gmm.main(
            ["--preset", "smoke", "--out", str(out), "--reg-covar", "0", "--components", "20"]
        )
        == 1
    )
    assert "singular" in capsys.readouterr().err.splitlines()[-1]
    assert not out.exists()
