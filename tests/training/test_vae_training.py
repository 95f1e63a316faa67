"""The VAE trainer end to end on its smoke preset: model file, resume, NaN guard, torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from latentlab.modelfile import load_model
from latentlab.models.vae import VAE
from training import vae as train_vae

ROOT = Path(__file__).resolve().parents[2]


def test_smoke_run_writes_a_model_the_app_can_open(tmp_path):
    out = tmp_path / "smoke.safetensors"
    assert train_vae.main(["--preset", "smoke", "--out", str(out)]) == 0
    loaded = load_model(out)
    metric = loaded.meta["training"]["test_metric"]
    assert "IWAE" in metric["name"] and 0 < metric["value"] < 200
    assert loaded.meta["training"]["epochs"] == 2
    assert loaded.reference.latents.shape == (64, 2)
    assert loaded.reference.labels is not None
    assert loaded.meta["dataset"]["name"] == "digits"


def test_resume_continues_from_the_checkpoint(tmp_path, capsys):
    out = tmp_path / "run.safetensors"
    assert train_vae.main(["--preset", "smoke", "--out", str(out)]) == 0
    first = torch.load(out.with_suffix(".ckpt"), weights_only=True)
    assert first["state"]["epoch"] == 2
    assert (
        train_vae.main(["--preset", "smoke", "--out", str(out), "--resume", "--epochs", "3"]) == 0
    )
    resumed = torch.load(out.with_suffix(".ckpt"), weights_only=True)
    assert resumed["state"]["epoch"] == 3
    assert resumed["state"]["step"] == first["state"]["step"] * 3 // 2
    assert "resumed from" in capsys.readouterr().err


def test_nan_loss_stops_with_a_message_and_keeps_the_checkpoint(tmp_path, monkeypatch, capsys):
    out = tmp_path / "nan.safetensors"
    assert train_vae.main(["--preset", "smoke", "--out", str(out)]) == 0
    good = torch.load(out.with_suffix(".ckpt"), weights_only=True)
    out.unlink()
    original = VAE.elbo_terms

    def poisoned(self, x):
        rec, kl = original(self, x)
        return rec * float("nan"), kl

    monkeypatch.setattr(VAE, "elbo_terms", poisoned)
    code = train_vae.main(["--preset", "smoke", "--out", str(out), "--resume", "--epochs", "4"])
    assert code == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "last good checkpoint" in err
    assert not out.exists()
    kept = torch.load(out.with_suffix(".ckpt"), weights_only=True)
    assert kept["state"] == good["state"]


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path):
    out = tmp_path / "none.safetensors"
    try:
        train_vae.main(["--preset", "smoke", "--out", str(out), "--resume"])
    except SystemExit as exc:
        assert "no checkpoint" in str(exc.code)
    else:
        raise AssertionError("expected SystemExit")


def test_torchrun_two_processes(tmp_path):
    """The same script under torchrun with DistributedDataParallel (gloo on CPU)."""
    out = tmp_path / "ddp.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--standalone",
            "-m",
            "training.vae",
            "--preset",
            "smoke",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = load_model(out)
    assert loaded.meta["training"]["world_size"] == 2
