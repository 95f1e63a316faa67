"""The DCGAN trainer on its smoke preset: model file, resume, NaN guard; and its metric."""

from __future__ import annotations

import pytest
import torch

from latentlab.modelfile import load_model
from latentlab.models.dcgan import DCGAN
from training import dcgan as train_dcgan


def test_smoke_run_writes_a_model_the_app_can_open(tmp_path, capsys):
    out = tmp_path / "smoke.safetensors"
    assert train_dcgan.main(["--preset", "smoke", "--out", str(out)]) == 0
    loaded = load_model(out)
    assert isinstance(loaded.model, DCGAN) and loaded.meta["dataset"]["name"] == "digits"
    assert loaded.meta["training"]["epochs"] == 2
    metric = loaded.meta["training"]["test_metric"]
    assert "MMD²" in metric["name"] and metric["value"] > 0  # two epochs: far from the data
    reference = loaded.reference
    assert reference.latents.shape == (32, 16) and reference.labels is None
    # The thumbnails are the decodes of the stored latents (8-bit).
    with torch.no_grad():
        images = loaded.model.decode(reference.latents)
    torch.testing.assert_close(reference.images, (images * 255).round().to(torch.uint8))
    err = capsys.readouterr().err
    assert "D_x=" in err and "D_G_z=" in err and "nearest training image" in err


def test_resume_continues_from_the_checkpoint(tmp_path, capsys):
    out = tmp_path / "run.safetensors"
    assert train_dcgan.main(["--preset", "smoke", "--out", str(out)]) == 0
    first = torch.load(out.with_suffix(".ckpt"), weights_only=True)
    assert first["state"]["epoch"] == 2 and set(first["optimizer"]) == {
        "generator",
        "discriminator",
    }
    assert (
        train_dcgan.main(["--preset", "smoke", "--out", str(out), "--resume", "--epochs", "3"]) == 0
    )
    resumed = torch.load(out.with_suffix(".ckpt"), weights_only=True)
    assert resumed["state"]["epoch"] == 3
    assert resumed["state"]["step"] == first["state"]["step"] * 3 // 2
    assert "resumed from" in capsys.readouterr().err


def test_nan_loss_stops_with_a_message_and_keeps_the_checkpoint(tmp_path, monkeypatch, capsys):
    out = tmp_path / "nan.safetensors"
    assert train_dcgan.main(["--preset", "smoke", "--out", str(out)]) == 0
    good = torch.load(out.with_suffix(".ckpt"), weights_only=True)
    out.unlink()
    original = torch.nn.BCEWithLogitsLoss.forward
    monkeypatch.setattr(
        torch.nn.BCEWithLogitsLoss,
        "forward",
        lambda self, x, y: original(self, x, y) * float("nan"),
    )
    code = train_dcgan.main(["--preset", "smoke", "--out", str(out), "--resume", "--epochs", "4"])
    assert code == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "last good checkpoint" in err
    assert not out.exists()
    assert torch.load(out.with_suffix(".ckpt"), weights_only=True)["state"] == good["state"]


def test_mmd_tells_one_distribution_from_another():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(300, 1, 8, 8, generator=g), torch.rand(300, 1, 8, 8, generator=g)
    shifted = torch.rand(300, 1, 8, 8, generator=g) * 0.8 + 0.2
    scale = train_dcgan.median_distance(a)
    same, different = train_dcgan.mmd2(a, b, scale), train_dcgan.mmd2(a, shifted, scale)
    assert abs(same) < 0.01 < different
    assert train_dcgan.mmd2(a, shifted, scale) == pytest.approx(train_dcgan.mmd2(shifted, a, scale))
