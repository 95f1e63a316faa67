"""Families from plugins (the ``latentlab.families`` entry points): the example plugin of
examples/latentlab-plugin-example installed for each test, and broken ones skipped."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tomllib

import pytest
import torch
from installing import EXAMPLE, EXAMPLE_ENTRY_POINTS
from safetensors.torch import load_file, save_file

from latentlab import cli, plugins
from latentlab.modelfile import (
    ModelFileError,
    build_metadata,
    load_model,
    read_metadata,
    save_model,
)
from latentlab.models import FAMILIES, get_family, registered_families
from latentlab.testing import ConformanceError, check_family
from latentlab.testing.qt import drag_handle, open_family_panel, sample


def write_ppca(cls, path, **config):
    torch.manual_seed(0)
    model = cls(cls.config_class(**{"latent_dim": 2, **config})).eval()
    meta = build_metadata(
        model,
        dataset={"name": "noise", "size": 0},
        training={"command": "tests", "epochs": 0, "steps": 0, "seconds": 0.0, "device": "cpu"},
    )
    save_model(path, model, meta)
    return path


def test_the_test_install_declares_what_the_example_package_declares():
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    assert project["project"]["entry-points"][plugins.ENTRY_POINT_GROUP] == EXAMPLE_ENTRY_POINTS


def test_without_plugins_the_registry_is_the_built_in_families():
    assert registered_families() == FAMILIES  # the example is not installed in the environment
    assert plugins.plugin_warnings() == []


def test_the_example_family_follows_the_protocol(example_plugin):
    check_family(example_plugin, example_plugin.tiny_config())
    check_family(example_plugin, example_plugin.config_class(latent_dim=5, channels=3))


def test_check_family_refuses_an_unbounded_config(example_plugin):
    from dataclasses import dataclass

    @dataclass
    class Loose(example_plugin.config_class):
        extra: int = 3  # not declared with bounded()

    class Unbounded(example_plugin):
        config_class = Loose

    with pytest.raises(ConformanceError, match="extra has no bounds"):
        check_family(Unbounded)


def test_an_example_model_file_is_saved_listed_loaded_and_validated(example_plugin, tmp_path):
    assert registered_families()["ppca"] is example_plugin
    assert get_family("ppca") is example_plugin and "ppca" not in FAMILIES
    path = write_ppca(example_plugin, tmp_path / "ppca.safetensors")
    assert read_metadata(path)["family"] == "ppca"
    loaded = load_model(path)
    assert type(loaded.model) is example_plugin and loaded.model.latent_dim == 2
    with torch.inference_mode():
        z = loaded.model.encode(loaded.model.sample(4))
    assert z.shape == (4, 2)


def tampered(path, tmp_path, change):
    """A copy of model file ``path`` with its metadata or tensors changed by ``change``."""
    tensors = load_file(path)
    from safetensors import safe_open

    with safe_open(path, "pt") as f:
        meta = json.loads(f.metadata()["latentlab"])
    change(meta, tensors)
    out = tmp_path / "tampered.safetensors"
    save_file(tensors, out, metadata={"latentlab": json.dumps(meta)})
    return out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m, t: m["config"].update(latent_dim=65), r"latent_dim=65 is outside \[1, 64\]"),
        (lambda m, t: m["config"].update(latent_dim=3), r"model.weight' has shape \[64, 2\]"),
        (lambda m, t: m["config"].update(hidden=4), r"unknown config value\(s\): hidden"),
        (lambda m, t: t.update(extra=torch.zeros(1)), r"unexpected tensor\(s\): extra"),
        (lambda m, t: t["model.mean"].__setitem__(0, float("nan")), "NaN or infinite"),
    ],
    ids=["config-out-of-bounds", "shape", "unknown-config", "extra-tensor", "nan"],
)
def test_a_tampered_example_model_file_is_refused(example_plugin, tmp_path, change, message):
    path = tampered(write_ppca(example_plugin, tmp_path / "ppca.safetensors"), tmp_path, change)
    with pytest.raises(ModelFileError, match=message) as error:
        load_model(path)
    assert "\n" not in str(error.value)


def test_the_cli_describes_an_example_model(example_plugin, tmp_path, capsys):
    path = write_ppca(example_plugin, tmp_path / "ppca.safetensors")
    assert cli.main(["info", "--json", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == "ppca" and info["latent_dim"] == 2
    assert info["capabilities"] == ["decode", "encode", "log_prob", "sample"]


def test_an_unknown_family_names_the_installed_plugins(install, example_plugin, tmp_path):
    path = write_ppca(example_plugin, tmp_path / "ppca.safetensors")
    unknown = tampered(path, tmp_path, lambda m, t: m.update(family="foo"))
    with pytest.raises(ModelFileError) as error:
        load_model(unknown)
    message = str(error.value)
    assert "unknown model family 'foo' (known: vae," in message
    assert message.endswith("; installed plugin families: ppca)")
    assert "\n" not in message


def test_an_unknown_family_says_when_no_plugins_are_installed(tiny_vae_path, tmp_path):
    unknown = tampered(tiny_vae_path, tmp_path, lambda m, t: m.update(family="foo"))
    with pytest.raises(ModelFileError, match=r"installed plugin families: none\)$"):
        load_model(unknown)
    with pytest.raises(KeyError, match="unknown model family 'foo'"):
        get_family("foo")


BROKEN = {
    "boom": "boom_plugin:Model",
    "number": "bad_plugins:NOT_A_CLASS",
    "notmodel": "bad_plugins:NotAModel",
    "vae": "bad_plugins:Clash",
    "noconfig": "bad_plugins:NoConfig",
    "misnamed": "bad_plugins:Misnamed",
    "missing": "bad_plugins:Missing",
}
BAD_PLUGINS = """
from latentlab.models.base import GenerativeModel
from latentlab_ppca import PPCA

NOT_A_CLASS = 3

class NotAModel:
    family = "notmodel"

class Clash(PPCA):
    family = "vae"

class NoConfig(GenerativeModel):
    family = "noconfig"
    capabilities = frozenset({"sample"})
    metric_name = "none"

class Misnamed(PPCA):
    family = "other"
"""


@pytest.fixture
def broken_plugins(install, example_plugin, tmp_path):
    source = tmp_path / "broken-source"
    source.mkdir()
    (source / "boom_plugin.py").write_text("raise RuntimeError('this plugin is broken')\n")
    (source / "bad_plugins.py").write_text(BAD_PLUGINS)
    install("broken-plugins", BROKEN, source)
    return example_plugin


def test_broken_plugins_are_skipped_with_one_line_each(broken_plugins, caplog):
    with caplog.at_level(logging.WARNING, logger="latentlab.plugins"):
        families = registered_families()
    assert families == {**FAMILIES, "ppca": broken_plugins}  # the good plugin still works
    assert families["vae"] is FAMILIES["vae"]  # a plugin never replaces a built-in family
    warnings = plugins.plugin_warnings()
    assert [r.getMessage() for r in caplog.records] == warnings
    assert all("\n" not in w and w.startswith("LatentLab plugin '") for w in warnings)
    why = {w.split("'")[1].split(" = ")[0]: w for w in warnings}
    assert sorted(why) == sorted(BROKEN)
    assert "fails to import (RuntimeError: this plugin is broken)" in why["boom"]
    assert "names int 3, not a class" in why["number"]
    assert "NotAModel is not a latentlab GenerativeModel subclass" in why["notmodel"]
    assert "'vae' is a built-in family's name" in why["vae"]
    assert "no config_class" in why["noconfig"]
    assert "named 'misnamed' but its class's family is 'other'" in why["misnamed"]
    assert "fails to import (AttributeError" in why["missing"]
    registered_families()
    assert len(caplog.records) == len(warnings)  # loaded once: said once


def test_a_plugin_that_looks_families_up_as_it_is_imported(install, example_plugin, tmp_path):
    source = tmp_path / "curious-source"
    source.mkdir()
    (source / "curious.py").write_text(
        "from latentlab.models import registered_families\n"
        "from latentlab_ppca import PPCA\n"
        "SEEN = sorted(registered_families())  # while plugins load: the built-in ones\n"
        "class Curious(PPCA):\n"
        "    family = 'curious'\n"
    )
    install("curious", {"curious": "curious:Curious"}, source)
    assert sorted(registered_families()) == sorted([*FAMILIES, "ppca", "curious"])
    assert sorted(FAMILIES) == sys.modules["curious"].SEEN


def test_the_cli_keeps_working_with_broken_plugins(broken_plugins, tmp_path, capsys):
    path = write_ppca(broken_plugins, tmp_path / "ppca.safetensors")
    assert cli.main(["info", str(path)]) == 0
    assert "ppca" in capsys.readouterr().out
    assert cli.main(["models"]) == 0
    assert "vae-digits-latent2" in capsys.readouterr().out


def test_the_example_plugin_in_the_real_window(example_plugin, latentlab_window, tmp_path):
    """Only latentlab.testing's fixture and helpers: what a plugin author's test does."""
    window = latentlab_window(write_ppca(example_plugin, tmp_path / "ppca.safetensors"))
    assert window.explorer.loaded.model.family == "ppca"
    assert "ppca" in window.info_panel.text()
    before = window.image_view.image().copy()
    a, b = drag_handle(window, steps=12)
    assert (a, b) != pytest.approx(window.map_view.view_centre())
    assert window.explorer.state.point == pytest.approx((a, b))
    assert not (window.image_view.image() == before).all()
    first = window.explorer.samples.latents.copy()
    samples = sample(window)
    assert samples.images.shape[1:] == (1, 8, 8) and not (samples.latents == first).all()
    assert open_family_panel(window) is None  # a plugin family has no panel of its own


def test_the_example_plugins_own_tests_pass_with_it_installed(tmp_path):
    """The example's tests, as its author runs them: the pytest plugin enabled by its
    conftest's ``pytest_plugins``, the package installed (here: on PYTHONPATH with a
    dist-info folder declaring its entry point, in a child process)."""
    info = tmp_path / "latentlab_ppca_example-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: latentlab-ppca-example\n")
    lines = [
        f"[{plugins.ENTRY_POINT_GROUP}]",
        *(f"{k} = {v}" for k, v in EXAMPLE_ENTRY_POINTS.items()),
    ]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(EXAMPLE / "src")]),
        "QT_QPA_PLATFORM": "offscreen",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # a crash prints the failing thread's stack first: keep the head of stderr
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[:6000]
    assert "3 passed" in result.stdout
