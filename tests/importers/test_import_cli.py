"""``latentlab import``, and foreign checkpoints given straight to the other commands and to
the app's model loader."""

from __future__ import annotations

import json

import torch
from foreign import examples_vae, net_d, net_g, save_state

from latentlab.app.model_loader import ModelLoader
from latentlab.app.worker import live_workers
from latentlab.cli import main
from latentlab.modelfile import load_model


def test_import_writes_a_model_file_that_info_reads(tmp_path, capsys):
    source = save_state(tmp_path / "netG_epoch_24.pth", net_g())
    out = tmp_path / "faces.safetensors"
    assert main(["import", str(source), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"wrote {out}: a dcgan model converted from netG_epoch_24.pth")
    assert "discriminator was not imported" in said
    assert load_model(out).model.config.latent_dim == 8
    assert main(["info", "--json", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == "dcgan" and info["reference_size"] == 32
    assert info["training"]["format"] == "dcgan-pytorch-examples"


def test_info_and_sample_take_a_foreign_checkpoint_directly(tmp_path, capsys):
    source = save_state(tmp_path / "vae.pth", examples_vae(2, 32))
    assert main(["info", str(source)]) == 0
    captured = capsys.readouterr()
    assert "family" in captured.out and "vae" in captured.out
    notice = captured.err.strip().splitlines()
    assert len(notice) == 1 and notice[0].startswith("latentlab: vae.pth: the VAE of pytorch")
    png = tmp_path / "samples.png"
    assert main(["sample", str(source), "-n", "4", "-o", str(png)]) == 0
    assert png.exists()


def test_import_refusals_are_one_line(tmp_path, capsys):
    source = save_state(tmp_path / "netD_epoch_24.pth", net_d())
    out = tmp_path / "d.safetensors"
    assert main(["import", str(source), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("latentlab: error: netD_epoch_24.pth: this is")
    assert "discriminator" in err[0] and not out.exists()
    assert main(["import", str(tmp_path / "none.pth"), "-o", str(out)]) == 1
    assert "none.pth: no such file" in capsys.readouterr().err
    assert main(["import", str(source), "--format", "glow", "-o", str(out)]) == 2
    assert main(["import", str(source), "-o", str(tmp_path / "x.pth")]) == 2


def test_the_app_loader_converts_a_checkpoint_with_a_notice(qtbot, tmp_path):
    source = save_state(tmp_path / "netG.pth", net_g())
    loader = ModelLoader()
    try:
        with qtbot.waitSignal(loader.opened, timeout=10_000) as opened:
            loader.open_model(source)
    finally:
        loader.shutdown()
    model, session, notice = opened.args
    assert model.loaded.model.family == "dcgan" and session is None
    assert model.loaded.path == source and model.plane is not None
    assert notice.startswith("netG.pth: the generator of the pytorch/examples DCGAN, converted")
    assert notice.endswith("File > Save model as… keeps it as a LatentLab model file")
    qtbot.waitUntil(lambda: not live_workers(), timeout=2000)
    assert torch.is_tensor(model.loaded.reference.latents)
