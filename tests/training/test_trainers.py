"""Every trainer on its smoke preset through the same tests: a model file the app can open with
its config stored, resume, the NaN guard, torchrun, and the one-line errors of the shared code."""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook
from trainer_families import FAMILIES, GRADIENT, smoke_args, train

from latentlab.modelfile import load_model
from training import common
from training.config import describe

ROOT = Path(__file__).resolve().parents[2]


def last_line(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


@contextlib.contextmanager
def poisoned_optimisers() -> Iterator[None]:
    """Every optimiser step leaves NaN weights, so the next loss is NaN."""

    def poison(optimizer: torch.optim.Optimizer, *_: object) -> None:
        with torch.no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    p.fill_(math.nan)

    handle = register_optimizer_step_post_hook(poison)
    try:
        yield
    finally:
        handle.remove()


@pytest.mark.parametrize("family", FAMILIES)
def test_smoke_run_writes_a_model_with_its_config(family, tmp_path, capsys):
    out = tmp_path / f"{family}.safetensors"
    assert train(family, out) == 0
    err = capsys.readouterr().err
    loaded = load_model(out)
    assert loaded.model.family == family
    assert loaded.meta["dataset"]["name"] == "digits"
    training = loaded.meta["training"]
    assert math.isfinite(training["test_metric"]["value"])
    # the resolved config is stored, and the model options it names built the model
    config = FAMILIES[family].module.parse(smoke_args(family, out))
    assert training["config"] == config.to_dict()
    assert training["config"]["preset"] == "smoke" and training["config"]["threads"] == 1
    model_config = dataclasses.asdict(loaded.model.config)
    assert config.model and {k: model_config[k] for k in config.model} == config.model
    assert training["command"] == config.command
    if family in GRADIENT:
        assert training["epochs"] == 2
        assert training["steps"] == 2 * (256 // config.batch_size)  # 256 training images
    assert "stopped" not in training  # it ran its --epochs
    assert err.startswith(describe(config) + "\n")  # logged first
    # then the data used, before training starts
    lines = err.splitlines()
    assert (
        "  images       digits: 384 (train 256, validation 64, test 64), 1x8x8, 17 levels" in lines
    )
    assert any(line.startswith("  labels       10: 0 (") for line in lines)
    if family in GRADIENT:
        assert any(line.startswith("estimate: ") and "per epoch of" in line for line in lines)
    reference = FAMILIES[family].reference
    if reference is None:
        assert loaded.reference is None
    else:
        assert tuple(loaded.reference.latents.shape) == reference


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_trains_on_fashion_mnist(family, tmp_path, capsys):
    out = tmp_path / f"{family}.safetensors"
    assert train(family, out, "--data", "fashion") == 0
    lines = capsys.readouterr().err.splitlines()
    expected = "fashion: 384 (train 256, validation 64, test 64), 1x28x28, 256 levels"
    assert f"  images       {expected}" in lines
    loaded = load_model(out)
    assert loaded.meta["dataset"]["name"] == "fashion"
    assert loaded.meta["dataset"]["label_names"][:2] == ["T-shirt/top", "Trouser"]
    config = loaded.model.config
    assert (config.channels, config.height, config.width, config.levels) == (1, 28, 28, 256)
    assert math.isfinite(loaded.meta["training"]["test_metric"]["value"])
    if loaded.reference is not None:
        assert tuple(loaded.reference.images.shape[1:]) == (1, 28, 28)
    if family in ("glow", "realnvp", "nice"):  # class directions from the labels
        assert "trouser" in loaded.attributes and "ankle boot" in loaded.attributes


@pytest.mark.parametrize("family", ["vae", "realnvp"])
def test_half_precision_stores_16_bit_weights_and_scores_them(family, tmp_path):
    from safetensors import safe_open

    out = tmp_path / f"{family}.safetensors"
    assert train(family, out, "--half-precision") == 0
    with safe_open(str(out), "pt") as f:
        dtypes = {name: f.get_slice(name).get_dtype() for name in f.keys()}  # noqa: SIM118 (not a dict)
    floats = [n for n in dtypes if n.startswith("model.") and dtypes[n] in ("F16", "F32")]
    assert floats and all(dtypes[n] == "F16" for n in floats)
    assert dtypes["reference.latents"] == "F16"
    loaded = load_model(out)
    assert loaded.meta["training"]["config"]["half_precision"] is True
    metric = loaded.meta["training"]["test_metric"]["value"]
    assert math.isfinite(metric)


@pytest.mark.parametrize("family", GRADIENT)
def test_bfloat16_precision_trains_every_gradient_family(family, tmp_path, capsys):
    out = tmp_path / f"{family}.safetensors"
    assert train(family, out, "--precision", "bfloat16") == 0
    assert "  device       cpu, bfloat16 autocast, 1 process(es)" in capsys.readouterr().err
    training = load_model(out).meta["training"]
    assert training["precision"] == "bfloat16"
    assert math.isfinite(training["test_metric"]["value"])
    for p in load_model(out).model.parameters():
        assert p.dtype != torch.bfloat16  # only the products were rounded, never the weights


@pytest.mark.parametrize("native", [False, True])
def test_auto_precision_on_a_cpu_is_bfloat16_for_conv_flows_where_it_is_native(
    native, tmp_path, monkeypatch
):
    monkeypatch.setattr(common, "cpu_has_native_bfloat16", lambda: native)
    cpu = torch.device("cpu")
    for family in FAMILIES:
        config = FAMILIES[family].module.parse(smoke_args(family, tmp_path / "m.safetensors"))
        auto = torch.bfloat16 if native and family in ("realnvp", "glow") else None
        assert common.autocast_dtype(config, cpu) == auto, family
        if family in GRADIENT:
            for choice, dtype in (("float32", None), ("bfloat16", torch.bfloat16)):
                chosen = dataclasses.replace(config, precision=choice)
                assert common.autocast_dtype(chosen, cpu) == dtype


@pytest.mark.parametrize("native", [False, True])
def test_auto_precision_on_a_gpu_is_float32(native, tmp_path, monkeypatch):
    """At the trainers' sizes bfloat16 was slower on a GPU for every family (an H200), so auto
    keeps a GPU in float32, whatever the processor; asked for, bfloat16 is used there."""
    monkeypatch.setattr(common, "cpu_has_native_bfloat16", lambda: native)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *_: True)
    gpu = torch.device("cuda")
    for family in GRADIENT:
        config = FAMILIES[family].module.parse(smoke_args(family, tmp_path / "m.safetensors"))
        assert common.autocast_dtype(config, gpu) is None, family
        asked = dataclasses.replace(config, precision="bfloat16")
        assert common.autocast_dtype(asked, gpu) == torch.bfloat16, family


def test_every_generator_of_the_trainers_names_its_device():
    """A generator draws on its own device, and a model on a GPU refuses a CPU one: DCGAN's
    validation failed so on a CUDA GPU (an H200) with ``torch.Generator()``. The tests run on
    the CPU, so the trainers' source is read instead."""
    unnamed = []
    for path in sorted((ROOT / "training").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) == "torch.Generator"
                and not (node.args or node.keywords)
            ):
                unnamed.append(f"{path.name}:{node.lineno}")
    assert unnamed == []


@pytest.mark.parametrize("native", [False, True])
def test_bfloat16_on_a_processor_without_it_says_so(native, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(common, "cpu_has_native_bfloat16", lambda: native)
    assert train("nice", tmp_path / "nice.safetensors", "--precision", "bfloat16") == 0
    said = "this processor has no native bfloat16 products" in capsys.readouterr().err
    assert said == (not native)


@pytest.mark.parametrize("family", GRADIENT)
def test_the_time_budget_stops_the_run_and_it_still_writes_its_model(family, tmp_path, capsys):
    out = tmp_path / "budget.safetensors"
    assert train(family, out, "--epochs", "1000", "--time-budget", "1e-6") == 0
    assert "stopped at the time budget of 1e-06 min after 1 epochs (1 steps" in (
        capsys.readouterr().err
    )
    training = load_model(out).meta["training"]
    assert training["stopped"] == "time budget"
    assert (training["epochs"], training["steps"]) == (1, 1)  # cut short after its first step
    assert math.isfinite(training["test_metric"]["value"])
    assert training["config"]["time_budget"] == 1e-6
    assert torch.load(out.with_suffix(".ckpt"), weights_only=True)["loop"]["epoch"] == 1


@pytest.mark.parametrize("family", GRADIENT)
def test_resume_continues_the_loop_and_every_optimiser(family, tmp_path, capsys):
    out = tmp_path / "run.safetensors"
    checkpoint = out.with_suffix(".ckpt")
    assert train(family, out) == 0
    first = torch.load(checkpoint, weights_only=True)
    assert first["loop"]["epoch"] == 2
    assert train(family, out, "--resume", "--epochs", "3") == 0
    assert "resumed from" in capsys.readouterr().err
    resumed = torch.load(checkpoint, weights_only=True)
    assert resumed["loop"]["epoch"] == 3
    assert resumed["loop"]["step"] == first["loop"]["step"] * 3 // 2
    # every optimiser went on from its saved state: Adam counts its steps per parameter
    assert set(resumed["optimizers"]) == set(first["optimizers"])
    for saved in resumed["optimizers"].values():
        counts = {int(s["step"]) for s in saved["state"].values()}
        assert counts == {resumed["loop"]["step"]}
    loaded = load_model(out)
    assert loaded.meta["training"]["epochs"] == 3
    assert loaded.meta["training"]["config"]["resume"] is True


@pytest.mark.parametrize("decay", ["none", "cosine"])
def test_a_cosine_decay_brings_every_optimisers_learning_rate_down_to_near_zero(decay, tmp_path):
    out = tmp_path / "decay.safetensors"
    assert train("dcgan", out, "--lr", "0.01", "--lr-decay", decay) == 0  # two optimisers
    saved = torch.load(out.with_suffix(".ckpt"), weights_only=True)
    steps = saved["loop"]["step"]
    rates = {g["lr"] for o in saved["optimizers"].values() for g in o["param_groups"]}
    if decay == "none":
        assert rates == {0.01}
    else:  # the last step ran at 1/steps before the end of the half cosine
        assert len(rates) == 1 and rates.pop() == pytest.approx(
            0.01 * 0.5 * (1 + math.cos(math.pi * (steps - 1) / steps))
        )


@pytest.mark.parametrize("family", GRADIENT)
def test_nan_loss_stops_with_one_line_and_keeps_the_last_good_checkpoint(family, tmp_path, capsys):
    out = tmp_path / "nan.safetensors"
    checkpoint = out.with_suffix(".ckpt")
    assert train(family, out) == 0
    good = torch.load(checkpoint, weights_only=True)
    out.unlink()
    with poisoned_optimisers():
        code = train(family, out, "--resume", "--epochs", "4")
    assert code == 1
    line = last_line(capsys)
    assert line.startswith("error: training diverged at epoch 3")
    assert f"the last good checkpoint is kept at {checkpoint}" in line
    assert not out.exists()
    kept = torch.load(checkpoint, weights_only=True)
    assert kept["loop"] == good["loop"]
    assert all(torch.equal(kept["model"][k], v) for k, v in good["model"].items())


def test_nan_before_the_first_checkpoint_says_so(tmp_path, capsys):
    out = tmp_path / "nan.safetensors"
    with poisoned_optimisers():
        assert train("vae", out) == 1
    assert "no checkpoint was written yet" in last_line(capsys)
    assert not out.exists() and not out.with_suffix(".ckpt").exists()


@pytest.mark.parametrize("family", ["vae", "dcgan"])  # one network; two networks, two optimisers
def test_torchrun_two_processes(family, tmp_path):
    """The same script under torchrun with DistributedDataParallel (gloo on CPU)."""
    out = tmp_path / "ddp.safetensors"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--standalone",
            "-m",
            f"training.{family}",
            *smoke_args(family, out),
        ],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    training = load_model(out).meta["training"]
    assert training["world_size"] == 2 and training["epochs"] == 2
    assert training["steps"] == 2 * (256 // 64)  # the global batch is split across the ranks


# ------------------------------------------------------------- errors of the shared code


def test_resume_without_a_checkpoint_is_one_line(tmp_path, capsys):
    out = tmp_path / "none.safetensors"
    assert train("vae", out, "--resume") == 1
    checkpoint = out.with_suffix(".ckpt")
    assert last_line(capsys) == f"error: --resume given but there is no checkpoint at {checkpoint}"


def test_resume_refuses_what_is_not_its_checkpoint(tmp_path, capsys):
    out = tmp_path / "run.safetensors"
    checkpoint = out.with_suffix(".ckpt")
    assert train("vae", out) == 0
    assert train("vae", out, "--resume", "--hidden", "8") == 1
    assert last_line(capsys).endswith("it holds a model with hidden=4, not 8")
    checkpoint.write_bytes(b"\x80\x04not a checkpoint")
    assert train("vae", out, "--resume") == 1
    assert last_line(capsys).startswith(f"error: cannot resume from {checkpoint}: ")
    torch.save({"model_options": {"latent_dim": 2, "hidden": 4, "dense": 16}}, checkpoint)
    assert train("vae", out, "--resume") == 1
    assert last_line(capsys).startswith(f"error: cannot resume from {checkpoint}: ")


def test_a_checkpoint_from_before_a_later_variant_resumes_as_the_earlier_one(tmp_path, capsys):
    """RealNVP's checkerboard packing came after checkpoints without it: such a checkpoint
    holds masked couplings, and resumes only when the run asks for those."""
    out = tmp_path / "run.safetensors"
    checkpoint = out.with_suffix(".ckpt")
    assert train("realnvp", out, "--checkerboard", "masked") == 0
    saved = torch.load(checkpoint, weights_only=True)
    del saved["model_options"]["checkerboard"]
    torch.save(saved, checkpoint)
    assert train("realnvp", out, "--resume", "--epochs", "3") == 1
    assert last_line(capsys).endswith("it holds a model with checkerboard='masked', not 'packed'")
    assert train("realnvp", out, "--resume", "--epochs", "3", "--checkerboard", "masked") == 0
    assert load_model(out).model.config.checkerboard == "masked"


def test_missing_data_bad_model_options_and_devices_are_one_line(tmp_path, capsys):
    out = tmp_path / "x.safetensors"
    assert train("vae", out, "--data", f"folder:{tmp_path / 'nowhere'}") == 1
    assert last_line(capsys).startswith("error: ") and not out.exists()
    assert train("vae", out, "--latent-dim", "0") == 1
    assert last_line(capsys) == (
        "error: invalid model options: config value latent_dim=0 is outside [1, 512]"
    )
    assert train("vae", out, "--device", "gpu0") == 1
    assert last_line(capsys) == "error: unknown --device 'gpu0' (use auto, cpu or cuda)"


def test_options_out_of_bounds_are_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        train("vae", tmp_path / "x.safetensors", "--epochs", "0")
    assert exc.value.code == 2
    assert "epochs=0 is outside [1, 1000000]" in last_line(capsys)


@pytest.mark.parametrize("preset", [[], ["--preset", "smoke"]])
def test_faces_of_a_size_they_cannot_be_drawn_at_are_one_line(preset, tmp_path, capsys):
    from training import vae

    out = tmp_path / "faces.safetensors"
    argv = ["--data", "synthfaces", "--image-size", "8", "--out", str(out), *preset]
    assert vae.main(argv) == 1
    assert last_line(capsys) == (
        "error: synthetic faces are drawn at 16 to 128 pixels, not 8 (--image-size)"
    )


def test_a_resumed_run_goes_on_in_the_precision_its_checkpoint_trained_in(
    tmp_path, capsys, monkeypatch
):
    """--precision auto picks bfloat16 for RealNVP only on a processor that multiplies it
    natively: a run begun in float32 and resumed where auto would pick bfloat16 stays float32,
    unless --precision says otherwise."""
    out = tmp_path / "run.safetensors"
    checkpoint = out.with_suffix(".ckpt")
    monkeypatch.setattr(common, "cpu_has_native_bfloat16", lambda: False)
    assert train("realnvp", out) == 0
    assert torch.load(checkpoint, weights_only=True)["precision"] == "float32"
    capsys.readouterr()

    monkeypatch.setattr(common, "cpu_has_native_bfloat16", lambda: True)
    assert train("realnvp", out, "--resume", "--epochs", "3") == 0
    err = capsys.readouterr().err
    assert "  device       cpu, float32, 1 process(es)" in err
    assert "  checkpoint   trained in float32; going on in it" in err
    assert load_model(out).meta["training"]["precision"] == "float32"

    assert train("realnvp", out, "--resume", "--epochs", "4", "--precision", "bfloat16") == 0
    err = capsys.readouterr().err
    assert "  device       cpu, bfloat16 autocast, 1 process(es)" in err
    assert "trained in float32; going on in bfloat16, as --precision asks" in err
    assert torch.load(checkpoint, weights_only=True)["precision"] == "bfloat16"

    # a checkpoint from before they recorded it: auto decides as for a new run
    saved = torch.load(checkpoint, weights_only=True)
    del saved["precision"]
    torch.save(saved, checkpoint)
    monkeypatch.setattr(common, "cpu_has_native_bfloat16", lambda: False)
    assert train("realnvp", out, "--resume", "--epochs", "5") == 0
    err = capsys.readouterr().err
    assert "  device       cpu, float32, 1 process(es)" in err
    assert "  checkpoint   records no precision; going on in float32" in err
