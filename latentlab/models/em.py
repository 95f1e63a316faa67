"""Gaussian mixtures on raw vectors fitted by expectation-maximisation (EM), in torch.

Dempster, Laird & Rubin, "Maximum likelihood from incomplete data via the EM algorithm" (1977);
Bishop, "Pattern Recognition and Machine Learning" (2006) §9.2, eqs. 9.23-9.28; k-means++ seeding
from Arthur & Vassilvitskii (2007). Numerical safeguards as in scikit-learn: docs/families.md.

:func:`em_steps` runs EM on an ``N, D`` float tensor one iteration at a time (a generator, so a
caller can show a rising log-likelihood and stop whenever it likes); :func:`fit_em` runs it to
the end. Both give a :class:`Mixture` with ``log_prob`` (nats per sample), ``responsibilities``,
``predict``, ``sample`` and the latent view ``[one-hot(k), e]`` with x = mu_k + L_k e, where L_k
is the Cholesky factor of Sigma_k ("full") or diag(sigma_k) ("diag"). Nothing is dequantized
here, so a fit compares number for number with other implementations. All arithmetic is
float64: the components of a mixture fitted to image data are narrow, and float32 loses their
Cholesky factors.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple, TypedDict, Unpack

import numpy
import torch

__all__ = [
    "COVARIANCES",
    "EMConvergenceWarning",
    "EMStep",
    "Mixture",
    "MixtureChanges",
    "em_steps",
    "fit_em",
    "initial_mixture",
    "kmeans_plusplus",
]

COVARIANCES = ("full", "diag")
_CHUNK = 2**22  # values in one N,K,D temporary (32 MiB of float64); bigger inputs go in chunks
_BLOCK = 2**18  # values in one temporary of the full E-step (2 MiB): it stays in a core's cache
# the full E-step whitens in at most _WHITEN_BLOCKS products of at least _WHITEN_BLOCK
# coordinates each (see Mixture._blocks): more, smaller products lose more than they skip
_WHITEN_BLOCK = 16
_WHITEN_BLOCKS = 6
_LOG_2PI = math.log(2 * math.pi)
_NEGLIGIBLE = 1e-17  # see _full_statistics
# the full E-step skips a component for a sample when bounds show it at least _MARGIN nats
# below another component (a responsibility under e^-50 = 2e-22 relative: below float64's
# rounding of the sums it would enter); where more than _DENSE_ABOVE of the pairs remain, the
# dense blocked E-step is cheaper (see _Bounds)
_MARGIN = 50.0
_DENSE_ABOVE = 0.5
_EXP_FLOOR = -708.0  # e^-708 = 3.3e-308, just above float64's smallest normal number
_NUMPY_ROWS = 12_000  # with torch on several threads, products with a side this long: see _matmul


class EMConvergenceWarning(UserWarning):
    """EM reached ``max_iter`` before the mean log-likelihood changed by less than ``tol``."""


def _matmul(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """a @ b (into ``out`` if given). On the CPU with torch on one thread, through NumPy's BLAS:
    on the development machine's AMD processor torch's (MKL) ran EM's float64 products at
    0.5-0.9 of the speed of NumPy's (OpenBLAS), and the fits took 19% less time through NumPy's
    (benchmarks/gmm.py prints both speeds). With more threads, through torch's unless a side of
    the product has ``_NUMPY_ROWS`` or more: NumPy's BLAS threads, woken for each small product
    between torch's operations, made the benchmark's fits on two threads 10x slower than on one
    (torch's ran them in 0.6-0.75 of the one-thread time), while on 16,000 to 55,000 rows of
    Fashion-MNIST pixels NumPy's took 0.80-0.93 of the time of torch's (torch's 0.43-0.81 of
    NumPy's up to 8,000 rows; equal at 11,000). NumPy's BLAS is taken to run as many threads as
    torch (``use_cpu_threads`` sets both)."""
    if not _numpy_blas(a, b):
        return torch.matmul(a, b, out=out)
    if out is None:
        return torch.from_numpy(a.numpy() @ b.numpy())
    numpy.matmul(a.numpy(), b.numpy(), out=out.numpy())
    return out


def _numpy_blas(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether a product of ``a`` and ``b`` goes through NumPy's BLAS (see _matmul)."""
    return (
        a.device.type == "cpu"
        and a.dtype == torch.float64
        and not (a.requires_grad or b.requires_grad)
        and (torch.get_num_threads() == 1 or max(*a.shape, *b.shape) >= _NUMPY_ROWS)
    )


def _times_lower_t(rows: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
    """rows L^T for a lower-triangular L; ``rows`` may be overwritten. Where _matmul would use
    NumPy's BLAS, through BLAS's triangular product (dtrmm, SciPy's), which skips the zeros:
    1.3x as fast as a full product for EM's whitening (D = 64) on the development machine, and
    whole full-covariance fits with K = 10 on 7,188 digits and on Fashion-MNIST took 0.89-0.91
    of the time (nine fits each way, alternated). SciPy's BLAS, like NumPy's, is taken to run
    as many threads as torch (``use_cpu_threads`` sets them all)."""
    if not _numpy_blas(rows, lower):
        return torch.matmul(rows, lower.T)
    import scipy.linalg.blas  # here, at the first fit: 0.24 s that the app's start need not pay

    # BLAS sees rows^T (D, n, column-major: the same memory) and computes L rows^T in place
    done = scipy.linalg.blas.dtrmm(
        1.0, lower.numpy(), rows.numpy().T, side=0, lower=1, overwrite_b=1
    )
    return torch.from_numpy(done.T)


def _rows(n: int, per_row: int, chunk: int = _CHUNK) -> list[slice]:
    """Row slices so that each chunk's temporaries hold about ``chunk`` values."""
    step = max(1, chunk // max(1, per_row))
    return [slice(i, i + step) for i in range(0, n, step)]


def _cat(parts: list[torch.Tensor], empty: torch.Tensor) -> torch.Tensor:
    """The chunks put back together, or ``empty`` when there were no rows."""
    return torch.cat(parts) if parts else empty


class MixtureChanges(TypedDict, total=False):
    """Fields of a :class:`Mixture` that :meth:`Mixture.moved` may change besides the means."""

    n_iter: int
    converged: bool
    log_likelihood: float
    history: tuple[float, ...]


@dataclass(eq=False)
class Mixture:
    """A Gaussian mixture on raw ``D``-vectors: p(x) = sum_k w_k N(x; mu_k, L_k L_k^T)."""

    log_weights: torch.Tensor  # K
    means: torch.Tensor  # K, D
    scale: torch.Tensor  # K, D, D lower-triangular L_k ("full") or K, D sigma_k ("diag")
    covariance: str = "full"
    n_iter: int = 0  # EM iterations (M-steps after the initial one) that produced this state
    converged: bool = False
    log_likelihood: float = math.nan  # mean log p(x) of the data it was fitted to, nats
    history: tuple[float, ...] = field(default=(), repr=False)  # log_likelihood per iteration

    @property
    def components(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def weights(self) -> torch.Tensor:
        return self.log_weights.exp()

    def covariances(self) -> torch.Tensor:
        """Sigma_k: K, D, D ("full") or the variances K, D ("diag")."""
        if self.covariance == "diag":
            return self.scale.square()
        return self.scale @ self.scale.transpose(1, 2)

    def precisions(self) -> torch.Tensor:
        """Sigma_k^-1: K, D, D ("full") or K, D ("diag"), from the Cholesky factor."""
        if self.covariance == "diag":
            return self.scale.square().reciprocal()
        return torch.cholesky_inverse(self.scale)

    def moved(self, shift: torch.Tensor, **changes: Unpack[MixtureChanges]) -> Mixture:
        """The same mixture translated by ``shift`` (D), with ``changes`` to its other fields."""
        return dataclasses.replace(self, means=self.means + shift, **changes)

    @functools.cached_property
    def _const(self) -> torch.Tensor:
        """log w_k - log |Sigma_k|^(1/2) - (D/2) log 2 pi: K (|Sigma_k|^(1/2) = prod_i L_k,ii)."""
        diag = self.scale if self.covariance == "diag" else self.scale.diagonal(dim1=1, dim2=2)
        return self.log_weights - diag.log().sum(1) - 0.5 * self.dim * _LOG_2PI

    @functools.cached_property
    def _inverse(self) -> tuple[torch.Tensor, torch.Tensor]:
        """("full") L_k^-1 (K, D, D, lower-triangular) and L_k^-1 mu_k (K, D)."""
        k, d = self.components, self.dim
        eye = torch.eye(d, dtype=self.scale.dtype, device=self.scale.device).expand(k, d, d)
        inverse = torch.linalg.solve_triangular(self.scale, eye, upper=False)
        return inverse, (inverse @ self.means.unsqueeze(2)).squeeze(2)

    @functools.cached_property
    def _coefficients(self) -> torch.Tensor:
        """("diag") The matrix M that turns :func:`_features` rows [x^2, x, 1] into log w_k +
        log N(x; k) with one matrix product: 2D+1, K."""
        precision = self.scale.square().reciprocal()  # K, D
        # -1/2 sum_d (x_d - mu_d)^2 / s_d^2 expanded in x^2, x and 1
        last = self._const - 0.5 * (self.means.square() * precision).sum(1)
        return torch.cat([-0.5 * precision, self.means * precision, last.unsqueeze(1)], 1).T

    @functools.cached_property
    def _blocks(self) -> list[tuple[int, torch.Tensor]]:
        """("full") The whitening e = L_k^-1 (x - mu_k) of every component, in blocks of
        about equal size: for coordinates a..b-1, (b+1, W) with e_nk[a:b] =
        [1, x_n[:b]] W viewed as K, b-a. L_k^-1 is lower-triangular, so those coordinates
        depend on x[:b] only: in blocks, the E-step's products skip most of the zeros above the
        diagonal (for D = 64, in blocks of 16, 37% of the work)."""
        inverse, offsets = self._inverse
        k, d = self.components, self.dim
        blocks = []
        size = max(_WHITEN_BLOCK, math.ceil(d / _WHITEN_BLOCKS))
        size = math.ceil(d / math.ceil(d / size))  # as many blocks, of equal size
        for a in range(0, d, size):
            b = min(d, a + size)
            # as rows, e[a:b] = [1, x[:b]] [-offsets[a:b]; L^-T[:b, a:b]]: the K blocks side
            # by side
            weight = torch.cat([offsets[:, a:b].neg().unsqueeze(2), inverse[:, a:b, :b]], 2)
            blocks.append((b + 1, weight.permute(2, 0, 1).reshape(b + 1, k * (b - a))))
        return blocks

    def _joint(self, features: torch.Tensor) -> torch.Tensor:
        """log w_k + log N(x_n; mu_k, Sigma_k) (Bishop eq. 9.7 in log space) from
        :func:`_features` rows: N, K."""
        if self.covariance == "diag":
            return _matmul(self._coefficients.T, features.T).T  # K, N computed, N, K returned
        k, blocks = self.components, self._blocks
        out = []
        # rows in chunks whose whitened block (n, K * block size) stays in cache
        for r in _rows(len(features), blocks[0][1].shape[1], _BLOCK):
            squares = features.new_zeros(len(features[r]), k)  # n, K: |e_nk|^2
            for width, weight in blocks:
                e = _matmul(features[r, :width], weight).view(len(squares), k, -1)
                squares += torch.linalg.vector_norm(e, dim=2).square_()
            out.append(squares.mul_(-0.5).add_(self._const))
        return _cat(out, features.new_zeros(0, k))

    def _pair_norms(
        self, features: torch.Tensor, keep: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """("full") |e_nk| = |L_k^-1 (x_n - mu_k)| for the pairs where ``keep`` (N, K) is True:
        their flat indices n K + k and the norms, both P. Each component whitens only its own
        rows (one product each)."""
        inverse, offsets = self._inverse
        k = self.components
        pairs = keep.T.nonzero()  # (k, n), ordered by k
        counts = torch.bincount(pairs[:, 0], minlength=k).tolist()
        rows = features[:, 1:].index_select(0, pairs[:, 1])  # x_n of every pair: P, D
        norms = [
            torch.linalg.vector_norm(_times_lower_t(part, inverse[c]).sub_(offsets[c]), dim=1)
            for c, part in enumerate(torch.split(rows, counts))
        ]
        return pairs[:, 1] * k + pairs[:, 0], torch.cat(norms)

    def _whiten(self, x: torch.Tensor) -> torch.Tensor:
        """e_nk = L_k^-1 (x_n - mu_k): N, K, D (for one chunk of rows)."""
        if self.covariance == "diag":
            return (x.unsqueeze(1) - self.means) / self.scale
        inverse, offsets = self._inverse
        k, d = self.components, self.dim
        return torch.addmm(offsets.reshape(-1).neg(), x, inverse.reshape(k * d, d).T).view(-1, k, d)

    def _data(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(dtype=self.means.dtype, device=self.means.device)

    def log_joint(self, x: torch.Tensor) -> torch.Tensor:
        """log w_k + log N(x_n; mu_k, Sigma_k): N, K."""
        x = self._data(x)
        if self.covariance == "full":
            return self._joint(_features(x, "full"))
        # from the residuals, not EM's expanded squares (which want centred data): exact
        # wherever x lies
        return _cat(
            [
                self._const - 0.5 * self._whiten(x[r]).square().sum(2)
                for r in _rows(len(x), self.components * self.dim)
            ],
            x.new_zeros(0, self.components),
        )

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x_n) in nats per sample: N (log-sum-exp over components)."""
        return torch.logsumexp(self.log_joint(x), dim=1)

    def score(self, x: torch.Tensor) -> float:
        """Mean log p(x) in nats per sample."""
        return float(self.log_prob(x).mean())

    def log_responsibilities(self, x: torch.Tensor) -> torch.Tensor:
        """log p(k | x_n): N, K (Bishop eq. 9.23, normalised in log space)."""
        joint = self.log_joint(x)
        return joint - torch.logsumexp(joint, dim=1, keepdim=True)

    def responsibilities(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_responsibilities(x).exp()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The most responsible component of each sample: N int64."""
        return self.log_joint(x).argmax(1)

    def sample_latent(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """[one-hot(k), e] with k ~ Categorical(w) and e ~ N(0, T^2 I): n, K + D."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        e = torch.randn(
            n, self.dim, generator=generator, dtype=self.means.dtype, device=self.means.device
        )
        one_hot = torch.nn.functional.one_hot(k, self.components).to(e.dtype)
        return torch.cat([one_hot, temperature * e], dim=1)

    def sample(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return self.decode(self.sample_latent(n, temperature, generator))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """x = mu_k + L_k e with k the argmax of the first K values: N, D."""
        z = self._data(z)
        k = z[:, : self.components].argmax(1)  # N
        e = z[:, self.components :]  # N, D
        if self.covariance == "diag":
            return self.means[k] + self.scale[k] * e
        return _cat(
            [  # N, D, D @ N, D, 1 in chunks of rows
                self.means[k[r]] + (self.scale[k[r]] @ e[r].unsqueeze(2)).squeeze(2)
                for r in _rows(len(z), self.dim * self.dim)
            ],
            e.new_zeros(0, self.dim),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[one-hot(k*), L_k*^-1 (x - mu_k*)] with k* the most responsible component: N, K + D.
        (L_k^-1 comes from a triangular solve; e = L_k^-1 (x - mu_k) is then one product.)"""
        x = self._data(x)
        out = []
        for r in _rows(len(x), self.components * self.dim):
            e = self._whiten(x[r])  # N, K, D for every component
            joint = self._const - 0.5 * e.square().sum(2)
            k = joint.argmax(1)
            one_hot = torch.nn.functional.one_hot(k, self.components).to(x.dtype)
            out.append(torch.cat([one_hot, e[torch.arange(len(k), device=k.device), k]], 1))
        return _cat(out, x.new_zeros(0, self.components + self.dim))


# ----------------------------------------------------------------------------------------------
# EM


class EMStep(NamedTuple):
    """One state of an EM run: iteration 0 is the initial state."""

    iteration: int
    log_likelihood: float  # mean log p(x) of ``mixture`` on the data, nats per sample
    mixture: Mixture


def kmeans_plusplus(
    x: torch.Tensor, k: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): ``k`` rows of ``x`` (N, D), the first
    uniformly at random, each next one with probability proportional to its squared distance
    from the nearest seed so far. Returns k, D."""
    first = torch.randint(len(x), (1,), generator=generator, device=x.device)
    seeds = [x[first]]  # 1, D each
    nearest = (x - seeds[0]).square().sum(1)  # N
    for _ in range(1, k):
        # all points already chosen (fewer distinct points than k): fall back to uniform
        weights = nearest if bool(nearest.sum() > 0) else torch.ones_like(nearest)
        seeds.append(x[torch.multinomial(weights, 1, generator=generator)])
        nearest = torch.minimum(nearest, (x - seeds[-1]).square().sum(1))
    return torch.cat(seeds)


def _features(x: torch.Tensor, covariance: str) -> torch.Tensor:
    """The rows EM multiplies with: [1, x] (N, D+1) for "full", [x^2, x, 1] (N, 2D+1) for
    "diag". With them each E-step and each M-step is one matrix product (per chunk of rows;
    the full E-step one per block of coordinates, see :meth:`Mixture._blocks`)."""
    if covariance == "full":
        return torch.cat([x.new_ones(len(x), 1), x], dim=1)
    # stored transposed (2D+1, N contiguous): the skinny products of the diagonal E- and M-steps
    # run faster in that orientation (MKL's about twice as fast, NumPy's 1.4-1.7x)
    return torch.cat([x.T * x.T, x.T, x.new_ones(1, len(x))]).T


def _full_statistics(features: torch.Tensor, resp: torch.Tensor) -> torch.Tensor:
    """sum_n r_nk f_n f_n^T for every component k, with f = [1, x]: K, D+1, D+1 (N_k, the
    first moments and the second moments in one matrix).

    In high dimensions the responsibilities are nearly hard: most r_nk fall below
    ``_NEGLIGIBLE`` * N_k / N, where a term changes the sums by about float64 rounding. On the
    CPU, when most do, each component sums only its own rows (K small products, a K-th of the
    work); otherwise one product serves every component at once."""
    n, k = resp.shape
    width = features.shape[1]
    negligible = resp.sum(0).unsqueeze(1) * (_NEGLIGIBLE / n)  # K, 1
    keep = resp.t() > negligible  # K, N
    if features.device.type == "cpu" and bool(keep.sum() < n * k // 4):
        pairs = keep.nonzero()  # (k, n) pairs, ordered by k
        counts = torch.bincount(pairs[:, 0], minlength=k).tolist()
        stats = features.new_empty(k, width, width)
        columns = resp.T.contiguous()  # K, N
        for c, rows in enumerate(torch.split(pairs[:, 1], counts)):
            f = features.index_select(0, rows)  # N_c, D+1
            weighted = f * columns[c].index_select(0, rows).unsqueeze(1)
            _matmul(weighted.T, f, out=stats[c])
        return stats
    stats = features.new_zeros(width, k * width)
    for r in _rows(n, k * width):
        f = features[r]
        weighted = (resp[r].unsqueeze(2) * f.unsqueeze(1)).view(len(f), -1)  # N, K*(D+1)
        stats += _matmul(f.T, weighted)  # sum_n f_n (r_nk f_n)^T for every k side by side
    return stats.view(width, k, width).permute(1, 0, 2)


def _m_step(
    features: torch.Tensor, resp: torch.Tensor, covariance: str, reg_covar: float
) -> Mixture:
    """Weights, means and covariances from responsibilities ``resp`` (N, K) and the data as
    :func:`_features` rows: Bishop eqs. 9.24-9.27 through the sufficient statistics N_k,
    sum_n r_nk x_n and sum_n r_nk x_n x_n^T, with reg_covar added to every variance and 10 eps
    to N_k so that an emptied component stays finite (as scikit-learn does). The second moment
    minus mu mu^T cancels digits when the data lie far from the origin relative to a
    component's width; EM centres the data first, which keeps that harmless."""
    n, k = resp.shape
    if covariance == "diag":
        d = (features.shape[1] - 1) // 2
        stats = _matmul(resp.T, features)  # K, 2D+1: sum_n r_nk [x_n^2, x_n, 1]
        second, first, nk = stats[:, :d], stats[:, d : 2 * d], stats[:, 2 * d]
    else:
        d = features.shape[1] - 1
        stats = _full_statistics(features, resp)  # K, D+1, D+1
        nk, first, second = stats[:, 0, 0], stats[:, 1:, 0], stats[:, 1:, 1:]
    nk = nk + 10 * torch.finfo(features.dtype).eps  # K
    means = first / nk.unsqueeze(1)  # K, D
    log_weights = nk.log() - math.log(n)
    if covariance == "diag":
        var = second / nk.unsqueeze(1) - means.square() + reg_covar  # K, D
        if not bool((var > 0).all()):
            raise _ill_defined()
        return Mixture(log_weights, means, var.sqrt(), "diag")
    cov = second / nk.view(k, 1, 1) - means.unsqueeze(2) * means.unsqueeze(1)  # K, D, D
    cov.diagonal(dim1=1, dim2=2).add_(reg_covar)
    scale, info = torch.linalg.cholesky_ex(cov)  # K, D, D, lower
    if bool((info != 0).any()):
        raise _ill_defined()
    return Mixture(log_weights, means, scale, "full")


def _ill_defined() -> ValueError:
    return ValueError(
        "EM failed: a component's covariance is singular (it holds too few "
        "distinct samples); raise reg_covar, use fewer components, or rescale "
        "the data"
    )


def _nearest(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centre for every row, by exact distances (no |x|^2 expansion)."""
    return torch.cdist(x, centres, compute_mode="donot_use_mm_for_euclid_dist").argmin(1)


def _checked_means(init_means: torch.Tensor, k: int, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(init_means, torch.Tensor) or init_means.shape != (k, x.shape[1]):
        raise ValueError(f"init_means must have shape {k}, {x.shape[1]}")
    init_means = init_means.to(x)
    if not bool(torch.isfinite(init_means).all()):
        raise ValueError("init_means contain NaN or infinite values")
    return init_means


def _checked(x: torch.Tensor, k: int, covariance: str, reg_covar: float) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or not x.is_floating_point():
        raise ValueError("EM needs a float tensor of shape N, D")
    if covariance not in COVARIANCES:
        raise ValueError(f"covariance must be one of {COVARIANCES}, got {covariance!r}")
    if not 1 <= k <= len(x):
        raise ValueError(f"cannot fit {k} components to {len(x)} samples")
    if not reg_covar >= 0:
        raise ValueError(f"reg_covar must be >= 0, got {reg_covar}")
    x = x.to(torch.float64)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("the data contain NaN or infinite values")
    return x


def _start(
    x: torch.Tensor,
    features: torch.Tensor,
    init_means: torch.Tensor,
    covariance: str,
    reg_covar: float,
) -> Mixture:
    """Each sample assigned to its nearest initial mean, then one M-step."""
    resp = torch.nn.functional.one_hot(_nearest(x, init_means), len(init_means)).to(x.dtype)
    return _m_step(features, resp, covariance, reg_covar)


def initial_mixture(
    x: torch.Tensor, init_means: torch.Tensor, covariance: str = "full", reg_covar: float = 1e-3
) -> Mixture:
    """The state :func:`em_steps` starts from for ``init_means`` (K, D): each sample of ``x``
    assigned to its nearest initial mean, then one M-step. Other implementations started from
    these weights, means and covariances follow the same path."""
    x = _checked(x, len(init_means), covariance, reg_covar)
    init_means = _checked_means(init_means, len(init_means), x)
    centre = x.mean(0)
    x = x - centre
    start = _start(x, _features(x, covariance), init_means - centre, covariance, reg_covar)
    return start.moved(centre)


class _Bounds:
    """Lower and upper bounds on |e_nk| = |L_k^-1 (x_n - mu_k)| (N, K each) for the full
    E-step, kept from one EM iteration to the next so that it whitens only the pairs that can
    matter (in the style of Elkan's bounds for k-means, "Using the triangle inequality to
    accelerate k-means", 2003). For the new parameters L', mu',

        e' = L'^-1 (x - mu') = M e - L'^-1 (mu' - mu),  M = L'^-1 L,

    so |e'| lies within (1 +- g) |e| +- |L'^-1 (mu' - mu)|, with g = |M - I|_F >= |M - I|_2:
    a few products of K D x D matrices per iteration, scale-free (the components are narrow:
    L^-1 is large, and bounds from the change of L^-1 alone were two to three times looser).
    The joint log-probability of a pair is at most c_k - |e|^2 / 2 by the lower bound and at
    least that by the upper one; a pair whose best case is ``_MARGIN`` nats below another
    component's worst case for the same sample is skipped (log joint -inf: a responsibility
    of at most 3e-308, see _posterior), and its bounds keep widening until it is whitened
    again. The log-likelihood and the responsibilities are those of the dense E-step to
    float64 rounding (tested against it)."""

    def __init__(self, mixture: Mixture, joint: torch.Tensor) -> None:
        self.mixture = mixture
        self.lower = self.upper = _norms(mixture, joint)

    def joint(self, new: Mixture, features: torch.Tensor) -> torch.Tensor:
        """The log joint of ``new`` (N, K), -inf for the pairs skipped; the bounds move on to
        ``new``."""
        old, self.mixture = self.mixture, new
        inverse = new._inverse[0]
        change = inverse @ old.scale  # M = L'^-1 L
        change.diagonal(dim1=1, dim2=2).sub_(1)
        g = torch.linalg.matrix_norm(change)  # K
        shift = torch.linalg.vector_norm(inverse @ (new.means - old.means).unsqueeze(2), dim=(1, 2))
        const = new._const
        lower = torch.addcmul(shift.neg(), self.lower, (1 - g).clamp(min=0)).clamp_(min=0)
        upper = torch.addcmul(shift, self.upper, 1 + g)
        worst = torch.addcmul(const, upper, upper, value=-0.5).amax(1, keepdim=True)  # N, 1
        keep = torch.addcmul(const, lower, lower, value=-0.5) > worst.sub_(_MARGIN)  # N, K
        if bool(keep.sum() > _DENSE_ABOVE * keep.numel()):
            joint = new._joint(features)
            self.lower = self.upper = _norms(new, joint)
            return joint
        pairs, exact = new._pair_norms(features, keep)
        self.lower = lower.view(-1).index_copy_(0, pairs, exact).view_as(keep)
        self.upper = upper.view(-1).index_copy_(0, pairs, exact).view_as(keep)
        joint = torch.full_like(lower, -math.inf)
        terms = const.index_select(0, pairs % len(const)) - 0.5 * exact.square()
        return joint.view(-1).index_copy_(0, pairs, terms).view_as(keep)


def _norms(mixture: Mixture, joint: torch.Tensor) -> torch.Tensor:
    """|e_nk| from the log joint (N, K): joint = c_k - |e|^2 / 2."""
    return (mixture._const - joint).mul_(2).clamp_(min=0).sqrt_()


def _posterior(joint: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(x_n) (N) and the responsibilities p(k | x_n) (N, K) from the log joint (N, K), by
    log-sum-exp: the largest term is taken out before exponentiating, so nothing overflows and
    the largest term never underflows (Bishop eq. 9.23 in log space)."""
    top = joint.amax(1, keepdim=True)  # N, 1
    # in [e^_EXP_FLOOR, 1], 1 at the largest: torch's exp is 7-19x slower per value where the
    # result would be subnormal or 0 (below -708), and most values of a fitted mixture are
    # there; such a responsibility comes out as 3e-308 instead, nothing at float64's precision
    p = (joint - top).clamp_(min=_EXP_FLOOR).exp_()
    total = p.sum(1, keepdim=True)
    return (top + total.log()).squeeze(1), p.div_(total)


def _mean(log_px: torch.Tensor) -> float:
    value = float(log_px.mean())
    if not math.isfinite(value):
        raise FloatingPointError(
            "EM produced a non-finite log-likelihood; rescale the data or raise reg_covar"
        )
    return value


class _State(NamedTuple):
    """One state of :func:`_em`, its mixture still on the centred data."""

    iteration: int
    log_likelihood: float
    change: float  # from the previous state's log-likelihood
    converged: bool
    mixture: Mixture
    centre: torch.Tensor

    def placed(self, history: tuple[float, ...] = ()) -> Mixture:
        """The mixture on the caller's data, with its iteration count and log-likelihood."""
        return self.mixture.moved(
            self.centre,
            n_iter=self.iteration,
            log_likelihood=self.log_likelihood,
            converged=self.converged,
            history=history,
        )


def _em(
    x: torch.Tensor,
    k: int,
    covariance: str,
    reg_covar: float,
    tol: float,
    max_iter: int,
    seed: int,
    init_means: torch.Tensor | None,
) -> Iterator[_State]:
    """The EM run of :func:`em_steps`, without moving every state back to the data."""
    x = _checked(x, k, covariance, reg_covar)
    if init_means is None:
        generator = torch.Generator(device=x.device).manual_seed(seed)
        init_means = kmeans_plusplus(x, k, generator)
    init_means = _checked_means(init_means, k, x)
    # EM on centred data: the diagonal M-step and the E-step's products expand squares, and
    # centring keeps those from cancelling when the data sit far from the origin
    centre = x.mean(0)
    x = x - centre
    features = _features(x, covariance)  # N, D+1 or N, 2D+1
    mixture = _start(x, features, init_means - centre, covariance, reg_covar)
    joint = mixture._joint(features)
    bounds = _Bounds(mixture, joint) if covariance == "full" else None
    log_px, resp = _posterior(joint)  # N and N, K
    ll = _mean(log_px)
    yield _State(0, ll, math.inf, False, mixture, centre)
    for iteration in range(1, max_iter + 1):
        mixture = _m_step(features, resp, covariance, reg_covar)
        # the E-step of the new parameters
        joint = mixture._joint(features) if bounds is None else bounds.joint(mixture, features)
        log_px, resp = _posterior(joint)
        previous, ll = ll, _mean(log_px)
        converged = abs(ll - previous) < tol
        yield _State(iteration, ll, ll - previous, converged, mixture, centre)
        if converged:
            return


def _warn_unconverged(last: _State, max_iter: int, tol: float, stacklevel: int) -> None:
    if max_iter > 0 and not last.converged:
        warnings.warn(
            f"EM did not converge in {max_iter} iterations (the mean log-likelihood "
            f"last changed by {last.change:.3g} nats, tol is {tol:g}); the last parameters "
            "are kept: raise max_iter or tol",
            EMConvergenceWarning,
            stacklevel=stacklevel + 1,
        )


def em_steps(
    x: torch.Tensor,
    k: int,
    covariance: str = "full",
    reg_covar: float = 1e-3,
    tol: float = 1e-4,
    max_iter: int = 200,
    seed: int = 0,
    init_means: torch.Tensor | None = None,
) -> Iterator[EMStep]:
    """Fit a ``k``-component mixture to ``x`` (N, D) by EM, yielding after every iteration.

    Yields :class:`EMStep` (iteration, mean log-likelihood, mixture), first for the initial
    state (iteration 0) and then after each EM iteration; each mixture comes with the
    log-likelihood of its own parameters, so the last one yielded is consistent with its
    predictions (the final E-step). Stop iterating at any time to cancel: the last mixture
    received is a usable fit. The run ends when the mean log-likelihood changes by less than
    ``tol`` (that mixture has ``converged``) or after ``max_iter`` iterations, with an
    :class:`EMConvergenceWarning`.

    Start: ``init_means`` (K, D) if given, else k-means++ seeds drawn with ``seed``; each sample
    is assigned to its nearest initial mean and one M-step gives the starting weights, means
    and covariances. ``reg_covar`` is added to every variance. Computation is float64 on the
    device of ``x``.
    """
    last = None
    for state in _em(x, k, covariance, reg_covar, tol, max_iter, seed, init_means):
        last = state
        yield EMStep(state.iteration, state.log_likelihood, state.placed())
    assert last is not None
    _warn_unconverged(last, max_iter, tol, stacklevel=2)


def fit_em(
    x: torch.Tensor,
    k: int,
    covariance: str = "full",
    reg_covar: float = 1e-3,
    tol: float = 1e-4,
    max_iter: int = 200,
    seed: int = 0,
    init_means: torch.Tensor | None = None,
    callback: Callable[[EMStep], object] | None = None,
) -> Mixture:
    """:func:`em_steps` run to the end; ``callback`` sees every step. The mixture returned
    holds the log-likelihood of every iteration in ``history``."""
    history, last = [], None
    # without a callback only the last state is moved back to the data
    for state in _em(x, k, covariance, reg_covar, tol, max_iter, seed, init_means):
        history.append(state.log_likelihood)
        last = state
        if callback is not None:
            callback(EMStep(state.iteration, state.log_likelihood, state.placed()))
    assert last is not None
    _warn_unconverged(last, max_iter, tol, stacklevel=2)
    return last.placed(history=tuple(history))
