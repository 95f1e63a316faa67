"""The gradient-training loop every family shares: shuffled shards per rank, a progress bar of
batches with the epoch's statistics and throughput, an estimate of the run's length from its
first steps, the NaN guard, model selection on a validation score with patience, a time budget,
and atomic checkpoints that ``--resume`` continues from.

A family supplies a step function, which owns its optimisers and updates the model on one batch;
:func:`gradient_step` makes the step of a family with one loss. Checkpoints hold tensors and
plain values only, and are read with ``torch.load(weights_only=True)``: they are untrusted.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from latentlab.fileio import atomic_write_bytes
from latentlab.models import GenerativeModel
from latentlab.models.base import later_variant_defaults
from training.common import Run, TrainingError, checkpoint_path, round_to_stored_precision
from training.config import GradientConfig

__all__ = [
    "LoopState",
    "StepFn",
    "checkpoint_path",
    "epoch_batches",
    "fit",
    "gradient_step",
    "load_checkpoint",
    "save_checkpoint",
]


@dataclass
class LoopState:
    """How far a run got: what a checkpoint restores, and what the model file reports."""

    epoch: int = 0
    step: int = 0
    seconds: float = 0.0
    best: float = math.inf  # the best validation score so far (lower is better)
    bad_epochs: int = 0  # epochs since it last improved
    best_weights: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    # why this run ended before --epochs ("patience" or "time budget"); not checkpointed
    stopped: str = ""

    def record(self, score: float, model: nn.Module) -> None:
        """Count one epoch's validation score; keep the weights when it is the best yet."""
        if score < self.best:
            self.best, self.bad_epochs = score, 0
            self.best_weights = copy.deepcopy(model.state_dict())
        else:
            self.bad_epochs += 1

    def counters(self) -> dict[str, int | float]:
        """The state less the weights: plain numbers."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("best_weights", "stopped")
        }


# One update on a batch of float images in [0, 1] (on the run's device); returns named scalar
# statistics, e.g. {"loss": ...}, which the loop averages over ranks, checks and shows.
StepFn = Callable[[torch.Tensor, LoopState], Mapping[str, torch.Tensor]]


def gradient_step(
    run: Run,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[nn.Module, torch.Tensor], torch.Tensor],
    max_grad_norm: float = 100.0,
) -> StepFn:
    """The step of a family with one loss: ``loss_fn(module, batch)`` returns the batch's mean
    loss, calling ``module`` (the model, or its DDP wrapper so that gradients are averaged)."""
    module = run.wrap(model)

    def step(batch: torch.Tensor, state: LoopState) -> dict[str, torch.Tensor]:
        with run.autocast():
            loss = loss_fn(module, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        return {"loss": loss.detach()}

    return step


def epoch_batches(n: int, batch_size: int, epoch: int, seed: int, run: Run) -> list[np.ndarray]:
    """This rank's shuffled minibatch indices for one epoch; every rank gets the same count."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    per_rank = max(1, batch_size // run.world_size)
    steps = n // (per_rank * run.world_size)
    return [order[(s * run.world_size + run.rank) * per_rank :][:per_rank] for s in range(steps)]


ESTIMATE_STEPS = 5  # steps timed, after a first one that warms up, to estimate a run's length


@dataclass
class Pace:
    """A run's clock: the estimate of its length from its first steps, and its time budget."""

    run: Run
    config: GradientConfig
    steps_per_epoch: int
    epochs_left: int
    optimizers: Mapping[str, torch.optim.Optimizer]
    first_step: int  # the step this run started at (a checkpoint's, when resumed)
    start: float = field(default_factory=time.perf_counter)
    step_seconds: list[float] = field(default_factory=list)

    def timed(self, seconds: float) -> None:
        """Count one step's time; after the first few, log the estimate."""
        wanted = min(ESTIMATE_STEPS + 1, self.steps_per_epoch)
        if len(self.step_seconds) < wanted:
            self.step_seconds.append(seconds)
            if len(self.step_seconds) == wanted:
                self.run.log(self.estimate())

    def estimate(self) -> str:
        """The time per epoch and for the run, from the median of the timed steps after the
        first (which warms up caches and allocators) if there are any."""
        step = statistics.median(self.step_seconds[1:] or self.step_seconds)
        epoch = step * self.steps_per_epoch
        text = (
            f"estimate: {_duration(step)} per batch, {_duration(epoch)} per epoch of "
            f"{self.steps_per_epoch} batches, {_duration(epoch * self.epochs_left)} for "
            f"{self.epochs_left} epochs (validation not included"
        )
        if self.config.time_budget:
            epochs = self.config.time_budget * 60 / max(epoch, 1e-9)
            fits = "less than one epoch" if epochs < 1 else f"about {epochs:.0f} epochs"
            text += f"; --time-budget {self.config.time_budget:g} min: {fits}"
        return text + ")"

    def anneal(self, step: int) -> None:
        """With ``--lr-decay cosine``, set every optimiser's learning rate for ``step`` from how
        far this run is: its steps, or its time budget when that is further along."""
        if self.config.lr_decay != "cosine":
            return
        done = step - self.first_step
        progress = done / max(1, self.steps_per_epoch * self.epochs_left)
        if self.config.time_budget:
            spent = (time.perf_counter() - self.start) / (self.config.time_budget * 60)
            progress = max(progress, spent)
        lr = self.config.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = lr

    def budget_spent(self) -> bool:
        """Whether the time budget is spent (on any rank, so that all stop together)."""
        budget = self.config.time_budget * 60
        return bool(budget) and self.run.any(time.perf_counter() - self.start >= budget)


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def fit(
    run: Run,
    config: GradientConfig,
    model: GenerativeModel,
    step_fn: StepFn,
    *,
    train: torch.Tensor,
    validate: Callable[[GenerativeModel], float],
    optimizers: Mapping[str, torch.optim.Optimizer],
    score_name: str = "validation loss",
    on_epoch: Callable[[LoopState, dict[str, float]], None] | None = None,
) -> LoopState:
    """Train ``model`` on float images ``train`` (N,C,H,W in [0, 1]) with ``step_fn``.

    After each epoch ``validate(model)`` (in eval mode, without gradients) gives the score that
    selects the weights to keep and stops the run after ``patience`` epochs without progress;
    ``on_epoch`` sees the state and the epoch's mean statistics. ``optimizers`` are those the
    step function uses, by name, for the checkpoints. Returns the final state, the model
    holding the best weights, in eval mode.
    """
    checkpoint = checkpoint_path(config)
    if len(train) < config.batch_size:
        raise TrainingError(
            f"the training split ({len(train)} images) is smaller than one batch "
            f"(--batch-size {config.batch_size})"
        )
    model.to(run.device)
    state = LoopState(best_weights=copy.deepcopy(model.state_dict()))
    if config.resume:
        state = load_checkpoint(checkpoint, model, optimizers, config, run)
        run.log(f"resumed from {checkpoint} at epoch {state.epoch}")
        if state.bad_epochs >= config.patience:  # the run had already stopped early
            state.stopped = "patience"
    train = train.to(run.device)
    steps = len(epoch_batches(len(train), config.batch_size, 0, config.seed, run))
    pace = Pace(run, config, steps, config.epochs - state.epoch, optimizers, state.step)
    with tqdm(
        total=config.epochs * steps,
        initial=state.epoch * steps,
        disable=not run.main,
        unit="batch",
        dynamic_ncols=True,
    ) as bar:
        while state.epoch < config.epochs and not state.stopped:
            bar.set_description(f"epoch {state.epoch + 1}/{config.epochs}")
            start = time.perf_counter()
            means, batches = _train_epoch(
                run, config, model, step_fn, train, state, pace, bar, checkpoint
            )
            elapsed = time.perf_counter() - start
            state.seconds += elapsed
            bar.set_description(f"epoch {state.epoch + 1}/{config.epochs}, validating")
            score = _validation_score(run, model, validate)
            bar.set_description(f"epoch {state.epoch + 1}/{config.epochs}")
            _guard({score_name: score}, state, checkpoint)
            state.epoch += 1
            state.record(score, model)
            if state.bad_epochs >= config.patience:
                state.stopped = state.stopped or "patience"
            elif pace.budget_spent():  # by the validation: stop before another epoch
                state.stopped = "time budget"
            bar.set_postfix(
                **{k: f"{v:.4g}" for k, v in means.items()},
                val=f"{score:.4g}",
                img_s=f"{batches * config.batch_size / max(elapsed, 1e-9):.0f}",
            )
            if on_epoch is not None:
                on_epoch(state, means)
            if run.main and (
                state.epoch % config.checkpoint_every == 0
                or state.epoch == config.epochs
                or state.stopped
            ):
                save_checkpoint(checkpoint, model, optimizers, state, config, run.precision)
    _log_stop(run, config, state, score_name)
    model.load_state_dict(state.best_weights)
    round_to_stored_precision(config, model)
    model.eval()
    return state


def _train_epoch(
    run: Run,
    config: GradientConfig,
    model: nn.Module,
    step_fn: StepFn,
    train: torch.Tensor,
    state: LoopState,
    pace: Pace,
    bar: tqdm[Any],
    checkpoint: Path,
) -> tuple[dict[str, float], int]:
    """One epoch's steps, cut short when the time budget is spent (``state.stopped``); returns
    the mean of each statistic and the number of steps done."""
    model.train()
    stats = []
    for index in epoch_batches(len(train), config.batch_size, state.epoch, config.seed, run):
        start = time.perf_counter()
        pace.anneal(state.step)
        named = step_fn(train[index], state)
        values = run.all_mean(torch.stack([v.float().reshape(()) for v in named.values()]))
        _guard(dict(zip(named, values.tolist(), strict=True)), state, checkpoint)
        stats.append(values)
        state.step += 1
        bar.update(1)
        pace.timed(time.perf_counter() - start)
        if pace.budget_spent():
            state.stopped = "time budget"
            break
    return dict(zip(named, torch.stack(stats).mean(0).tolist(), strict=True)), len(stats)


def _log_stop(run: Run, config: GradientConfig, state: LoopState, score_name: str) -> None:
    if state.stopped == "patience":
        run.log(
            f"stopped early after {state.epoch} epochs: no better {score_name} in "
            f"{config.patience} epochs"
        )
    elif state.stopped == "time budget":
        run.log(
            f"stopped at the time budget of {config.time_budget:g} min after {state.epoch} "
            f"epochs ({state.step} steps; the last may be partial); evaluating the best weights"
        )


def _validation_score(
    run: Run, model: GenerativeModel, validate: Callable[[GenerativeModel], float]
) -> float:
    model.eval()
    with torch.no_grad():
        score = validate(model)
    return float(run.all_mean(torch.tensor([score], device=run.device)).item())


def _guard(values: dict[str, float], state: LoopState, checkpoint: Path) -> None:
    """The NaN guard: stop before a non-finite value reaches a checkpoint."""
    if all(math.isfinite(v) for v in values.values()):
        return
    kept = (
        f"the last good checkpoint is kept at {checkpoint}"
        if checkpoint.exists()
        else "no checkpoint was written yet"
    )
    shown = ", ".join(f"{k} {v}" for k, v in values.items())
    raise TrainingError(
        f"training diverged at epoch {state.epoch + 1}, step {state.step} ({shown}); "
        f"{kept}; try a lower --lr"
    )


def save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizers: Mapping[str, torch.optim.Optimizer],
    state: LoopState,
    config: GradientConfig,
    precision: str,
) -> None:
    """Weights, every optimiser's state, the loop state, the config and the precision the run
    trained in (``--precision auto`` resolved: a resumed run goes on in it), written
    atomically: tensors and plain values only."""
    buffer = io.BytesIO()
    torch.save(
        {
            "model": model.state_dict(),
            "optimizers": {name: o.state_dict() for name, o in optimizers.items()},
            "loop": state.counters(),
            "best_weights": state.best_weights,
            "config": config.to_dict(),
            "model_options": dict(config.model),
            "precision": precision,
        },
        buffer,
    )
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(
    path: Path,
    model: nn.Module,
    optimizers: Mapping[str, torch.optim.Optimizer],
    config: GradientConfig,
    run: Run,
) -> LoopState:
    """Restore the weights and optimisers from ``path``; returns the loop state it held."""
    if not path.exists():
        raise TrainingError(f"--resume given but there is no checkpoint at {path}")
    try:
        saved = torch.load(path, map_location=run.device, weights_only=True)
        # a checkpoint from before a later variant of the architecture existed holds the
        # earlier one
        config_class = getattr(getattr(model, "module", model), "config_class", None)
        earlier = later_variant_defaults(config_class) if config_class is not None else {}
        options = {**earlier, **dict(saved["model_options"])}
        counters = dict(saved["loop"])
        best_weights = dict(saved["best_weights"])
    except Exception as exc:  # whatever an untrusted file makes torch.load raise
        raise TrainingError(f"cannot resume from {path}: {exc}") from None
    if options != config.model:
        differ = ", ".join(
            f"{k}={options.get(k)!r}, not {config.model.get(k)!r}"
            for k in sorted(options.keys() | config.model.keys())
            if options.get(k) != config.model.get(k)
        )
        raise TrainingError(f"cannot resume from {path}: it holds a model with {differ}")
    if set(counters) != set(LoopState().counters()) or not all(
        type(v) in (int, float) for v in counters.values()
    ):
        raise TrainingError(f"cannot resume from {path}: its loop state is malformed")
    try:
        model.load_state_dict(saved["model"])
        copy.deepcopy(model).load_state_dict(best_weights)  # the same names and shapes
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(saved["optimizers"][name])
    except Exception as exc:
        raise TrainingError(f"cannot resume from {path}: {exc}") from None
    return LoopState(**counters, best_weights=best_weights)
