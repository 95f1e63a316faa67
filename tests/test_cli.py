"""The ``latentlab`` command, driven through ``main(argv)`` with tiny model files."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import numpy as np
import pytest
from helpers import write_tiny_vae
from PIL import Image

from latentlab import resources
from latentlab.cli import main
from latentlab.models.vae import VAE


def one_error_line(err: str) -> str:
    """The single line a failing command printed on stderr."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("latentlab: error: ")
    return lines[0]


def photo(path, size=(40, 30), seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def fake_app(monkeypatch):
    """A stand-in for ``latentlab.app`` that records what ``run_app`` was asked to open: the
    model path, or ("session", path); and in ``devices``, the device of each call."""
    app = types.ModuleType("latentlab.app")
    app.calls, app.devices = [], []

    def run_app(model_path, session=None, device="auto"):
        app.calls.append(model_path if session is None else ("session", session))
        app.devices.append(device)
        return 0

    app.run_app = run_app
    monkeypatch.setitem(sys.modules, "latentlab.app", app)
    return app


@pytest.fixture
def bundled(tmp_path, monkeypatch):
    """A resources folder with the default model and one other."""
    folder = tmp_path / "resources"
    (folder / "models").mkdir(parents=True)
    write_tiny_vae(folder / "models" / f"{resources.DEFAULT_MODEL}.safetensors")
    write_tiny_vae(folder / "models" / "another-vae.safetensors", latent_dim=3)
    monkeypatch.setattr(resources, "RESOURCES", folder)
    return folder / "models"


# ---------------------------------------------------------------------------- the app


def test_no_arguments_opens_the_app_on_the_default_model(fake_app):
    assert main([]) == 0
    assert fake_app.calls == [None]


def test_open_a_file_or_a_bundled_name(fake_app, tiny_vae_path, bundled):
    assert main(["open", str(tiny_vae_path)]) == 0
    assert main(["open", "another-vae"]) == 0
    assert fake_app.calls == [tiny_vae_path, bundled / "another-vae.safetensors"]


def test_open_a_session_file(fake_app, tmp_path, capsys):
    session = tmp_path / "talk.latentlab-session.json"
    assert main(["open", str(session)]) == 1
    assert "no such session file" in one_error_line(capsys.readouterr().err)
    session.write_text("{}")  # read by the app, which explains what is wrong with it
    assert main(["open", str(session)]) == 0
    assert fake_app.calls == [("session", session)]


def test_open_an_unknown_model(fake_app, bundled, capsys):
    assert main(["open", "nope"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "nope: no such model file" in line and "another-vae" in line
    assert fake_app.calls == []


def test_app_that_cannot_start(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "latentlab.app", types.ModuleType("latentlab.app"))
    assert main([]) == 1
    assert "cannot start the app" in one_error_line(capsys.readouterr().err)


def test_no_display(fake_app, monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert main([]) == 1
    assert "no display to open the app on" in one_error_line(capsys.readouterr().err)
    assert fake_app.calls == []


def test_ctrl_c_exits_130_quietly(fake_app, capsys):
    def interrupted(model_path, session=None, device="auto"):
        raise KeyboardInterrupt

    fake_app.run_app = interrupted
    assert main([]) == 130
    assert capsys.readouterr().err == ""


def test_unexpected_errors_are_one_line(fake_app, capsys):
    def broken(model_path, session=None, device="auto"):
        raise RuntimeError("boom\nand more")

    fake_app.run_app = broken
    assert main([]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line == "latentlab: error: unexpected RuntimeError: boom and more"


# ---------------------------------------------------------------------------- models and info


def test_models_lists_the_bundled_models(bundled, capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "FAMILY", "DATASET", "TEST", "METRIC"]
    rows = {line.lstrip("* ").split()[0]: line for line in lines[1:3]}
    assert set(rows) == {"another-vae", resources.DEFAULT_MODEL}
    assert rows[resources.DEFAULT_MODEL].startswith("*")
    assert not rows["another-vae"].startswith("*")
    assert "IWAE bound (nats): -150.000" in rows["another-vae"]
    assert {line.index("IWAE") for line in lines[1:3]} == {lines[0].index("TEST METRIC")}
    assert lines[3].startswith("* the default model")


def test_models_with_none_bundled(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(resources, "RESOURCES", tmp_path)
    assert main(["models"]) == 0
    assert capsys.readouterr().out.startswith("no bundled models in ")


def test_models_with_a_broken_bundled_file(bundled, capsys):
    (bundled / "broken.safetensors").write_bytes(b"junk")
    assert main(["models"]) == 1
    out, err = capsys.readouterr()
    assert "broken.safetensors:" in one_error_line(err)
    assert "another-vae" in out


def test_info_text(tiny_vae_path, capsys):
    assert main(["info", str(tiny_vae_path)]) == 0
    out = capsys.readouterr().out
    for expected in (
        "family         vae",
        "1x8x8",
        "17 levels",
        "digits, 1797 images",
        "IWAE bound (nats): -150.000",
        "decode, encode, log_prob, sample",
        "latent dim     2",
        "reference set  30 images",
        "latent_dim=2",
    ):
        assert expected in out


def test_info_json_by_bundled_name(bundled, capsys):
    assert main(["info", "another-vae", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == "vae" and info["latent_dim"] == 3
    assert info["image"] == {"channels": 1, "height": 8, "width": 8, "levels": 17}
    assert info["test_metric"] == {"name": "IWAE bound (nats)", "value": -150.0}
    assert info["capabilities"] == ["decode", "encode", "log_prob", "sample"]
    assert info["parameters"] > 0 and info["reference_size"] == 30 and info["attributes"] == []


def test_info_on_a_bad_model_file(tmp_path, capsys):
    (tmp_path / "bad.safetensors").write_bytes(b"\x80\x04junk")
    assert main(["info", str(tmp_path / "bad.safetensors")]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("latentlab: error: bad.safetensors: this is a Python pickle")


# ---------------------------------------------------------------------------- sample


def test_sample_writes_a_grid(tiny_vae_path, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["sample", str(tiny_vae_path), "-n", "6", "--columns", "3", "-o", str(out)]) == 0
    with Image.open(out) as img:  # 8x8 images enlarged 4 times, 1-pixel gaps
        assert img.size == (3 * 33 + 1, 2 * 33 + 1) and img.mode == "L"
    assert "wrote 6 samples" in capsys.readouterr().out


def test_sample_is_deterministic_under_a_seed(tiny_vae_path, tmp_path):
    paths = [tmp_path / f"{name}.png" for name in ("a", "b", "c")]
    for path, seed in zip(paths, (1, 1, 2), strict=True):
        args = [
            "sample",
            str(tiny_vae_path),
            "-n",
            "4",
            "--seed",
            str(seed),
            "--scale",
            "1",
            "--temperature",
            "2",
            "-o",
            str(path),
        ]
        assert main(args) == 0
    with Image.open(paths[0]) as a, Image.open(paths[1]) as b, Image.open(paths[2]) as c:
        assert a.size == (2 * 9 + 1, 2 * 9 + 1)
        assert np.array_equal(np.asarray(a), np.asarray(b))
        assert not np.array_equal(np.asarray(a), np.asarray(c))


@pytest.mark.parametrize(
    "args",
    [
        ["-n", "0", "-o", "x.png"],
        ["-n", "many", "-o", "x.png"],
        ["--temperature", "nan", "-o", "x.png"],
        ["-o", "x.jpg"],
        [],
        ["--scale", "0", "-o", "x.png"],
    ],
)
def test_sample_usage_errors_exit_2(tiny_vae_path, args, capsys):
    assert main(["sample", str(tiny_vae_path), *args]) == 2
    assert "usage: latentlab sample" in capsys.readouterr().err


def test_help_states_defaults(capsys):
    for command in ("sample", "interpolate"):
        assert main([command, "--help"]) == 0
        assert "(default: " in capsys.readouterr().out
    assert main(["--help"]) == 0
    assert "interpolate" in capsys.readouterr().out
    assert main(["frobnicate"]) == 2


# ---------------------------------------------------------------------------- encode


def test_encode_writes_latents(tiny_vae_path, tmp_path, capsys):
    images = [photo(tmp_path / "a.png"), photo(tmp_path / "b.jpg", seed=1)]
    out = tmp_path / "z.npy"
    assert main(["encode", str(tiny_vae_path), *map(str, images), "-o", str(out)]) == 0
    latents = np.load(out)
    assert latents.shape == (2, 2) and latents.dtype == np.float32
    assert np.isfinite(latents).all() and not np.array_equal(latents[0], latents[1])
    out_text, err = capsys.readouterr()
    assert "wrote 2 latents of dimension 2" in out_text
    assert "latentlab: a.png: resized 30x30 to 8x8" in err.splitlines()


def test_encode_a_missing_image(tiny_vae_path, tmp_path, capsys):
    out = tmp_path / "z.npy"
    args = [
        "encode",
        str(tiny_vae_path),
        str(photo(tmp_path / "a.png")),
        str(tmp_path / "gone.png"),
        "-o",
        str(out),
    ]
    assert main(args) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert errors == ["latentlab: error: gone.png: no such file"]
    assert "Traceback" not in err and not out.exists()


def test_encode_needs_the_capability(tiny_vae_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(VAE, "capabilities", frozenset({"sample", "decode"}))
    args = ["encode", str(tiny_vae_path), str(photo(tmp_path / "a.png")), "-o", "z.npy"]
    assert main(args) == 1
    assert one_error_line(capsys.readouterr().err).endswith("a vae model cannot encode")


# ---------------------------------------------------------------------------- interpolate


@pytest.mark.parametrize("slerp", [False, True])
def test_interpolate_strip(tiny_vae_path, tmp_path, slerp):
    a, b = photo(tmp_path / "a.png"), photo(tmp_path / "b.png", seed=1)
    out = tmp_path / "strip.png"
    args = ["interpolate", str(tiny_vae_path), str(a), str(b), "--steps", "5", "-o", str(out)]
    assert main(args + ["--slerp"] * slerp) == 0
    with Image.open(out) as img:
        assert img.size == (5 * 33 + 1, 33 + 1)


def test_interpolate_gif(tiny_vae_path, tmp_path):
    a, b = photo(tmp_path / "a.png"), photo(tmp_path / "b.png", seed=1)
    out = tmp_path / "walk.gif"
    args = [
        "interpolate",
        str(tiny_vae_path),
        str(a),
        str(b),
        "--steps",
        "4",
        "--scale",
        "2",
        "--frame-ms",
        "70",
        "-o",
        str(out),
    ]
    assert main(args) == 0
    with Image.open(out) as img:
        assert img.n_frames <= 4 and img.size == (16, 16) and img.info["duration"] >= 70


def test_interpolate_needs_the_capabilities(tiny_vae_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(VAE, "capabilities", frozenset({"sample", "decode"}))
    a = photo(tmp_path / "a.png")
    args = ["interpolate", str(tiny_vae_path), str(a), str(a), "-o", str(tmp_path / "x.gif")]
    assert main(args) == 1
    assert "cannot encode" in one_error_line(capsys.readouterr().err)


def test_interpolate_bad_output_suffix(tiny_vae_path, capsys):
    assert main(["interpolate", str(tiny_vae_path), "a.png", "b.png", "-o", "walk.mp4"]) == 2


# ---------------------------------------------------------------------------- the real command


def run_command(folder, *args: str) -> tuple[subprocess.CompletedProcess, list[str], list[str]]:
    """``latentlab ARGS`` as a process in ``folder``: the result, the lines it wrote to stderr
    and the modules it imported (``-X importtime``)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "latentlab.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=folder,
    )
    lines = result.stderr.splitlines()
    imports = [line for line in lines if line.startswith("import time:")]
    return result, [line for line in lines if line not in imports], imports


def test_console_command_on_a_bad_file_prints_one_line_and_never_loads_qt(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(write_tiny_vae(tmp_path / "good.safetensors").read_bytes()[:-10])
    result, messages, imports = run_command(tmp_path, "info", str(bad))
    assert result.returncode == 1 and result.stdout == ""
    assert len(messages) == 1, result.stderr
    assert messages[0].startswith("latentlab: error: bad.safetensors: the file is truncated")
    assert imports and not any("PySide6" in line or "latentlab.app" in line for line in imports)


def test_lab_help_exits_0_without_loading_torch_qt_or_numpy(tmp_path):
    result, messages, imports = run_command(tmp_path, "lab", "--help")
    assert result.returncode == 0 and messages == [], result.stderr
    assert "2-D lab" in result.stdout
    heavy = (" torch", " PySide6", " numpy")  # a usage question answers at once
    assert not any(line.rstrip().endswith(heavy) for line in imports)


@pytest.mark.parametrize("command", [["info"], ["sample", "-o", "x.png"]])
def test_a_missing_model_is_one_plain_line_without_importing_torch_or_numpy(tmp_path, command):
    name, *rest = command
    result, messages, imports = run_command(tmp_path, name, "no-such-model", *rest)
    assert result.returncode == 1 and len(messages) == 1, result.stderr
    assert messages[0].startswith("latentlab: error: no-such-model: no such model file, nor a")
    assert imports and not any(line.rstrip().endswith((" torch", " numpy")) for line in imports)


def test_attribute_moves_images_along_a_stored_direction_in_the_sliders_unit(tmp_path, capsys):
    import torch

    from latentlab.explore.attributes import spread_along
    from latentlab.explore.images import image_grid
    from latentlab.explore.ops import decode, encode
    from latentlab.modelfile import load_model

    model = write_tiny_vae(
        tmp_path / "attr.safetensors", attributes={"smiling": torch.tensor([2.0, -1.0])}
    )
    images = []
    for level in (200, 40):
        images.append(tmp_path / f"in{level}.png")
        Image.fromarray(np.full((8, 8), level, dtype=np.uint8), "L").save(images[-1])
    out = tmp_path / "sheet.png"
    amounts = ["--amount", "-2", "--amount", "0", "--amount", "2"]
    args = ["attribute", str(model), *map(str, images), "--name", "smiling", *amounts]
    assert main([*args, "--scale", "1", "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "2 x 3 images" in said and "smiling at -2, +0, +2 standard deviations" in said
    # one row per image, one column per amount, each amount in standard deviations of the
    # reference latents along the direction (the slider's unit)
    loaded = load_model(model)
    direction = np.array([2.0, -1.0])
    unit = spread_along(loaded.reference.latents.double().numpy(), direction)
    assert unit != pytest.approx(1.0)
    x = np.stack([np.full((1, 8, 8), level / 255.0) for level in (200, 40)])
    z = encode(loaded.model, x)
    moved = np.stack([zi + a * unit * direction for zi in z for a in (-2, 0, 2)])
    expected = image_grid(decode(loaded.model, moved), columns=3)
    with Image.open(out) as sheet:
        got = np.asarray(sheet)
    assert got.shape[:2] == (2 * 9 + 1, 3 * 9 + 1)  # 8x8 tiles with 1-pixel padding
    np.testing.assert_allclose(got.reshape(expected.shape), expected, atol=1)
    assert main(["attribute", str(model), str(images[0]), "--name", "frown", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "has no attribute 'frown'" in err and "smiling" in err and err.count("\n") == 1


# ---------------------------------------------------------------------------- --device


@pytest.fixture
def no_gpu(monkeypatch):
    """A machine without CUDA or MPS, whatever runs the tests."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_the_app_gets_the_device(fake_app, tiny_vae_path):
    assert main([]) == 0
    assert main(["--device", "cpu", "open", str(tiny_vae_path)]) == 0
    assert main(["open", str(tiny_vae_path), "--device", "CPU"]) == 0
    assert fake_app.devices == ["auto", "cpu", "cpu"]


def test_the_app_on_a_device_this_machine_lacks(fake_app, no_gpu, capsys):
    assert main(["--device", "cuda"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("latentlab: error: --device cuda: this machine has no CUDA device")
    assert fake_app.calls == []  # no window opens


def test_commands_on_the_cpu(tiny_vae_path, tmp_path, no_gpu):
    paths = [tmp_path / f"{name}.png" for name in ("auto", "cpu", "before")]
    for path, device in zip(paths, (["--device", "auto"], ["--device", "cpu"], []), strict=True):
        before = ["--device", "cpu"] if not device else []
        assert main([*before, "sample", str(tiny_vae_path), *device, "-o", str(path)]) == 0
    assert paths[0].read_bytes() == paths[1].read_bytes() == paths[2].read_bytes()


@pytest.mark.parametrize(
    "command",
    [
        ["info", "MODEL"],
        ["sample", "MODEL", "-o", "x.png"],
        ["encode", "MODEL", "a.png", "-o", "x.npy"],
        ["interpolate", "MODEL", "a.png", "b.png", "-o", "x.png"],
        ["attribute", "MODEL", "a.png", "--name", "smiling", "-o", "x.png"],
    ],
)
def test_commands_on_a_device_this_machine_lacks(tiny_vae_path, no_gpu, command, capsys):
    args = [str(tiny_vae_path) if arg == "MODEL" else arg for arg in command]
    assert main([*args, "--device", "cuda:1"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("latentlab: error: --device cuda:1: this machine has no CUDA device")
    assert main(["--device", "cuda", *args]) == 1  # before the command too
    assert "--device cuda: " in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("device", ["gpu", "cuda:x", ""])
def test_a_misspelt_device_is_a_usage_error(tiny_vae_path, device, capsys):
    assert main(["sample", str(tiny_vae_path), "--device", device, "-o", "x.png"]) == 2
    assert "is not one of auto, cpu, cuda, cuda:N, mps" in capsys.readouterr().err


def test_commands_without_models_take_no_device(capsys):
    assert main(["models", "--device", "cpu"]) == 2
    assert main(["lab", "--device", "cpu"]) == 2


def test_info_says_the_device(tiny_vae_path, capsys, no_gpu):
    assert main(["info", str(tiny_vae_path)]) == 0
    assert "\ndevice         CPU\n" in capsys.readouterr().out
    assert main(["info", str(tiny_vae_path), "--json", "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["device"] == "CPU"


def test_a_failed_move_runs_on_the_cpu_with_a_notice(tiny_vae_path, tmp_path, monkeypatch, capsys):
    import torch

    import latentlab.device

    real_to = torch.nn.Module.to

    def to(self, device):
        if torch.device(device).type != "cpu":
            raise RuntimeError("CUDA error: out of memory")
        return real_to(self, device)

    monkeypatch.setattr(latentlab.device, "resolve_device", lambda name: torch.device("cuda"))
    monkeypatch.setattr(torch.nn.Module, "to", to)
    assert (
        main(["sample", str(tiny_vae_path), "--device", "cuda", "-o", str(tmp_path / "x.png")]) == 0
    )
    captured = capsys.readouterr()
    assert captured.err == (
        "latentlab: Moving the model to cuda failed (RuntimeError: CUDA error: out of memory); "
        "it runs on the CPU\n"
    )
    assert "wrote 16 samples" in captured.out


def test_auto_samples_a_pixelrnn_on_the_cpu_beside_a_gpu(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    out = tmp_path / "x.png"
    assert main(["sample", "pixelrnn-digits", "-n", "2", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        "latentlab: PixelRNN runs on the CPU, where it samples faster (--device cuda for the GPU)\n"
    )
    assert "wrote 2 samples" in captured.out and out.exists()


def test_device_help_needs_no_torch(tmp_path):
    result, messages, imports = run_command(tmp_path, "sample", "--help")
    assert result.returncode == 0 and messages == [], result.stderr
    assert "--device DEV" in result.stdout and "(default: auto)" in result.stdout
    assert not any(line.rstrip().endswith(" torch") for line in imports)
