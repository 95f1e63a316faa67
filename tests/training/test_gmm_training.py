"""What only the GMM trainer does: EM's log, its options, its time budget, a singular fit as a
one-line error, and a model file the app's operations use exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits
from trainer_families import train

from latentlab.explore import ops
from latentlab.modelfile import load_model
from latentlab.models.gmm import GMM, EMStep, Mixture
from training import gmm


def test_the_reference_set_and_the_apps_operations_round_trip(tmp_path, capsys):
    out = tmp_path / "smoke.safetensors"
    assert train("gmm", out) == 0
    err = capsys.readouterr().err
    assert "EM:" in err and "validation" in err and "bits/dim" in err
    loaded = load_model(out)
    model = loaded.model
    assert isinstance(model, GMM) and model.config.components == 3
    assert 1 <= loaded.meta["training"]["epochs"] <= 5  # EM iterations
    # the reference set for the map: encoded test images that decode to their thumbnails
    reference = loaded.reference
    assert reference.labels is not None
    decoded = ops.decode(model, reference.latents.double().numpy())
    assert np.array_equal(np.round(decoded * 255).astype(np.uint8), reference.images.numpy())
    # what the app's worker does: sample, encode, decode
    z, images = ops.sample(model, 6, temperature=0.7, seed=1)
    assert z.shape == (6, 67) and images.shape == (6, 1, 8, 8)
    assert np.array_equal(ops.encode(model, images)[:, :3], z[:, :3])
    assert np.array_equal(ops.decode(model, ops.encode(model, images)), images)


def test_options_reach_the_model(tmp_path, capsys):
    out = tmp_path / "diag.safetensors"
    options = ["--components", "2", "--covariance", "diag", "--max-iter", "100", "--seed", "3"]
    assert train("gmm", out, *options) == 0
    assert "converged" in capsys.readouterr().err
    model = load_model(out).model
    assert model.config.covariance == "diag" and model.config.components == 2
    torch.testing.assert_close(model.mixture.weights.sum(), torch.tensor(1.0, dtype=torch.float64))


def test_a_singular_fit_is_a_one_line_error(tmp_path, capsys):
    # 20 full covariances from about 13 images each in 64 dimensions are singular without
    # reg_covar: a clear message, exit status 1, and no model file
    out = tmp_path / "bad.safetensors"
    assert train("gmm", out, "--reg-covar", "0", "--components", "20") == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error: ") and "singular" in line
    assert not out.exists()


def test_the_time_budget_stops_em_and_it_still_writes_its_model(tmp_path, capsys):
    out = tmp_path / "budget.safetensors"
    # --tol 0: EM would run all 100 iterations; the budget ends it after the first
    assert train("gmm", out, "--max-iter", "100", "--tol", "0", "--time-budget", "1e-6") == 0
    assert "stopped at the time budget of 1e-06 min after 1 EM iterations" in (
        capsys.readouterr().err
    )
    loaded = load_model(out)
    training = loaded.meta["training"]
    assert training["stopped"] == "time budget"
    assert (training["epochs"], training["steps"]) == (1, 1)
    assert math.isfinite(training["test_metric"]["value"])
    assert training["config"]["time_budget"] == 1e-6
    assert isinstance(loaded.model, GMM) and loaded.reference is not None


def one_component(converged: bool = False) -> Mixture:
    return Mixture(
        torch.zeros(1), torch.zeros(1, 2), torch.eye(2).unsqueeze(0), converged=converged
    )


@pytest.mark.parametrize(
    ("budget", "step", "seconds", "ends"),
    [
        ("1", EMStep(3, 0.0, one_component()), 60.0, True),
        ("1", EMStep(3, 0.0, one_component()), 59.9, False),  # not spent
        ("0", EMStep(3, 0.0, one_component()), 1e9, False),  # no budget
        ("1", EMStep(0, 0.0, one_component()), 60.0, False),  # no EM iteration yet
        ("1", EMStep(3, 0.0, one_component(converged=True)), 60.0, False),  # EM ends anyway
        ("1", EMStep(5, 0.0, one_component()), 60.0, False),  # the last (--max-iter 5)
    ],
)
def test_the_budget_ends_em_only_when_em_would_go_on(budget, step, seconds, ends):
    config = gmm.parse(["--out", "x.safetensors", "--max-iter", "5", "--time-budget", budget])
    assert gmm.budget_ends(config, step, seconds) is ends


def test_the_thread_option_bounds_numpys_blas_as_it_bounds_torch(tmp_path):
    # EM multiplies through NumPy's BLAS: --threads 1 (the smoke preset's) must reach it too
    with threadpool_limits(2, user_api="blas"):
        assert train("gmm", tmp_path / "model.safetensors") == 0
        blas = {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
    assert blas == {1}
