"""The benchmarks and the screenshots script, run as a user runs them, on their quick settings:
each must exit 0 and print its figures (or write its files), so that none of them rots while
the code it drives changes."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from latentlab.modelfile import read_metadata
from latentlab.resources import bundled_models
from training.common import cpu_has_native_bfloat16

ROOT = Path(__file__).resolve().parent.parent
CRASH_TRAIL = {"PYTHONFAULTHANDLER": "1", "PYTHONUNBUFFERED": "1"}


def run(script: str, *args: str) -> str:
    """Run ``script`` with ``args`` in a fresh interpreter, offscreen; its standard output."""
    result = subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=ROOT,
        # a crash prints every thread's stack, and the output written before it
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **CRASH_TRAIL},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_baselines():
    out = run("benchmarks/baselines.py", "--quick")
    assert "digits (test split, 447 images of 1x8x8, 17 levels)" in out
    assert "synthfaces (test split, 200 images of 3x32x32, 256 levels)" in out
    assert "fashion (test split, 10000 images of 1x28x28, 256 levels)" in out
    assert out.count("nats/image") == 9
    assert "4.588 bits/dim" in out  # independent categorical on Fashion-MNIST (about 4.6)
    assert "4.087 bits/dim" in out  # uniform over 17 levels: log2(17)
    assert "8.000 bits/dim" in out  # uniform over 256 levels


def test_flows():
    out = run("benchmarks/flows.py", "--quick")
    assert len(re.findall(r"encode +[\d.]+ ms/image +decode +[\d.]+ ms/image", out)) == 2
    for name in ("glow-synthfaces", "nice-digits", "realnvp-digits"):
        assert re.search(rf"{name} +\d+ images/s", out), out
    for family in ("nice", "realnvp", "glow", "vae", "dcgan", "pixelrnn"):  # at 1x28x28
        line = rf"^  {family} +[\d.]+ images/s +batch +\d+, (float32|bfloat16), "
        assert re.search(line, out, re.MULTILINE), out


def test_gmm():
    out = run("benchmarks/gmm.py", "--quick", "--floor")
    rows = re.findall(r"^digits train 1000x64 +\d+ (full|diag) .* floor (\d\.\d\d)$", out, re.M)
    assert sorted(kind for kind, _ in rows) == ["diag", "diag", "full", "full"], out
    assert all(0 < float(floor) < 1 for _, floor in rows), out  # less work than scikit-learn's
    assert "time ratio torch/sklearn: geometric mean" in out
    assert re.search(r"full E-step, .* torch [\d.]+, NumPy [\d.]+ GFLOPS", out), out


def test_pixelrnn():
    out = run("benchmarks/pixelrnn.py", "--quick")
    rows = re.findall(r"^ +(\d+)x(\d+) .* (yes|NO) ", out, re.MULTILINE)
    assert rows == [("8", "8", "yes"), ("28", "28", "yes")], out  # both samplers agree


def test_sample_quality():
    out = run("benchmarks/sample_quality.py", "--quick")
    assert re.search(r"judge: trained 1 epoch.* test accuracy [\d.]+% on 10,000 images", out), out
    rows = re.findall(r"^(real|baseline) .* [\d.]+ +[\d.]+ +(-?[\d.]+)$", out, re.MULTILINE)
    assert rows == [("real", "1.000"), ("baseline", "0.000")], out  # the gap closed
    images = [read_metadata(p)["image"] for p in bundled_models().values()]
    grey_28x28 = [i for i in images if (i["channels"], i["height"], i["width"]) == (1, 28, 28)]
    assert ("no bundled 28x28 sampler was found" in out) == (not grey_28x28), out


def test_faces_samples():
    out = run("benchmarks/faces_samples.py", "--quick")
    number = r" +(-?[\d.]+)"
    rows = re.findall(rf"^(real|baseline) .*?{number * 5}$", out, re.M)  # FID, gap closed, ...
    assert [(row[0], row[2]) for row in rows] == [("real", "1.000"), ("baseline", "0.000")], out
    assert "glow-synthfaces T=0.7" in out and "dcgan-synthfaces" in out, out


def test_interaction():
    out = run("benchmarks/interaction.py", "--quick")
    assert "20 drag steps" in out and "(normal)" in out
    measured = re.search(r"drag-to-displayed latency: median [\d.]+ ms.*\((\d+) of 20 moves", out)
    assert measured and int(measured.group(1)) > 0, out
    assert re.search(r"GUI thread's own core: (\d+|None); window", out), out
    stall = r"longest GUI-thread stall: .* on a CPU for [\d.]+.* waiting for a CPU for (nan|[\d.]+)"
    assert re.search(stall, out), out
    decode = r"off a CPU \(waiting\): median -?[\d.]+ ms, (nan|-?[\d.]+) ms of it for a CPU$"
    assert re.search(decode, out, re.M), out
    assert len(re.findall(r"^target .*: [\d.]+( ms|x), (met|missed)$", out, re.M)) == 3, out


def test_interaction_control_in_presentation_mode():
    out = run(
        "benchmarks/interaction.py", "--quick", "--sleeping-decode", "--window", "presentation"
    )
    assert re.search(r"\[control: a [\d.]+ ms sleep, not a decode\]", out), out
    assert re.search(r"; window \d+x\d+ \(presentation\), image view \d+x\d+$", out, re.M), out
    assert "target" not in out, out


def test_devices():
    out = run("benchmarks/devices.py", "--quick")
    device = r"device: (CPU|CUDA: .+|Apple MPS) \(--device auto\)$"
    assert re.search(rf"^torch .+, \d+ CPU threads, .*; {device}", out, re.M), out
    rows = re.findall(r"^(\S+) +\d+x\d+x\d+ +[\d.]+ +[\d.]+ +[\d.]+", out, re.M)
    assert rows == list(bundled_models())[:2], out


def test_lab():
    out = run("benchmarks/lab.py", "--quick")
    assert "reference: held-out NLL" in out and re.search(r"^ours\s+0\s+\d+", out, re.M)


def test_lab_window():
    out = run("benchmarks/lab_window.py", "--quick")
    assert re.search(r"^run 0: time to target .*, \d+ steps, +[\d.]+ frames/s$", out, re.M), out


def test_flows_peer():
    out = run("benchmarks/flows_peer.py", "--quick")
    assert re.search(r"^(Fashion-MNIST 1x28x28, 256|digits 1x8x8, 17) levels:", out, re.M), out
    for arch in ("realnvp", "glow"):
        assert re.search(rf"^{arch}: .*; batch \d+, Adam lr", out, re.M), out
    ours = re.findall(r"^  ours +[\d,]+ parameters +[\d.]+ images/s .* bits/dim [\d.]+$", out, re.M)
    assert len(ours) == 2, out
    if importlib.util.find_spec("normflows") is None:  # CI lacks it: ours alone, and a hint
        assert "pip install normflows -c constraints.txt" in out, out
    else:
        assert len(re.findall(r"^  normflows +[\d,]+ parameters .* bits/dim", out, re.M)) == 2
        verdicts = re.findall(r"^  ours/normflows [\d.]+x images/s.*: (met|missed)$", out, re.M)
        assert len(verdicts) == 2, out
        if cpu_has_native_bfloat16():  # auto takes bfloat16; float32 beside it
            fp32 = r"^  ours fp32/normflows [\d.]+x .*\(float32 coupling .*: (met|missed)$"
            assert len(re.findall(fp32, out, re.M)) == 2, out


def test_decode_process():
    out = run("benchmarks/decode_process.py", "--quick")
    assert re.search(r"^20 requests at 60 Hz; GUI thread's own core: ", out, re.M), out
    for way in ("thread", "process"):
        line = rf"^Python 0.70 ms, round 1, {way} +request to image +[\d.]+ ms +decode +[\d.]+ ms"
        assert re.search(line, out, re.M), out
    assert re.search(r"^the decoding process: started in [\d.]+ s, peak memory \d+ MiB$", out, re.M)


def test_thin_conv():
    out = run("benchmarks/thin_conv.py", "--quick")
    lines = re.findall(
        r"^ +\d+ -> +\d+ at .* conv2d +[\d.]+ ms +transposed +[\d.]+ ms +[\d.]+x$", out, re.M
    )
    assert len(lines) == 10, out
    for arch in ("realnvp", "glow"):
        assert re.search(
            rf"^  {arch} +plain +[\d.]+ ms +thin layers transposed +[\d.]+ ms", out, re.M
        )


def test_startup():
    out = run("benchmarks/startup.py", "--quick")
    for name in ("latentlab --help", "missing file (info)", "import torch", "app: first image"):
        assert re.search(rf"^{re.escape(name)}\s+min\s+[\d.]+ s", out, re.M), out


def test_screenshots(tmp_path):
    shipped = ROOT / "docs" / "screenshots"
    before = {p.name: p.stat().st_mtime_ns for p in shipped.glob("*.png")}
    out = run("scripts/screenshots.py", "--out", str(tmp_path))
    assert str(tmp_path) in out
    names = [
        "main-window",
        "smile-2",
        "smile+0",
        "smile+2",
        "smile-sheet",
        "interpolation-faces",
        "attribute-plane",
        "vae-panel",
        "nice-layers",
    ]
    assert sorted(p.stem for p in tmp_path.iterdir()) == sorted(names)
    for name in names:
        with Image.open(tmp_path / f"{name}.png") as image:
            assert image.format == "PNG" and min(image.size) >= 400, name
    assert {p.name: p.stat().st_mtime_ns for p in shipped.glob("*.png")} == before


BENCHMARKS = [p for p in sorted(ROOT.glob("benchmarks/*.py")) if "__main__" in p.read_text()]


def test_the_benchmarks_are_found():
    assert {"interaction.py", "devices.py", "flows_peer.py"} <= {p.name for p in BENCHMARKS}


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_every_benchmark_has_a_quick_run(script):
    """A new benchmark (a script; ``decoding.py`` is a module they share) gets a ``--quick``
    smoke run and a test above."""
    assert "--quick" in script.read_text()
    assert f"def test_{script.stem}(" in Path(__file__).read_text()
