"""The Gaussian mixture: EM against scikit-learn from the same start, EM's invariants, and the
image model's protocol (latent view, encode/decode, likelihood, model files)."""

from __future__ import annotations

import math
import time

import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from latentlab.data import load_digits_split
from latentlab.data.baselines import gaussian_nats
from latentlab.modelfile import MAX_PARAMETERS, Reference, build_metadata, load_model, save_model
from latentlab.models import em
from latentlab.models.base import (
    ConfigError,
    bits_per_dim,
    config_from_dict,
    config_to_dict,
    level_bins,
)
from latentlab.models.gmm import (
    GMM,
    EMConvergenceWarning,
    GMMConfig,
    Mixture,
    dequantize,
    em_steps,
    fit_em,
    initial_mixture,
    kmeans_plusplus,
)

COVARIANCES = ["full", "diag"]


pytestmark = pytest.mark.usefixtures("one_thread")  # small problems


@pytest.fixture(scope="module")
def split():
    return load_digits_split()


@pytest.fixture(scope="module")
def dequantized(split):
    """The train split on [0, 1) with fixed dequantization noise: 1000, 64 float64."""
    images = torch.from_numpy(split.train.as_float())
    return dequantize(images, split.train.levels, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def models(split, dequantized):
    """Image models fitted to the dequantized train split, one per covariance type."""
    return {
        cov: GMM.from_mixture(
            fit_em(dequantized, 8, cov, max_iter=300), split.train.image_shape, split.train.levels
        )
        for cov in COVARIANCES
    }


def blobs(n: int = 300, d: int = 3, k: int = 3, seed: int = 0) -> torch.Tensor:
    """``k`` well separated Gaussian blobs with random full covariances: n, d float64."""
    g = torch.Generator().manual_seed(seed)
    centres = 6 * torch.randn(k, d, generator=g, dtype=torch.float64)
    mixing = 0.5 * torch.randn(k, d, d, generator=g, dtype=torch.float64)
    labels = torch.arange(n) % k
    noise = torch.randn(n, d, 1, generator=g, dtype=torch.float64)
    return centres[labels] + (mixing[labels] @ noise).squeeze(2)


def sklearn_from(start: Mixture, **options) -> GaussianMixture:
    """scikit-learn's GaussianMixture set to start exactly where :func:`em_steps` starts."""
    return GaussianMixture(
        start.components,
        covariance_type=start.covariance,
        init_params="random_from_data",
        random_state=0,
        weights_init=start.weights.numpy(),
        means_init=start.means.numpy(),
        precisions_init=start.precisions().numpy(),
        **options,
    )


# ----------------------------------------------------------------------------------------------
# EM against scikit-learn


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_follows_sklearn_iteration_by_iteration(covariance, dequantized):
    """From the same start, after the same number of iterations, the same parameters."""
    x = dequantized[:500]
    seeds = kmeans_plusplus(x, 4, torch.Generator().manual_seed(1))
    start = initial_mixture(x, seeds, covariance, 1e-3)
    with pytest.warns(EMConvergenceWarning, match="did not converge in 12"):
        fit = fit_em(x, 4, covariance, 1e-3, tol=0.0, max_iter=12, init_means=seeds)
    with pytest.warns(ConvergenceWarning):
        gm = sklearn_from(start, reg_covar=1e-3, tol=0.0, max_iter=12).fit(x.numpy())
    assert fit.n_iter == gm.n_iter_ == 12 and not fit.converged
    torch.testing.assert_close(fit.weights, torch.from_numpy(gm.weights_), rtol=0, atol=1e-9)
    torch.testing.assert_close(fit.means, torch.from_numpy(gm.means_), rtol=0, atol=1e-9)
    torch.testing.assert_close(
        fit.covariances(), torch.from_numpy(gm.covariances_), rtol=0, atol=1e-9
    )
    assert fit.score(x) == pytest.approx(gm.score(x.numpy()), abs=1e-8)
    torch.testing.assert_close(fit.log_prob(x), torch.from_numpy(gm.score_samples(x.numpy())))
    assert torch.equal(fit.predict(x), torch.from_numpy(gm.predict(x.numpy())))


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_reaches_sklearns_log_likelihood(covariance, dequantized):
    x = dequantized[:600]
    seeds = kmeans_plusplus(x, 5, torch.Generator().manual_seed(0))
    fit = fit_em(x, 5, covariance, 1e-3, tol=1e-6, max_iter=1000, init_means=seeds)
    start = initial_mixture(x, seeds, covariance, 1e-3)
    gm = sklearn_from(start, reg_covar=1e-3, tol=1e-6, max_iter=1000).fit(x.numpy())
    assert fit.converged and gm.converged_
    assert fit.log_likelihood == pytest.approx(gm.score(x.numpy()), abs=1e-3)


# ----------------------------------------------------------------------------------------------
# EM's own invariants


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_log_likelihood_never_decreases(covariance, dequantized):
    """EM's guarantee (Dempster et al. 1977, Theorem 1) holds exactly without reg_covar."""
    with pytest.warns(EMConvergenceWarning):
        fit = fit_em(dequantized[:400], 3, covariance, reg_covar=0.0, tol=0.0, max_iter=25)
    steps = torch.tensor(fit.history).diff()
    assert len(steps) == 25 and bool((steps >= -1e-9).all()), steps.min()


def test_steps_can_be_followed_and_cancelled(dequantized):
    x = dequantized[:300]
    seen = []
    for step in em_steps(x, 3, "diag", tol=0.0, max_iter=50):
        seen.append(step)
        if step.iteration == 4:
            break  # cancel: no warning, and the last state is usable
    assert [s.iteration for s in seen] == [0, 1, 2, 3, 4]
    last = seen[-1].mixture
    assert last.n_iter == 4 and not last.converged
    # every state comes with the log-likelihood of its own parameters (the final E-step)
    for step in seen:
        assert step.mixture.score(x) == pytest.approx(step.log_likelihood, abs=1e-10)
    calls = []
    fit = fit_em(x, 3, "diag", max_iter=500, callback=calls.append)
    assert fit.converged and len(calls) == len(fit.history) == fit.n_iter + 1
    assert fit.history[-1] == fit.log_likelihood == calls[-1].log_likelihood
    assert torch.equal(fit.predict(x), fit.responsibilities(x).argmax(1))


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_far_away_points_stay_finite(covariance):
    x = blobs()
    far = torch.cat([x[:100], x[100:] + 1e4])  # one more cluster far from the others
    fit = fit_em(far, 4, covariance, reg_covar=1e-6, tol=1e-6)
    assert math.isfinite(fit.log_likelihood)
    probe = torch.cat(
        [
            torch.full((2, 3), 1e6, dtype=torch.float64),
            torch.full((2, 3), -1e8, dtype=torch.float64),
            far[:2],
        ]
    )
    log_p = fit.log_prob(probe)
    assert bool(torch.isfinite(log_p).all()) and bool((log_p[:4] < -1e6).all())
    resp = fit.responsibilities(probe)
    assert bool(torch.isfinite(resp).all())
    torch.testing.assert_close(resp.sum(1), torch.ones(6, dtype=torch.float64))
    z = fit.encode(probe)
    assert bool(torch.isfinite(z).all())
    torch.testing.assert_close(fit.decode(z), probe, rtol=1e-9, atol=1e-6)


def test_kmeans_plusplus_is_reproducible_per_seed(dequantized):
    x = dequantized[:200]

    def seeds(seed: int) -> torch.Tensor:
        return kmeans_plusplus(x, 6, torch.Generator().manual_seed(seed))

    assert torch.equal(seeds(3), seeds(3))
    assert not torch.equal(seeds(3), seeds(4))
    assert all(bool((x == s).all(1).any()) for s in seeds(3))  # the seeds are data points
    twice = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64).repeat(5, 1)
    assert len(kmeans_plusplus(twice, 3)) == 3  # fewer distinct points than seeds
    a = fit_em(x, 4, "diag", seed=7)
    b = fit_em(x, 4, "diag", seed=7)
    assert torch.equal(a.means, b.means) and a.history == b.history


def test_one_component_is_the_sample_mean_and_covariance():
    x = blobs(k=1, seed=2)
    full = fit_em(x, 1, "full", reg_covar=1e-3)
    diag = fit_em(x, 1, "diag", reg_covar=1e-3)
    assert full.converged and full.n_iter == 1
    centred = x - x.mean(0)
    covariance = centred.T @ centred / len(x) + 1e-3 * torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(full.means[0], x.mean(0))
    torch.testing.assert_close(full.covariances()[0], covariance)
    torch.testing.assert_close(diag.covariances()[0], covariance.diagonal())
    torch.testing.assert_close(full.weights, torch.ones(1, dtype=torch.float64))
    assert full.log_likelihood > diag.log_likelihood  # the blob is correlated


def random_mixture(k: int, d: int, covariance: str, seed: int = 0) -> Mixture:
    """A mixture with random weights, means and well-conditioned scales: K, D float64."""
    g = torch.Generator().manual_seed(seed)
    log_weights = torch.log_softmax(torch.randn(k, generator=g, dtype=torch.float64), 0)
    means = torch.randn(k, d, generator=g, dtype=torch.float64)
    if covariance == "diag":
        scale = 0.5 + torch.rand(k, d, generator=g, dtype=torch.float64)
    else:
        scale = 0.1 * torch.randn(k, d, d, generator=g, dtype=torch.float64).tril(-1)
        scale.diagonal(dim1=1, dim2=2).copy_(0.5 + torch.rand(k, d, generator=g))
    return Mixture(log_weights, means, scale, covariance)


@pytest.mark.parametrize("d", [1, 5, 16, 37, 70])  # one block, several, uneven ones
@pytest.mark.parametrize("covariance", COVARIANCES)
def test_densities_equal_a_direct_computation(covariance, d):
    """log_joint, the EM E-step (blocked whitening for "full", expanded squares for "diag")
    and encode's whitening equal torch.distributions' densities and a triangular solve."""
    mixture = random_mixture(3, d, covariance)
    x = torch.randn(50, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    if covariance == "diag":
        normal = torch.distributions.Normal(mixture.means, mixture.scale)
        direct = normal.log_prob(x.unsqueeze(1)).sum(2)  # N, K
        whitened = (x.unsqueeze(1) - mixture.means) / mixture.scale
    else:
        normal = torch.distributions.MultivariateNormal(mixture.means, scale_tril=mixture.scale)
        direct = normal.log_prob(x.unsqueeze(1))  # N, K
        residuals = (x.unsqueeze(1) - mixture.means).unsqueeze(3)  # N, K, D, 1
        whitened = torch.linalg.solve_triangular(mixture.scale, residuals, upper=False)
        whitened = whitened.squeeze(3)
    direct = direct + mixture.log_weights
    torch.testing.assert_close(mixture.log_joint(x), direct, rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(
        mixture._joint(em._features(x, covariance)), direct, rtol=1e-12, atol=1e-10
    )
    z = mixture.encode(x)
    k = z[:, :3].argmax(1)
    assert torch.equal(k, direct.argmax(1))
    torch.testing.assert_close(z[:, 3:], whitened[torch.arange(50), k], rtol=1e-12, atol=1e-12)


def test_full_statistics_sparse_and_dense_paths_agree():
    """The M-step's sums: per component over the samples it keeps when responsibilities are
    nearly hard, in one product otherwise; both equal the plain weighted sums."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 7, generator=g, dtype=torch.float64)
    features = em._features(x, "full")
    for sharpness in (1.0, 1000.0):  # soft: the dense path; nearly hard: the sparse one
        logits = sharpness * torch.randn(400, 6, generator=g, dtype=torch.float64)
        resp = torch.softmax(logits, 1)
        kept = resp > resp.sum(0) * (em._NEGLIGIBLE / 400)
        assert bool(kept.sum() < 400 * 6 // 4) == (sharpness > 1)
        direct = torch.einsum("nk,ni,nj->kij", resp * kept, features, features)
        torch.testing.assert_close(em._full_statistics(features, resp), direct)


def test_the_pruned_full_e_step_equals_the_dense_one(dequantized, monkeypatch):
    """The full E-step that skips the pairs its bounds put _MARGIN nats below another
    component gives the dense E-step's log-likelihoods and parameters, iteration by iteration,
    to float64 rounding; and it does skip most pairs here."""
    x = dequantized[:1000]
    seeds = kmeans_plusplus(x, 16, torch.Generator().manual_seed(0))
    skipped = []
    joint = em._Bounds.joint

    def counting(self, new, features):
        out = joint(self, new, features)
        skipped.append(float(torch.isinf(out).float().mean()))
        return out

    monkeypatch.setattr(em._Bounds, "joint", counting)
    fits = {}
    for dense_above in (0.0, 1.0):  # never pruned (dense), always pruned
        monkeypatch.setattr(em, "_DENSE_ABOVE", dense_above)
        with pytest.warns(EMConvergenceWarning):
            fits[dense_above] = fit_em(x, 16, "full", tol=0.0, max_iter=15, init_means=seeds)
    dense, pruned = fits[0.0], fits[1.0]
    assert max(skipped[:15]) == 0 and min(skipped[15:]) > 0.5  # dense first, then pruned
    torch.testing.assert_close(
        torch.tensor(pruned.history), torch.tensor(dense.history), rtol=1e-13, atol=0
    )
    torch.testing.assert_close(pruned.means, dense.means, rtol=0, atol=1e-10)
    torch.testing.assert_close(pruned.scale, dense.scale, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(pruned.weights, dense.weights, rtol=0, atol=1e-12)


def test_fit_em_without_callback_equals_em_steps(dequantized):
    x = dequantized[:300]
    for covariance in COVARIANCES:
        steps = list(em_steps(x, 3, covariance, max_iter=100))
        fit = fit_em(x, 3, covariance, max_iter=100)
        last = steps[-1].mixture
        assert fit.history == tuple(s.log_likelihood for s in steps)
        assert (
            (fit.n_iter, fit.converged) == (last.n_iter, last.converged) == (len(steps) - 1, True)
        )
        assert torch.equal(fit.means, last.means) and torch.equal(fit.scale, last.scale)


def test_bad_input_is_refused():
    x = blobs(n=30)
    with pytest.raises(ValueError, match="cannot fit 31 components"):
        fit_em(x, 31)
    with pytest.raises(ValueError, match="covariance must be one of"):
        fit_em(x, 2, "spherical")
    with pytest.raises(ValueError, match="init_means must have shape"):
        fit_em(x, 2, init_means=torch.zeros(2, 4))
    with pytest.raises(ValueError, match="NaN"):
        fit_em(torch.full((10, 2), math.nan), 2)
    duplicates = torch.tensor([[0.0, 0.0], [1.0, 2.0]]).repeat(10, 1)
    with pytest.raises(ValueError, match="singular"):
        fit_em(duplicates, 2, "full", reg_covar=0.0)


# ----------------------------------------------------------------------------------------------
# The image model


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_samples_lie_on_the_level_grid(covariance, models):
    model = models[covariance]
    x = model.sample(12, 0.8, torch.Generator().manual_seed(5))
    assert x.dtype == torch.float32 and torch.equal(x * 16, (x * 16).round())
    z = model.sample_latent(2000, 0.5, torch.Generator().manual_seed(0))
    assert model.latent_dim == 8 + 64
    assert model.latent_groups() == [("component", 8), ("noise", 64)]
    one_hot = z[:, :8]
    assert torch.equal(one_hot.sum(1), torch.ones(2000)) and set(one_hot.unique().tolist()) == {
        0.0,
        1.0,
    }
    assert z[:, 8:].std().item() == pytest.approx(0.5, rel=0.05)
    # the components are drawn with the mixture's weights
    counts = one_hot.mean(0).double()
    torch.testing.assert_close(counts, model.mixture.weights, rtol=0, atol=0.05)
    # at temperature 0 every sample is a component mean
    means = model.component_images()
    cold = model.sample(20, 0.0, torch.Generator().manual_seed(1))
    assert all(any(torch.equal(c, m) for m in means) for c in cold)


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_decode_of_encode_is_exact(covariance, models, split):
    model = models[covariance]
    x = torch.from_numpy(split.test.as_float())
    z = model.encode(x)
    assert z.dtype == torch.float32 and torch.equal(model.decode(z), x)
    # the component is the most responsible one
    assert torch.equal(z[:, :8].argmax(1), model.responsibilities(x).argmax(1))
    untrained = GMM(GMMConfig(components=3, covariance=covariance)).eval()
    assert torch.equal(untrained.decode(untrained.encode(x)), x)


def test_a_components_latent_is_its_mean(models):
    model = models["diag"]
    z = model.component_latent(3)
    assert z.shape == (8 + 64,) and z.dtype == torch.float32
    assert z[3] == 1 and z.abs().sum() == 1  # one-hot 3, no noise
    mean = level_bins(model.means[3], 17).float() / 16  # the mean on the level grid
    assert torch.equal(model.decode(z[None]).flatten(), mean)
    with pytest.raises(ValueError, match="component 8 does not exist"):
        model.component_latent(8)


def test_the_component_jumps_where_a_vae_would_glide(models):
    """Halfway between two one-hot latents decodes to one component's image, not a blend."""
    model = models["full"]
    means = model.component_images()
    i, j = 0, next(j for j in range(1, 8) if not torch.equal(means[0], means[j]))
    z = torch.zeros(2, model.latent_dim)
    z[0, i] = z[1, j] = 1.0
    z[:, 8:] = torch.randn(1, 64, generator=torch.Generator().manual_seed(0))  # same noise e
    ends = model.decode(z)
    assert not torch.equal(ends[0], ends[1])
    for t in (0.1, 0.4, 0.5, 0.6, 0.9):
        image = model.decode(torch.lerp(z[0], z[1], t).unsqueeze(0))[0]
        assert torch.equal(image, ends[0]) or torch.equal(image, ends[1])
    assert torch.equal(model.decode(torch.lerp(z[0], z[1], 0.4)[None])[0], ends[0])
    assert torch.equal(model.decode(torch.lerp(z[0], z[1], 0.6)[None])[0], ends[1])


def test_log_prob_is_the_dequantization_bound(models, split):
    model = models["diag"]
    x = torch.from_numpy(split.test.as_float())
    torch.manual_seed(0)
    nats = model.log_prob(x)
    torch.manual_seed(0)  # the same noise: log p(x~) - D log(levels), as the flows
    expected = model.mixture.log_prob(dequantize(x, 17)) - 64 * math.log(17)
    torch.testing.assert_close(nats, expected.float())


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_beats_the_uniform_and_the_independent_gaussian_baselines(covariance, models, split):
    torch.manual_seed(0)
    nats = -models[covariance].log_prob(torch.from_numpy(split.test.as_float())).mean().item()
    bpd = bits_per_dim(nats, (1, 8, 8))
    assert bpd < math.log2(17)  # 4.087: uniform over 17 levels (docs/families.md, Baselines)
    # pixels that know each other beat pixels that do not (about 3.36 bits/dim)
    assert bpd < bits_per_dim(gaussian_nats(split.train, split.test), (1, 8, 8))


# ----------------------------------------------------------------------------------------------
# Config and model files


def test_config_is_bounded_and_builds_fast_on_meta():
    config = GMMConfig(components=20, covariance="diag")
    assert config_from_dict(GMMConfig, config_to_dict(config)) == config
    start = time.perf_counter()
    with torch.device("meta"):
        model = GMM(GMMConfig(components=256))
    assert time.perf_counter() - start < 1.0
    assert model.scale_tril.device.type == "meta" and model.latent_dim == 256 + 64
    for change, message in [
        ({"components": 0}, "outside"),
        ({"components": 257}, "outside"),
        ({"components": 2.0}, "must be an integer"),
        ({"covariance": "spherical"}, "must be one of"),
        ({"channels": 3, "height": 32, "width": 32}, "too large"),
    ]:
        with pytest.raises(ConfigError, match=message):
            config_from_dict(GMMConfig, {**config_to_dict(GMMConfig()), **change})
    big = {
        **config_to_dict(GMMConfig()),
        "channels": 4,
        "height": 128,
        "width": 128,
        "covariance": "diag",
        "components": 256,
    }
    with torch.device("meta"):
        model = GMM(config_from_dict(GMMConfig, big))
    assert sum(p.numel() for p in model.parameters()) <= MAX_PARAMETERS


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_model_file_round_trip(covariance, models, split, tmp_path):
    model = models[covariance]
    meta = build_metadata(
        model,
        dataset={"name": "digits", "size": 1797, "label_names": split.train.label_names},
        training={
            "command": "tests",
            "epochs": 3,
            "steps": 3,
            "seconds": 0.0,
            "device": "cpu",
            "test_metric": {"name": "test bits/dim", "value": 3.0},
        },
    )
    images = torch.from_numpy(split.test.as_float()[:20])
    reference = Reference(
        model.encode(images),
        (images * 255).round().to(torch.uint8),
        torch.from_numpy(split.test.labels[:20]),
    )
    save_model(tmp_path / "gmm.safetensors", model, meta, reference=reference)
    loaded = load_model(tmp_path / "gmm.safetensors")
    assert type(loaded.model) is GMM and not loaded.model.training
    assert loaded.model.config == model.config
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], value), name
    assert torch.equal(loaded.model.decode(loaded.reference.latents), images)
    z = model.sample_latent(5, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(loaded.model.decode(z), model.decode(z))


def test_from_mixture_checks_the_image_size(dequantized):
    fit = fit_em(dequantized[:100, :16], 2, "diag")
    with pytest.raises(ValueError, match="16 dimensions"):
        GMM.from_mixture(fit, (1, 8, 8), 17)
    assert GMM.from_mixture(fit, (1, 4, 4), 17).latent_dim == 2 + 16


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("rows", [40, em._NUMPY_ROWS])
def test_products_through_numpys_blas_are_torchs_products(threads, rows):
    # With torch on one thread EM multiplies float64 CPU tensors through NumPy's BLAS; on more,
    # through torch's but for long products; anything else through torch's
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        _check_products(rows)
    finally:
        torch.set_num_threads(before)


def _check_products(rows: int) -> None:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(rows, 9, dtype=torch.float64, generator=generator)
    b = torch.randn(9, 6, dtype=torch.float64, generator=generator)
    # the whitening's product with a lower-triangular matrix's transpose, on a slice of rows
    lower = torch.randn(9, 9, dtype=torch.float64, generator=generator).tril()
    expected = a[2:] @ lower.T
    torch.testing.assert_close(em._times_lower_t(a.clone()[2:], lower), expected)
    torch.testing.assert_close(em._matmul(a, b), a @ b)
    torch.testing.assert_close(em._matmul(a.T.contiguous().T, b.T.contiguous().T), a @ b)
    out = torch.empty(3, rows, 6, dtype=torch.float64)
    assert em._matmul(a, b, out=out[1]).data_ptr() == out[1].data_ptr()
    torch.testing.assert_close(out[1], a @ b)
    single = em._matmul(a.float(), b.float())
    assert single.dtype == torch.float32
    a.requires_grad_(True)
    em._matmul(a, b).sum().backward()  # gradients still flow where they are asked for
    torch.testing.assert_close(a.grad, b.sum(1).expand(rows, 9))
