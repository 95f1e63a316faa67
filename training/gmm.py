"""Fit a Gaussian mixture by EM and write a LatentLab model file.

    python -m training.gmm --data digits --components 20 --covariance full --out gmm.safetensors
    python -m training.gmm --preset smoke --out /tmp/smoke.safetensors

EM (Dempster, Laird & Rubin 1977; Bishop, PRML §9.2) is not gradient training: no epochs,
batches or learning rate, and no checkpoints (a fit on digits takes seconds; on Fashion-MNIST
an iteration of 10 full components takes about 20 s on 2 CPU cores, and --time-budget stops
EM after the iteration that spends it). Run it in one process: under torchrun every rank would
fit the same mixture. The training images are dequantized onto [0, 1) once, with fixed noise
(x~ = (k + u) / levels, docs/families.md), and the mixture is fitted to them; validation and
test are scored with the dequantization bound in bits/dim (fresh noise, seeded), as the flows
are.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from latentlab.data import ImageDataset
from latentlab.models.base import bits_per_dim
from latentlab.models.gmm import (
    GMM,
    EMConvergenceWarning,
    EMStep,
    GMMConfig,
    Mixture,
    dequantize,
    em_steps,
)
from training.common import (
    Run,
    TrainingError,
    as_float_tensor,
    evaluate_bits_per_dim,
    finish,
    load_data,
    mean_nll,
    model_config,
    reference_set,
    run_main,
)
from training.config import GradientConfig, TrainConfig, option, parse_config
from training.loop import LoopState

_TIME_BUDGET = GradientConfig.__dataclass_fields__["time_budget"]  # its default, doc and bounds


@dataclass(frozen=True, kw_only=True)
class GMMTrainConfig(TrainConfig):
    reg_covar: float = option(
        1e-3, "added to every variance, on the [0, 1) scale", group="EM", low=0.0, high=1.0
    )
    tol: float = option(
        1e-4,
        "stop when the mean log-likelihood changes less, nats per image",
        group="EM",
        low=0.0,
        high=1e6,
    )
    max_iter: int = option(200, "most EM iterations", group="EM", low=1, high=100_000)
    time_budget: float = field(
        default=_TIME_BUDGET.default, metadata={**_TIME_BUDGET.metadata, "group": "EM"}
    )


def parse(argv: list[str] | None) -> GMMTrainConfig:
    return parse_config(
        GMMTrainConfig,
        argv,
        model=GMMConfig,
        description=__doc__,
        smoke={"components": 3, "max_iter": 5},
    )


def bits_per_dim_of(model: GMM, data: ImageDataset, desc: str) -> float:
    """Dequantization bound on the discrete NLL of ``data`` in bits/dim (fresh noise), with a
    progress bar titled ``desc``."""
    nats = mean_nll(model, as_float_tensor(data), desc, batch=1024)
    return bits_per_dim(nats, model.image_shape)


def fit_mixture(
    run: Run, config: GMMTrainConfig, gmm: GMMConfig, x: torch.Tensor
) -> tuple[Mixture, str]:
    """EM on dequantized images ``x`` (N, D) with a progress bar of the log-likelihood. Returns
    the mixture and why EM stopped before converging or ``max_iter``: "time budget" when the
    iteration that spent ``--time-budget`` ended it, else ""."""
    offset = gmm.dim * math.log(gmm.levels)  # log p(x~) - D log(levels) is the bound
    start = time.perf_counter()
    mixture, stopped = None, ""
    steps = em_steps(
        x,
        gmm.components,
        gmm.covariance,
        config.reg_covar,
        config.tol,
        config.max_iter,
        config.seed,
    )
    with (
        tqdm(
            total=config.max_iter, disable=not run.main, unit="it", desc="EM", dynamic_ncols=True
        ) as bar,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", EMConvergenceWarning)  # reported below in one line
        try:
            for step in steps:
                mixture = step.mixture
                bar.update(step.iteration - bar.n)
                bpd = bits_per_dim(offset - step.log_likelihood, (gmm.dim, 1, 1))
                bar.set_postfix(loglik=f"{step.log_likelihood:.3f}", bpd=f"{bpd:.4f}")
                if budget_ends(config, step, time.perf_counter() - start):
                    stopped = "time budget"
                    break
        except (ValueError, FloatingPointError) as exc:  # a singular component, a NaN
            raise TrainingError(str(exc)) from None
    assert mixture is not None
    if stopped:
        run.log(
            f"stopped at the time budget of {config.time_budget:g} min after "
            f"{mixture.n_iter} EM iterations; evaluating their parameters"
        )
    elif not mixture.converged:
        run.log(
            f"EM did not converge in {config.max_iter} iterations; the last parameters are "
            "kept (raise --max-iter or --tol)"
        )
    return mixture, stopped


def budget_ends(config: GMMTrainConfig, step: EMStep, seconds: float) -> bool:
    """Whether ``--time-budget`` ends EM after ``step``, ``seconds`` into the fit: it is spent,
    EM would go on, and at least one iteration ran (as the gradient loop takes one step)."""
    last = step.mixture.converged or step.iteration == config.max_iter
    spent = bool(config.time_budget) and seconds >= config.time_budget * 60
    return spent and step.iteration > 0 and not last


def train(run: Run, config: GMMTrainConfig) -> None:
    split = load_data(config)
    gmm = model_config(config, GMMConfig, split.train)
    if gmm.components > len(split.train):
        raise TrainingError(
            f"{gmm.components} components need at least as many training images "
            f"(there are {len(split.train)})"
        )
    noise = torch.Generator("cpu").manual_seed(config.seed)  # the data is on the CPU here
    x = dequantize(as_float_tensor(split.train), gmm.levels, generator=noise)  # N, D
    start = time.perf_counter()
    mixture, stopped = fit_mixture(run, config, gmm, x.to(run.device))
    seconds = time.perf_counter() - start
    if not run.main:
        return
    model = GMM.from_mixture(mixture, split.train.image_shape, gmm.levels)
    torch.manual_seed(config.seed)
    validation = bits_per_dim_of(model, split.validation, "validation bits/dim")
    train_bpd = bits_per_dim(
        gmm.dim * math.log(gmm.levels) - mixture.log_likelihood, model.image_shape
    )  # on the noise it was fitted to
    run.log(
        f"EM: {mixture.n_iter} iterations in {seconds:.1f} s"
        f"{', converged' if mixture.converged else ''}; train {train_bpd:.4f} bits/dim, "
        f"validation {validation:.4f} bits/dim"
    )
    test = evaluate_bits_per_dim(run, model, as_float_tensor(split.test), 1024)
    iterations = LoopState(  # an EM iteration is the model file's epoch and step
        epoch=mixture.n_iter,
        step=mixture.n_iter,
        seconds=seconds,
        best=validation * gmm.dim * math.log(2),
        stopped=stopped,
    )
    finish(
        run,
        config,
        model,
        iterations,
        split,
        ("test bits/dim", test),
        reference=reference_set(model, split.test),
    )


def main(argv: list[str] | None = None) -> int:
    return run_main(parse, train, argv)


if __name__ == "__main__":
    sys.exit(main())
