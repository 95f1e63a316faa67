"""The flow half of the 2-D lab: fit a :class:`~latentlab.models.flow2d.Flow2D` to points live
and compute, frame by frame, everything the window draws (docs/lab.md).

The density is exact by the change of variables (NICE §2, Dinh, Krueger & Bengio 2014):
log p(x) = log N(z; 0, I) + log|det dz/dx| with z = G^-1(x), on a grid over a box holding the
data. The warp is shown layer by layer (the points and the grid lines after each layer), and
at the cursor the 2x2 Jacobians of the whole flow and of one layer are read exactly by
autograd. No Qt here: the window runs :meth:`FlowLab.run` on its worker thread, and its
controls (:meth:`FlowLab.set_cursor`, :meth:`~FlowLab.set_layer`, :meth:`~FlowLab.set_paused`)
may be called from any thread.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from latentlab.data.dataset import DataError
from latentlab.models.adam import Adam
from latentlab.models.flow2d import Flow2D, standard_normal_log_prob

__all__ = [
    "Box",
    "FlowLab",
    "FlowLabView",
    "JacobianReading",
    "box_around",
    "density_grid",
    "grid_lines",
    "jacobian_at",
]

# A frame every 45 ms, 22 a second: frames come up to a training step late, and the window,
# whose painting slows this process, drew 19.7-19.9 a second on a 50 ms clock (lab_window.py)
FRAME_SECONDS = 0.045
MAX_SHOWN = 2000  # data points drawn (and pushed through the layers) per frame
SAMPLES = 500  # samples drawn per frame, from fixed latent noise so they move smoothly
TEST_FRACTION = 0.2
GRID_LINES = 11  # per direction, for the warp view
GRID_LINE_POINTS = 64
# Training defaults, tuned on two moons with 8 RealNVP couplings (benchmarks/lab.py, docs/lab.md):
# at width 32 a view's density grid costs about a quarter of width 64's, and the fit still gets
# within 0.05 nats of the long reference run in a few seconds
DEFAULT_HIDDEN = 32
# Cells per side of the density grid: the grid is over half of a frame's work, and at 72 (5,184
# cells, not 100's 10,000) the lab drew 10-13 frames/s instead of 7 on a loaded machine; the
# view smooths the cells when it enlarges them
DEFAULT_RESOLUTION = 72
DEFAULT_LR = 5e-3
DEFAULT_BATCH = 256


@dataclass
class Box:
    """An axis-aligned box in the data plane."""

    x0: float
    x1: float
    y0: float
    y1: float

    def cell_centres(self, resolution: int) -> np.ndarray:
        """The centres of a resolution x resolution grid of cells, row by row (row = y,
        increasing from y0; column = x): float32 (R*R, 2)."""
        xs = self.x0 + (np.arange(resolution) + 0.5) * (self.x1 - self.x0) / resolution
        ys = self.y0 + (np.arange(resolution) + 0.5) * (self.y1 - self.y0) / resolution
        gx, gy = np.meshgrid(xs, ys)  # R, R each, row = y
        return np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)

    def cell_area(self, resolution: int) -> float:
        return (self.x1 - self.x0) * (self.y1 - self.y0) / resolution**2


def box_around(points: np.ndarray, margin: float = 0.15) -> Box:
    """A square box centred on the points' bounding box, its side the larger extent plus
    ``margin`` of it on each side (at least 1, so that a single cluster still gets a view)."""
    (x_lo, y_lo), (x_hi, y_hi) = points.min(0).tolist(), points.max(0).tolist()
    cx, cy = (x_lo + x_hi) / 2, (y_lo + y_hi) / 2
    half = max(x_hi - x_lo, y_hi - y_lo, 1.0) * (0.5 + margin)
    return Box(cx - half, cx + half, cy - half, cy + half)


def grid_lines(box: Box, lines: int = GRID_LINES, points: int = GRID_LINE_POINTS) -> np.ndarray:
    """``lines`` vertical then ``lines`` horizontal lines spanning ``box``, each a polyline of
    ``points`` points: float32 (2 * lines, points, 2)."""
    xs, ys = np.linspace(box.x0, box.x1, lines), np.linspace(box.y0, box.y1, lines)
    tx, ty = np.linspace(box.x0, box.x1, points), np.linspace(box.y0, box.y1, points)
    vertical = np.stack(np.meshgrid(xs, ty, indexing="ij"), 2)  # lines, points, 2
    horizontal = np.stack(np.meshgrid(tx, ys, indexing="xy"), 2)  # lines, points, 2
    return np.concatenate([vertical, horizontal]).astype(np.float32)


@torch.no_grad()
def density_grid(flow: Flow2D, box: Box, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """p(x) and log|det dz/dx| on the cell centres of ``box``: two float32 (R, R) arrays,
    row = y, column = x. Their sum times the cell area approximates the mass in the box."""
    x = torch.from_numpy(box.cell_centres(resolution))
    z, logdet = flow(x)
    log_p = standard_normal_log_prob(z) + logdet
    shape = (resolution, resolution)
    return log_p.exp().numpy().reshape(shape), logdet.numpy().reshape(shape)


@dataclass
class JacobianReading:
    """The change of variables at one point: the Jacobians dz/dx of the whole flow and of one
    layer (that layer's output by its input, at the point's input to it), their log|det|, and
    log p(x) = log pi(z) + log|det dz/dx| with its terms."""

    point: tuple[float, float]
    layer: int
    whole: np.ndarray  # 2, 2: row i = d z_i / d(x1, x2)
    layer_matrix: np.ndarray  # 2, 2
    whole_logdet: float
    layer_logdet: float
    log_prior: float
    log_p: float
    z: tuple[float, float]


def _jacobian(
    fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor
) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """(the 2x2 Jacobian of ``fn`` at the point ``x`` (2), its output, its log-det): one
    backward pass through two copies of the point, the first giving the row of output 0 and
    the second the row of output 1 (the copies do not interact: each is its own sample)."""
    copies = x.detach().expand(2, 2).clone().requires_grad_(True)
    y, logdet = fn(copies)
    (grad,) = torch.autograd.grad(y[0, 0] + y[1, 1], copies)
    return grad.numpy().astype(np.float64), y[0].detach(), logdet[0].detach()


def jacobian_at(flow: Flow2D, point: tuple[float, float], layer: int) -> JacobianReading:
    """The :class:`JacobianReading` of ``flow`` at ``point`` for layer ``layer`` (an index of
    ``flow.steps``), computed by autograd in the flow's dtype."""
    x = torch.tensor(point, dtype=torch.float32)
    with torch.enable_grad():
        whole, z, whole_logdet = _jacobian(flow, x)
        with torch.no_grad():
            layer_input = x if layer == 0 else flow.forward_layers(x[None])[layer - 1][0][0]
        step = flow.layer(layer)

        def one_layer(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out, logdet = step(h.view(-1, 2, 1, 1))
            return out.view(-1, 2), logdet

        layer_matrix, _, layer_logdet = _jacobian(one_layer, layer_input)
    log_prior = float(standard_normal_log_prob(z[None])[0])
    return JacobianReading(
        point=(float(point[0]), float(point[1])),
        layer=layer,
        whole=whole,
        layer_matrix=layer_matrix,
        whole_logdet=float(whole_logdet),
        layer_logdet=float(layer_logdet),
        log_prior=log_prior,
        log_p=log_prior + float(whole_logdet),
        z=(float(z[0]), float(z[1])),
    )


@dataclass
class FlowLabView:
    """One frame of the flow lab, all numpy: what the window draws."""

    step: int
    train_nll: float  # nats per point, mean of the training batches since the last frame
    test_nll: float | None  # nats per point on the held-out split (None without one)
    test_step: int  # the training step at which test_nll was computed
    loss_history: np.ndarray  # K, 2: (step, train NLL) per frame
    box: Box
    density: np.ndarray  # R, R float32 p(x) at the box's cell centres, row = y, column = x
    logdet: np.ndarray  # R, R float32 log|det dz/dx|
    samples: np.ndarray  # S, 2: G(z) for fixed latent noise
    latent_points: np.ndarray  # N, 2: the shown points pushed through G^-1
    layer: int
    layer_label: str
    layer_points: np.ndarray  # N, 2: the shown points after layers 0..layer
    layer_grid: np.ndarray  # L, P, 2: grid lines of the box after layers 0..layer
    copied: int | None
    transformed: int | None
    jacobian: JacobianReading | None
    steps_per_second: float
    paused: bool
    finished: bool


class _Numbers(NamedTuple):
    """A frame's numbers: the Jacobians at the cursor and the held-out NLL at ``step``."""

    reading: JacobianReading | None
    test_nll: float | None
    step: int

    def read_at(self, cursor: tuple[float, float] | None, layer: int) -> bool:
        """Whether ``reading`` is the one for ``cursor`` and ``layer``."""
        if self.reading is None:
            return cursor is None
        return self.reading.point == cursor and self.reading.layer == layer


class FlowLab:
    """A flow being fitted to 2-D points by maximum likelihood (Adam on minibatches), with
    the controls of the window. ``points`` are split at random (``seed``) into 80 % training
    and 20 % held-out points; at most :data:`MAX_SHOWN` of them are drawn
    (:attr:`shown_points`)."""

    def __init__(
        self,
        points: np.ndarray,
        kind: str,
        layers: int,
        hidden: int = DEFAULT_HIDDEN,
        lr: float = DEFAULT_LR,
        batch: int = DEFAULT_BATCH,
        seed: int = 0,
        resolution: int = DEFAULT_RESOLUTION,
    ) -> None:
        points = np.asarray(points, dtype=np.float32)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2:
            raise DataError(f"the lab needs at least 2 points (n, 2), not shaped {points.shape}")
        if not np.isfinite(points).all():
            raise DataError("the points must be finite (no NaN or infinity)")
        if not 2 <= resolution <= 1000 or batch < 1 or not lr > 0:
            raise ValueError(f"bad settings: resolution {resolution}, batch {batch}, lr {lr}")
        order = np.random.default_rng(seed).permutation(len(points))
        n_test = int(len(points) * TEST_FRACTION) if len(points) >= 10 else 0
        self.train_points = torch.from_numpy(points[order[n_test:]])
        self.test_points = torch.from_numpy(points[order[:n_test]]) if n_test else None
        self.shown_points = points[order[:MAX_SHOWN]]
        self.box = box_around(points)
        self.resolution, self.batch = resolution, batch
        self.flow = Flow2D(kind, layers, hidden, seed)
        self.flow.initialize(self.train_points)  # actnorm's data-dependent init
        # the project's Adam, not torch.optim's (whose first step imports torch's compiler);
        # its in-place updates bump the parameters' version counters, by which the flow
        # layers know when to refresh their cached matrices (torch's fused Adam does not)
        self.optimizer = Adam(list(self.flow.parameters()), lr=lr)
        self._generator = torch.Generator().manual_seed(seed)
        self._noise = torch.randn(SAMPLES, 2, generator=self._generator)
        self._grid = torch.from_numpy(grid_lines(self.box))
        self.step = 0
        self._history: list[tuple[float, float]] = []
        self._batch_losses: list[float] = []
        self._train_nll = math.nan
        self._rate = 0.0
        self._controls = threading.Lock()  # cursor, layer, paused: set from any thread
        self._model = threading.RLock()  # the flow and optimiser: one user at a time
        self._cursor: tuple[float, float] | None = None
        self._layer = len(self.flow.steps) - 1
        self._paused = False
        # the last frame's grids and numbers, which a frame may reuse (see view)
        self._heat: tuple[np.ndarray, np.ndarray] | None = None
        self._numbers: _Numbers | None = None

    # controls, callable from any thread

    def set_cursor(self, point: tuple[float, float] | None) -> None:
        """The point whose Jacobians the views read, or None for none."""
        with self._controls:
            self._cursor = None if point is None else (float(point[0]), float(point[1]))

    def set_layer(self, index: int) -> None:
        """The layer shown by the warp view, clamped to the flow's layers."""
        with self._controls:
            self._layer = min(max(int(index), 0), len(self.flow.steps) - 1)

    def set_paused(self, paused: bool) -> None:
        with self._controls:
            self._paused = bool(paused)

    @property
    def paused(self) -> bool:
        with self._controls:
            return self._paused

    # training

    def train_step(self) -> float:
        """One Adam step on a random minibatch of the training points; its mean NLL."""
        with self._model, torch.enable_grad():
            self.flow.train()
            rows = torch.randint(len(self.train_points), (self.batch,), generator=self._generator)
            loss = -self.flow.log_prob(self.train_points[rows]).mean()
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"the training loss became {value} at step {self.step + 1}: "
                    "lower the learning rate or use fewer layers"
                )
            self.optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            self.optimizer.step()
            self.step += 1
        self._batch_losses.append(value)
        return value

    def run(
        self, max_steps: int, frame_seconds: float = FRAME_SECONDS
    ) -> Generator[tuple[float, FlowLabView], None, FlowLabView]:
        """Train until ``max_steps`` steps in all, yielding (fraction done, view) at most every
        ``frame_seconds`` (and at the start), and no more often than training gets as much time
        as the views. While paused, no step is taken and a view is
        yielded every ``frame_seconds`` (recomputed only when the cursor or the layer
        changed). Stop by no longer iterating; the lab stays usable (:meth:`view`). Returns
        the last view, ``finished`` when ``max_steps`` was reached."""
        last: FlowLabView | None = None
        shown_at = not_before = -math.inf
        steps_at, rate_from = self.step, time.perf_counter()
        frames = 0
        while self.step < max_steps:
            if self.paused:
                last = self._paused_view(last)
                yield self.step / max_steps, last
                time.sleep(frame_seconds)
                steps_at, rate_from = self.step, time.perf_counter()
                continue
            now = time.perf_counter()
            if now - shown_at >= frame_seconds and now >= not_before:
                if now > rate_from and self.step > steps_at:
                    self._rate = (self.step - steps_at) / (now - rate_from)
                # frames on a fixed clock, so that they come at 1 / frame_seconds on average
                # (a step's time past the due moment is not added to every frame); after a
                # longer delay the clock restarts
                due = shown_at + frame_seconds
                shown_at = due if now - due < frame_seconds else now
                steps_at, rate_from = self.step, now
                self._close_frame()
                # the points and samples refresh 20 times a second, the heat map and the
                # numbers (Jacobians, held-out NLL) 5 times each, on frames of their own: with
                # the window drawing, this process's views took 12 ms, the heat map and the
                # numbers 13-14 ms more, and training gets at least as much time as the views
                # (both on every other frame: the window drew 17 frames/s)
                last = self.view(heat=frames % 4 == 0, numbers=frames % 4 == 2)
                frames += 1
                # when a view takes longer than half a frame (a busy machine), training still
                # gets at least half of the time
                not_before = 2 * time.perf_counter() - now
                yield self.step / max_steps, last
            self.train_step()
        self._close_frame()
        return dataclasses.replace(self.view(), finished=True)

    def _close_frame(self) -> None:
        """Record the mean training NLL of the batches since the last frame."""
        if self._batch_losses:
            self._train_nll = sum(self._batch_losses) / len(self._batch_losses)
            self._history.append((self.step, self._train_nll))
            self._batch_losses.clear()

    def _paused_view(self, last: FlowLabView | None) -> FlowLabView:
        with self._controls:
            cursor, layer = self._cursor, self._layer
        if last is not None and last.step == self.step and last.layer == layer:
            reading = last.jacobian
            if (reading is None and cursor is None) or (
                reading is not None and reading.point == cursor
            ):
                return dataclasses.replace(last, paused=True) if not last.paused else last
        return self.view()

    # views

    @torch.no_grad()
    def test_nll(self) -> float | None:
        """Mean -log p(x) of the held-out points, nats per point."""
        if self.test_points is None:
            return None
        with self._model:
            self.flow.eval()
            return float(-self.flow.log_prob(self.test_points).mean())

    @torch.no_grad()
    def view(self, heat: bool = True, numbers: bool = True) -> FlowLabView:
        """One frame computed now, for the current cursor and layer. Without ``heat``, the
        density and log-det grids are the last frame's; without ``numbers``, so are the
        held-out NLL and the Jacobians at the cursor, unless the cursor or the layer has
        changed since (they follow the user at once)."""
        with self._controls:
            cursor, layer, paused = self._cursor, self._layer, self._paused
        with self._model:
            flow = self.flow.eval()
            if heat or self._heat is None:
                self._heat = density_grid(flow, self.box, self.resolution)
            density, logdet = self._heat
            shown = torch.from_numpy(self.shown_points)
            n = len(shown)
            # the shown points and the grid lines through the layers in one batch
            outputs = flow.forward_layers(torch.cat([shown, self._grid.reshape(-1, 2)]))
            after = outputs[layer][0]
            latent = outputs[-1][0][:n]
            samples = flow.invert(self._noise)
            known = self._numbers
            if numbers or known is None or not known.read_at(cursor, layer):
                reading = None if cursor is None else jacobian_at(flow, cursor, layer)
                known = self._numbers = _Numbers(reading, self.test_nll(), self.step)
        step = self.flow.steps[layer]
        return FlowLabView(
            step=self.step,
            train_nll=self._train_nll,
            test_nll=known.test_nll,
            test_step=known.step,
            loss_history=np.asarray(self._history, dtype=np.float64).reshape(-1, 2),
            box=self.box,
            density=density,
            logdet=logdet,
            samples=samples.numpy(),
            latent_points=latent.numpy(),
            layer=layer,
            layer_label=step.label,
            layer_points=after[:n].numpy(),
            layer_grid=after[n:].numpy().reshape(self._grid.shape),
            copied=step.copied,
            transformed=step.transformed,
            jacobian=known.reading,
            steps_per_second=self._rate,
            paused=paused,
            finished=False,
        )
