"""Sample-quality metrics (latentlab.metrics) and benchmarks/sample_quality.py on a model of
every family that can draw 28x28 grey images."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import write_untrained
from PIL import Image

from latentlab.metrics import (
    GaussianFit,
    JudgeFileError,
    frechet_distance,
    gap_closed,
    gaussian_fit,
    inception_score,
    judge_outputs,
    load_judge,
    save_judge,
    train_judge,
)
from latentlab.models import FAMILIES
from latentlab.models.base import config_from_dict, config_to_dict

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "sample_quality.py"


def random_covariance(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


# ----------------------------------------------------------------------------------------------
# Frechet distance


def test_the_frechet_distance_of_a_set_to_itself_is_zero() -> None:
    features = np.random.default_rng(0).standard_normal((500, 16)) * 3 + 1
    fit = gaussian_fit(features)
    assert frechet_distance(fit, fit) == pytest.approx(0, abs=1e-9)


def test_a_mean_shift_adds_its_squared_length() -> None:
    """Shifting every feature by d leaves the covariance as it was: the distance is |d|^2."""
    rng = np.random.default_rng(1)
    features = rng.standard_normal((400, 8)) @ rng.standard_normal((8, 8))
    for length in (0.5, 2.0, 10.0):
        shift = rng.standard_normal(8)
        shift *= length / np.linalg.norm(shift)
        d = frechet_distance(gaussian_fit(features), gaussian_fit(features + shift))
        assert d == pytest.approx(length**2, rel=1e-9)


def test_diagonal_covariances_match_the_closed_form() -> None:
    """For commuting covariances: |mu_a - mu_b|^2 + sum (sqrt(a_i) - sqrt(b_i))^2."""
    rng = np.random.default_rng(2)
    va, vb = rng.uniform(0.1, 4, 6), rng.uniform(0.1, 4, 6)
    ma, mb = rng.standard_normal(6), rng.standard_normal(6)
    d = frechet_distance(GaussianFit(ma, np.diag(va)), GaussianFit(mb, np.diag(vb)))
    expected = np.sum((ma - mb) ** 2) + np.sum((np.sqrt(va) - np.sqrt(vb)) ** 2)
    assert d == pytest.approx(expected, rel=1e-10)


def test_full_covariances_match_a_general_matrix_square_root() -> None:
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(3)
    a = GaussianFit(rng.standard_normal(10), random_covariance(rng, 10))
    b = GaussianFit(rng.standard_normal(10), random_covariance(rng, 10))
    root = linalg.sqrtm(a.covariance @ b.covariance).real
    expected = (
        np.sum((a.mean - b.mean) ** 2) + np.trace(a.covariance + b.covariance) - 2 * np.trace(root)
    )
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-8)


def test_fewer_samples_than_features_give_a_finite_distance() -> None:
    rng = np.random.default_rng(4)
    a, b = gaussian_fit(rng.standard_normal((5, 32))), gaussian_fit(rng.random((7, 32)))
    d = frechet_distance(a, b)
    assert np.isfinite(d) and d > 0
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-9)


def test_bad_features_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        gaussian_fit(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="NaN"):
        gaussian_fit(np.array([[0.0, np.nan], [1.0, 2.0]]))


# ----------------------------------------------------------------------------------------------
# Inception-style score and gap closed


def test_uniform_predictions_score_one() -> None:
    assert inception_score(np.full((50, 10), 0.1)) == pytest.approx(1.0)


def test_one_class_for_every_image_scores_one() -> None:
    assert inception_score(np.eye(10)[np.zeros(30, dtype=int)]) == pytest.approx(1.0)


def test_confident_balanced_predictions_score_the_number_of_classes() -> None:
    labels = np.arange(500) % 10
    assert inception_score(np.eye(10)[labels]) == pytest.approx(10.0)
    soft = np.full((500, 10), 0.001)
    soft[np.arange(500), labels] = 0.991
    assert 9.0 < inception_score(soft) < 10.0


def test_probabilities_that_are_not_distributions_are_refused() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(np.full((3, 10), 0.2))


def test_gap_closed_is_one_for_real_data_and_zero_for_the_baseline() -> None:
    real, baseline = 1.5, 41.5
    assert gap_closed(real, real, baseline) == 1.0
    assert gap_closed(baseline, real, baseline) == 0.0
    assert gap_closed(21.5, real, baseline) == pytest.approx(0.5)
    assert gap_closed(81.5, real, baseline) == pytest.approx(-1.0)
    assert np.isnan(gap_closed(3.0, 2.0, 2.0))


# ----------------------------------------------------------------------------------------------
# The judge


def tiny_training_set() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((64, 1, 28, 28), dtype=np.float32), np.arange(64) % 10


def test_training_is_seeded_and_leaves_the_global_random_state_alone() -> None:
    images, labels = tiny_training_set()
    before = torch.get_rng_state()
    a, b = (train_judge(images, labels, epochs=1, seed=3) for _ in range(2))
    assert torch.equal(torch.get_rng_state(), before)
    for name, tensor in a.state_dict().items():
        assert torch.equal(tensor, b.state_dict()[name]), name


def test_a_saved_judge_reads_back_only_under_its_key(tmp_path: Path) -> None:
    images, labels = tiny_training_set()
    judge = train_judge(images, labels, epochs=1, seed=0)
    path = tmp_path / "cache" / "judge.safetensors"
    save_judge(path, judge, "abc")
    back = load_judge(path, "abc")
    x = torch.from_numpy(images[:4])
    with torch.inference_mode():
        assert torch.equal(back(x), judge(x))
    with pytest.raises(JudgeFileError, match="another training run"):
        load_judge(path, "abd")


def test_files_that_are_not_a_judge_are_refused(tmp_path: Path) -> None:
    import safetensors.torch

    path = tmp_path / "judge.safetensors"
    with pytest.raises(JudgeFileError, match=r"judge\.safetensors"):
        load_judge(path, "k")  # missing
    path.write_bytes(b"\x80\x04not safetensors at all")
    with pytest.raises(JudgeFileError, match="not a safetensors file"):
        load_judge(path, "k")
    tensors = {"head.weight": torch.zeros(10, 128)}
    path.write_bytes(safetensors.torch.save(tensors, metadata={"latentlab.judge": "k"}))
    with pytest.raises(JudgeFileError, match="not a judge's"):
        load_judge(path, "k")
    judge = train_judge(*tiny_training_set(), epochs=1, seed=0)
    tensors = {k: v.clone() for k, v in judge.state_dict().items()}
    tensors["head.bias"][0] = float("nan")
    path.write_bytes(safetensors.torch.save(tensors, metadata={"latentlab.judge": "k"}))
    with pytest.raises(JudgeFileError, match="NaN"):
        load_judge(path, "k")


def test_a_judge_of_values_predicts_them_and_reads_back_only_as_such(tmp_path: Path) -> None:
    """The synthetic faces' judge: colour images, nine attribute values each."""
    rng = np.random.default_rng(0)
    values = rng.random((96, 2)).astype(np.float32)
    images = np.broadcast_to(values[:, :1, None, None], (96, 3, 8, 12)).copy()  # value 0 shown
    judge = train_judge(images, values, epochs=20, seed=0)
    features, outputs = judge_outputs(judge, images)
    assert features.shape == (96, 128) and outputs.shape == (96, 2)
    standardised = (values[:, 0] - values[:, 0].mean()) / values[:, 0].std()
    assert np.corrcoef(outputs[:, 0], standardised)[0, 1] > 0.9  # the value the images show
    with pytest.raises(ValueError, match=r"N,3x8x12"):
        judge_outputs(judge, images[:, :1])
    path = tmp_path / "judge.safetensors"
    save_judge(path, judge, "faces")
    back = load_judge(path, "faces", (3, 8, 12), 2, classes=False)
    assert np.array_equal(judge_outputs(back, images)[1], outputs)
    with pytest.raises(JudgeFileError, match="expected"):
        load_judge(path, "faces")  # as a Fashion-MNIST classifier


# ----------------------------------------------------------------------------------------------
# The script


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=240,
    )


def fashion_sized_models(folder: Path) -> dict[str, Path]:
    """An untrained model file of 1x28x28 images with 256 levels for every family."""
    files = {}
    for name, cls in sorted(FAMILIES.items()):
        config = dataclasses.replace(cls.tiny_config(), channels=1, height=28, width=28)
        config = config_from_dict(cls.config_class, {**config_to_dict(config), "levels": 256})
        torch.manual_seed(0)
        files[name] = write_untrained(folder / f"{name}.safetensors", cls(config).eval())
    return files


def test_every_family_is_sampled_and_scored(tmp_path: Path) -> None:
    files = fashion_sized_models(tmp_path)
    assert sorted(files) == sorted(FAMILIES)
    grids = tmp_path / "grids"
    result = run_script("--quick", "--grid", str(grids), *map(str, files.values()))
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for name in ("real", "baseline", *files):
        assert (grids / f"{name}.png").is_file(), name
    for name in files:
        assert re.search(rf"^{name} +\d\.\d\d +[\d.]+ +[\d.]+ +[\d.]+ +-?[\d.]+$", out, re.M), out
    with Image.open(grids / "vae.png") as grid:
        assert grid.size == (2 * (8 * 29 + 1),) * 2  # 8x8 tiles of 28 pixels, zoomed twice
    assert "no bundled 28x28 sampler" not in out


def test_a_model_of_another_shape_is_refused(tmp_path: Path) -> None:
    cls = FAMILIES["dcgan"]
    path = write_untrained(tmp_path / "dcgan.safetensors", cls(cls.tiny_config()))
    result = run_script("--quick", str(path))
    assert result.returncode == 2
    assert "dcgan: its images are 1x8x8, not 1x28x28" in result.stderr
