"""The typed training config: options generated from the dataclasses, defaults in the help,
presets, backwards-compatible command lines, and the resolved config as logged and stored."""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
import shlex
from pathlib import Path

import pytest
from trainer_families import FAMILIES

from latentlab.modelfile import read_metadata
from latentlab.models import FAMILIES as MODEL_FAMILIES
from training import flow, vae
from training.config import IMAGE_FIELDS, describe

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted((ROOT / "resources" / "models").glob("*.safetensors"))


def help_entries(text: str) -> dict[str, str]:
    """Each option's first flag -> its help entry, from ``--help`` output."""
    entries: dict[str, str] = {}
    flag = None
    for line in text.splitlines():
        match = re.match(r"  (-\S+)", line)
        if match:
            flag = match.group(1).rstrip(",")
            entries[flag] = line
        elif flag and line.startswith("   "):
            entries[flag] += " " + line.strip()
        else:
            flag = None
    return entries


@pytest.mark.parametrize("family", FAMILIES)
def test_every_field_is_an_option_stating_its_default(family, capsys):
    module, args = FAMILIES[family].module, FAMILIES[family].args
    with pytest.raises(SystemExit) as exc:
        module.main([*args, "--help"])
    assert exc.value.code == 0
    entries = help_entries(capsys.readouterr().out)
    config = module.parse([*args, "--out", "x.safetensors"])
    names = [*config.to_dict(), *config.model]
    assert set(entries) == {"-h", *("--" + n.replace("_", "-") for n in names)}
    for flag, entry in entries.items():
        if flag not in ("-h", "--out"):
            assert "(default: " in entry, entry


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_the_bundled_models_commands_still_build_their_models(path):
    """Each bundled model records the command that trained it: today's trainers still accept
    it and derive the same model options from it, but for a later variant of the architecture
    that the command predates: it now trains the newer one (the README's commands name the
    earlier one)."""
    meta = read_metadata(path)
    python, dash_m, module, *argv = shlex.split(meta["training"]["command"])
    assert (python, dash_m) == ("python", "-m")
    config = importlib.import_module(module).parse(argv)
    fields = dataclasses.fields(MODEL_FAMILIES[meta["family"]].config_class)
    # trainers offer no option for the imported models' variants: those stay at their defaults
    variants = {
        f.name: f.default
        for f in fields
        if f.metadata.get("optional") and "trained" not in f.metadata
    }
    expected = {
        k: v for k, v in meta["config"].items() if k not in IMAGE_FIELDS and k not in variants
    }
    for f in fields:
        if "trained" in f.metadata and f.name not in meta["config"]:
            expected[f.name] = f.metadata["trained"]
    assert config.model == expected
    assert all(meta["config"].get(k, default) == default for k, default in variants.items())


def test_the_readme_glow_command():
    argv = shlex.split(
        "--arch glow --data synthfaces --scales 3 --steps 4 --hidden 64 --coupling additive "
        "--epochs 50 --patience 5 --lr 5e-4 --reference-size 300 --out glow.safetensors"
    )
    config = flow.parse(argv)
    assert (config.arch, config.data, config.epochs, config.patience) == (
        "glow",
        "synthfaces",
        50,
        5,
    )
    assert config.lr == 5e-4 and config.reference_size == 300 and not config.resume
    assert config.model == {
        "scales": 3,
        "steps": 4,
        "hidden": 64,
        "coupling": "additive",
        "permutation": "lu",
        "learn_top": True,
    }
    assert config.command == f"python -m training.flow {shlex.join(argv)}"
    assert flow.parse([*argv, "--resume"]).resume


def test_the_smoke_preset_changes_defaults_and_explicit_options_win():
    plain = vae.parse(["--out", "x.safetensors"])
    assert (plain.epochs, plain.iwae_k, plain.model) == (
        600,
        0,  # by image size
        {"latent_dim": 2, "hidden": 16, "dense": 64},
    )
    smoke = vae.parse(["--preset", "smoke", "--out", "x", "--epochs", "5", "--latent", "3"])
    assert (smoke.epochs, smoke.iwae_k, smoke.model) == (
        5,
        8,
        {"latent_dim": 3, "hidden": 4, "dense": 16},
    )


def test_the_resolved_config_is_one_block_and_plain_json():
    config = flow.parse(["--arch", "nice", "--lr", "0.01", "--out", "nice.safetensors"])
    lines = describe(config).splitlines()
    assert lines[0] == "python -m training.flow --arch nice --lr 0.01 --out nice.safetensors"
    groups = [line.split()[0] for line in lines[1:]]
    assert groups == ["model", "data", "output", "run", "optimisation", "loop", "attributes"]
    pairs = " ".join(lines[1:]).split()
    everything = {**config.to_dict(), **config.model}
    assert sorted(p for p in pairs if "=" in p) == sorted(f"{k}={v}" for k, v in everything.items())
    stored = json.loads(json.dumps(config.to_dict(), allow_nan=False))
    assert stored["out"] == "nice.safetensors" and stored["lr"] == 0.01
    assert "model" not in stored and "command" not in stored  # stored beside it in the file
