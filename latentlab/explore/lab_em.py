"""The EM half of the 2-D lab: a Gaussian mixture fitted to points by EM (the project's own
``em_steps``), one iteration at a time at a pace a person can follow, from a deliberately
poor start, with everything the window draws (docs/lab.md).

E-step: responsibilities r_nk = w_k N(x_n; mu_k, Sigma_k) / sum_j w_j N(x_n; mu_j, Sigma_j);
M-step: weights, means and covariances weighted by them (Bishop, "Pattern Recognition and
Machine Learning" §9.2.2, eqs. 9.23-9.27). Each iteration cannot lower the log-likelihood
(Dempster, Laird & Rubin 1977). No Qt here: the window runs :meth:`EMLab.run` on its worker
thread, and :meth:`EMLab.set_paused` and :meth:`EMLab.request_step` may be called from any
thread.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from latentlab.data.dataset import DataError
from latentlab.models.em import COVARIANCES, EMStep, Mixture, em_steps

__all__ = ["EMLab", "EMLabView", "ancestral_samples", "ellipse", "poor_start"]

ELLIPSE_POINTS = 65  # per closed polyline (the last repeats the first)
MAX_COMPONENTS = 32
PAUSED_POLL_S = 0.05  # how often a paused or waiting run yields, so that it can be stopped


@dataclass
class EMLabView:
    """One state of the EM lab, all numpy: what the window draws."""

    iteration: int
    log_likelihood: float  # mean log p(x) of the points, nats per point
    history: np.ndarray  # the log-likelihood of iterations 0..iteration
    means: np.ndarray  # K, 2
    weights: np.ndarray  # K
    ellipses: np.ndarray  # K, 2, P, 2: the 1- and 2-sigma ellipse of each component, closed
    responsibilities: np.ndarray  # N, K: p(k | x_n)
    converged: bool
    paused: bool
    covariances: np.ndarray  # K, 2, 2 (an addition to the window's contract: for sampling)


def ellipse(mean: np.ndarray, covariance: np.ndarray, radius: float, points: int) -> np.ndarray:
    """The contour (x - mu)^T Sigma^-1 (x - mu) = radius^2 as a closed polyline: mu + radius *
    L (cos t, sin t) with L L^T = Sigma (Cholesky), t over [0, 2 pi]: (points, 2). Its axes
    are radius * sqrt(eigenvalues of Sigma) along the eigenvectors."""
    t = np.linspace(0, 2 * math.pi, points)
    circle = np.stack([np.cos(t), np.sin(t)])  # 2, P
    return (mean[:, None] + radius * np.linalg.cholesky(covariance) @ circle).T


def poor_start(points: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """``k`` initial means bunched on a tiny circle around one data point, the one nearest to
    halfway between the data's mean and the lower left corner of their bounding box: every
    component starts in the same place, off-centre, so EM visibly has to spread them out.
    The means' directions from that point are quantiles of the data's directions from it, so
    each component still starts with about n / k points of its own (EM's first step assigns
    each point to its nearest mean); ``seed`` turns the quantiles. (K, 2)."""
    points = np.asarray(points, dtype=np.float64)
    lo, hi = points.min(0), points.max(0)
    target = (points.mean(0) + lo) / 2
    centre = points[np.argmin(((points - target) ** 2).sum(1))]
    offset = points - centre
    angles = np.sort(np.arctan2(offset[:, 1], offset[:, 0]))
    turn = np.random.default_rng(seed).uniform(0, 1)
    picks = ((np.arange(k) + turn) * len(points) / k).astype(int) % len(points)
    radius = 0.01 * max(float((hi - lo).max()), 1e-6)
    chosen = angles[picks]
    return centre + radius * np.stack([np.cos(chosen), np.sin(chosen)], 1)


def _covariances(mixture: Mixture) -> np.ndarray:
    cov = mixture.covariances().numpy()
    return np.stack([np.diag(c) for c in cov]) if mixture.covariance == "diag" else cov


def ancestral_samples(
    view_or_mixture: EMLabView | Mixture, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Ancestral sampling of a mixture, as the window animates it: first pick a component k
    with probability w_k, then draw x ~ N(mu_k, Sigma_k). Returns (k of each sample (n,),
    the points (n, 2))."""
    if isinstance(view_or_mixture, Mixture):
        weights = view_or_mixture.weights.numpy()
        means, cov = view_or_mixture.means.numpy(), _covariances(view_or_mixture)
    else:
        weights, means = view_or_mixture.weights, view_or_mixture.means
        cov = view_or_mixture.covariances
    rng = np.random.default_rng(seed)
    weights = np.asarray(weights, dtype=np.float64)
    components = rng.choice(len(weights), size=n, p=weights / weights.sum())
    noise = rng.standard_normal((n, 2))
    scale = np.linalg.cholesky(cov)[components]  # n, 2, 2
    return components, means[components] + (scale @ noise[:, :, None])[:, :, 0]


class EMLab:
    """EM on 2-D ``points`` with ``k`` components ("full" or "diag" covariances), started
    from :func:`poor_start`, with the window's controls."""

    def __init__(self, points: np.ndarray, k: int, covariance: str = "full", seed: int = 0):
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or not np.isfinite(points).all():
            raise DataError(f"EM needs finite points shaped (n, 2), not {points.shape}")
        if not 1 <= k <= MAX_COMPONENTS or len(points) < k:
            raise DataError(
                f"EM needs 1 to {MAX_COMPONENTS} components and at least as many points; "
                f"asked for {k} with {len(points)} points"
            )
        if covariance not in COVARIANCES:
            raise ValueError(f"covariance must be one of {COVARIANCES}, not {covariance!r}")
        self.points = points
        self.k, self.covariance = k, covariance
        self.initial_means = poor_start(points, k, seed)
        self._x = torch.from_numpy(points)
        self._lock = threading.Lock()
        self._paused = False
        self._requested = 0
        self._steps: Iterator[EMStep] | None = None
        self._current: EMStep | None = None
        self._history: list[float] = []

    def set_paused(self, paused: bool) -> None:
        with self._lock:
            self._paused = bool(paused)

    def request_step(self) -> None:
        """Ask for one more EM iteration while paused (each call, one iteration)."""
        with self._lock:
            self._requested += 1

    def _take_request(self) -> bool:
        """True when the run should iterate now: running, or a requested step (consumed)."""
        with self._lock:
            if not self._paused:
                return True
            if self._requested:
                self._requested -= 1
                return True
            return False

    def _advance(self) -> None:
        """Run one EM iteration (the first call: the initial state). Never called once the
        mixture has converged, where em_steps ends."""
        if self._steps is None:
            init = torch.from_numpy(self.initial_means)
            # em_steps' own limit is never reached (there it would warn that EM did not
            # converge): the lab stops at its own max_iter
            self._steps = em_steps(
                self._x, self.k, self.covariance, max_iter=2**62, init_means=init
            )
        self._current = next(self._steps)
        self._history.append(self._current.log_likelihood)

    def run(
        self, max_iter: int = 500, seconds_per_iteration: float = 0.3
    ) -> Generator[tuple[float, EMLabView], None, EMLabView]:
        """EM until it converges or after ``max_iter`` iterations, yielding (fraction, view)
        after every iteration, the first for the initial state. Iterations are at least
        ``seconds_per_iteration`` apart, so that a person can follow; while waiting, or paused,
        the latest view is yielded again every ~0.05 s (the same object), so that stopping
        (no longer iterating) always takes effect at once. While paused, each
        :meth:`request_step` makes one iteration. Returns the last view."""
        view = self.view()  # the initial state, or where an earlier run stopped
        yield self._fraction(max_iter), view
        last = time.perf_counter()
        while not self._finished(max_iter):
            paused = self.paused
            if view.paused != paused:
                view = dataclasses.replace(view, paused=paused)
            wait = seconds_per_iteration - (time.perf_counter() - last)
            if (wait > 0 and not paused) or not self._take_request():
                time.sleep(min(wait, PAUSED_POLL_S) if not paused else PAUSED_POLL_S)
                yield self._fraction(max_iter), view
                continue
            self._advance()
            last = time.perf_counter()
            view = self.view()
            yield self._fraction(max_iter), view
        return self.view()

    @property
    def paused(self) -> bool:
        with self._lock:
            return self._paused

    def _finished(self, max_iter: int) -> bool:
        step = self._current
        return step is not None and (step.mixture.converged or step.iteration >= max_iter)

    def _fraction(self, max_iter: int) -> float:
        if self._finished(max_iter):
            return 1.0
        return 0.0 if self._current is None else self._current.iteration / max(max_iter, 1)

    @property
    def mixture(self) -> Mixture | None:
        """The current mixture (None before the first step)."""
        return None if self._current is None else self._current.mixture

    @torch.no_grad()
    def view(self) -> EMLabView:
        """The current state as the window draws it (the initial state if EM has not run)."""
        if self._current is None:
            self._advance()
        assert self._current is not None
        mixture = self._current.mixture
        means = mixture.means.numpy()
        cov = _covariances(mixture)
        ellipses = np.stack(
            [
                np.stack([ellipse(m, c, r, ELLIPSE_POINTS) for r in (1.0, 2.0)])
                for m, c in zip(means, cov, strict=True)
            ]
        )
        return EMLabView(
            iteration=self._current.iteration,
            log_likelihood=self._current.log_likelihood,
            history=np.asarray(self._history, dtype=np.float64),
            means=means.copy(),
            weights=mixture.weights.numpy(),
            ellipses=ellipses,
            responsibilities=mixture.responsibilities(self._x).numpy(),
            converged=mixture.converged,
            paused=self.paused,
            covariances=cov,
        )
