"""The EM lab, headless: a log-likelihood that never falls, stepping while paused, ellipses
and ancestral samples."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from latentlab.data import DataError
from latentlab.data.toy2d import make_toy
from latentlab.explore.lab_em import EMLab, ancestral_samples, ellipse, poor_start
from latentlab.models.em import initial_mixture

pytestmark = pytest.mark.usefixtures("one_thread")  # small problems


def _finish(run):
    views = []
    while True:
        try:
            views.append(next(run)[1])
        except StopIteration as stop:
            return views, stop.value


@pytest.mark.parametrize(
    ("name", "k", "covariance"), [("moons", 5, "full"), ("spiral", 8, "diag"), ("rings", 6, "full")]
)
def test_log_likelihood_never_decreases_from_the_poor_start(name, k, covariance):
    lab = EMLab(make_toy(name, 1500), k, covariance)
    views, last = _finish(lab.run(max_iter=300, seconds_per_iteration=0.0))
    history = last.history
    assert len(history) == last.iteration + 1 >= 10
    assert np.all(np.diff(history) >= -1e-9)
    assert history[-1] > history[0] + 0.1  # the fit visibly moved
    assert last.converged and last.log_likelihood == history[-1]
    iterations = [v.iteration for v in views]
    assert iterations == list(range(len(iterations)))  # one view per iteration, in order


@pytest.mark.parametrize("name", ["moons", "gaussians", "spiral"])
def test_poor_start_bunches_the_means_off_centre(name):
    points = make_toy(name, 1000).astype(np.float64)
    means = poor_start(points, 5)
    spread = float((points.max(0) - points.min(0)).max())
    assert means.shape == (5, 2)
    assert np.linalg.norm(means - means.mean(0), axis=1).max() < 0.02 * spread
    corner = points.min(0)
    assert np.linalg.norm(means.mean(0) - corner) < 0.75 * np.linalg.norm(points.mean(0) - corner)
    # every component still starts with points of its own
    start = initial_mixture(torch.from_numpy(points), torch.from_numpy(means))
    assert start.weights.min().item() > 0.05


def test_stepping_while_paused_advances_one_iteration_per_request():
    lab = EMLab(make_toy("rings", 800), 6)
    lab.set_paused(True)
    run = lab.run(max_iter=100, seconds_per_iteration=0.0)
    views = [v for _, v in itertools.islice(run, 4)]
    assert {v.iteration for v in views} == {0} and all(v.paused for v in views[1:])
    lab.request_step()
    lab.request_step()
    views = [v for _, v in itertools.islice(run, 6)]
    assert views[0].iteration == 1 and views[1].iteration == 2
    assert {v.iteration for v in views[2:]} == {2}
    lab.set_paused(False)
    views = [v for _, v in itertools.islice(run, 3)]
    assert not views[-1].paused and views[-1].iteration > 2
    run.close()
    assert lab.view().iteration == views[-1].iteration  # usable after stopping


def test_iterations_are_paced_and_waiting_yields_often():
    lab = EMLab(make_toy("moons", 500), 4)
    run = lab.run(max_iter=100, seconds_per_iteration=0.2)
    views = [v for _, v in itertools.islice(run, 6)]
    run.close()
    assert views[0].iteration == 0 and max(v.iteration for v in views) <= 1


def test_one_sigma_ellipse_has_the_covariance_axes():
    cov = np.array([[3.0, 1.0], [1.0, 2.0]])
    mean = np.array([1.0, -2.0])
    curve = ellipse(mean, cov, 1.0, 721)
    assert np.allclose(curve[0], curve[-1])  # closed
    radii = np.linalg.norm(curve - mean, axis=1)
    axes = np.sqrt(np.linalg.eigvalsh(cov))
    assert radii.min() == pytest.approx(axes[0], rel=1e-4)
    assert radii.max() == pytest.approx(axes[1], rel=1e-4)
    d = curve - mean
    mahalanobis = np.einsum("pi,ij,pj->p", d, np.linalg.inv(cov), d)
    np.testing.assert_allclose(mahalanobis, 1.0, rtol=1e-9)
    two = np.linalg.norm(ellipse(mean, cov, 2.0, 721) - mean, axis=1)
    assert two.max() == pytest.approx(2 * axes[1], rel=1e-4)


def test_view_fields():
    points = make_toy("gaussians", 400)
    lab = EMLab(points, 3, "diag")
    view = lab.view()
    assert view.iteration == 0 and view.means.shape == (3, 2) and view.weights.shape == (3,)
    assert view.ellipses.shape == (3, 2, 65, 2)
    assert view.responsibilities.shape == (400, 3)
    np.testing.assert_allclose(view.responsibilities.sum(1), 1.0, rtol=1e-9)
    assert view.covariances.shape == (3, 2, 2)
    assert view.weights.sum() == pytest.approx(1.0)
    # the 1-sigma ellipse of a diagonal component is axis-aligned with the variances as axes
    sd = np.sqrt(np.diag(view.covariances[0]))
    extent = view.ellipses[0, 0].max(0) - view.ellipses[0, 0].min(0)
    np.testing.assert_allclose(extent, 2 * sd, rtol=1e-2)


def test_ancestral_samples_follow_the_weights():
    lab = EMLab(make_toy("gaussians", 2000), 8)
    _, view = _finish(lab.run(max_iter=200, seconds_per_iteration=0.0))
    n = 20_000
    components, samples = ancestral_samples(view, n, seed=1)
    assert components.shape == (n,) and samples.shape == (n, 2)
    counts = np.bincount(components, minlength=8)
    expected = n * view.weights
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 24.3  # 7 degrees of freedom, p = 0.001
    # each sample comes from its component: the mean of each group is that component's mean
    for k in range(8):
        group = samples[components == k]
        assert np.linalg.norm(group.mean(0) - view.means[k]) < 5 * math.sqrt(
            np.trace(view.covariances[k]) / len(group)
        )
    again = ancestral_samples(lab.mixture, n, seed=1)
    np.testing.assert_array_equal(again[0], components)
    np.testing.assert_allclose(again[1], samples)


def test_bad_input_is_refused():
    with pytest.raises(DataError):
        EMLab(np.zeros((3, 2)), 5)
    with pytest.raises(DataError):
        EMLab(np.array([[0.0, np.inf], [1, 1]]), 1)
    with pytest.raises(ValueError):
        EMLab(np.zeros((10, 2)), 2, "spherical")


def test_stopping_at_max_iter_and_resuming():
    """No EMConvergenceWarning at the lab's own limit (warnings are errors here), and a new
    run goes on from where the last one stopped."""
    lab = EMLab(make_toy("spiral", 1000), 8)
    views, last = _finish(lab.run(max_iter=3, seconds_per_iteration=0.0))
    assert last.iteration == 3 and not last.converged
    assert [v.iteration for v in views] == [0, 1, 2, 3]
    views, last = _finish(lab.run(max_iter=5, seconds_per_iteration=0.0))
    assert [v.iteration for v in views] == [3, 4, 5] and len(last.history) == 6
