"""Fit a Gaussian mixture by EM and write a LatentLab model file.

    python -m training.gmm --data digits --components 20 --covariance full --out gmm.safetensors
    python -m training.gmm --preset smoke --out /tmp/smoke.safetensors

EM (Dempster, Laird & Rubin 1977; Bishop, PRML §9.2) is not gradient training: no epochs,
batches or learning rate, and no checkpoints (a fit on digits takes seconds). Run it in one
process: under torchrun every rank would fit the same mixture. The training images are
dequantized onto [0, 1) once, with fixed noise (x~ = (k + u) / levels, REFERENCES §0.2 and §3.2),
and the mixture is fitted to them; validation and test are scored with the dequantization bound
in bits/dim (fresh noise, seeded), as the flows are.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings

import torch
from tqdm import tqdm

from latentlab.data import ImageDataset
from latentlab.models.base import bits_per_dim
from latentlab.models.gmm import GMM, EMConvergenceWarning, GMMConfig, Mixture, dequantize, em_steps
from training.common import (
    FitResult,
    Run,
    TrainingDiverged,
    add_config_args,
    add_data_args,
    as_float_tensor,
    config_from_args,
    finish,
    load_data,
    main_wrapper,
    parse_args,
    reference_set,
    setup,
)

SMOKE = {"components": 3, "max_iter": 5}


def parse_gmm_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.gmm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_data_args(parser)
    add_config_args(parser, GMMConfig)
    em = parser.add_argument_group("EM")
    em.add_argument(
        "--reg-covar",
        type=float,
        default=1e-3,
        help="added to every variance, on the [0, 1) scale (default: %(default)s)",
    )
    em.add_argument(
        "--tol",
        type=float,
        default=1e-4,
        help="stop when the mean log-likelihood changes less, nats per image "
        "(default: %(default)s)",
    )
    em.add_argument(
        "--max-iter", type=int, default=200, help="most EM iterations (default: %(default)s)"
    )
    return parse_args(parser, argv, smoke=SMOKE)


def bits_per_dim_of(model: GMM, data: ImageDataset) -> float:
    """Dequantization bound on the discrete NLL of ``data`` in bits/dim (fresh noise)."""
    with torch.no_grad():
        nats = -torch.cat([model.log_prob(b) for b in as_float_tensor(data).split(1024)])
    return bits_per_dim(nats.double().mean().item(), model.image_shape)


def fit_mixture(run: Run, args: argparse.Namespace, config: GMMConfig, x: torch.Tensor) -> Mixture:
    """EM on dequantized images ``x`` (N, D) with a progress bar of the log-likelihood."""
    offset = config.dim * math.log(config.levels)  # log p(x~) - D log(levels) is the bound
    mixture = None
    bar = tqdm(total=args.max_iter, disable=not run.main, unit="it", desc="EM", dynamic_ncols=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EMConvergenceWarning)  # reported below in one line
            for step in em_steps(
                x,
                config.components,
                config.covariance,
                args.reg_covar,
                args.tol,
                args.max_iter,
                args.seed,
            ):
                mixture = step.mixture
                bar.update(step.iteration - bar.n)
                bpd = bits_per_dim(offset - step.log_likelihood, (config.dim, 1, 1))
                bar.set_postfix(loglik=f"{step.log_likelihood:.3f}", bpd=f"{bpd:.4f}")
    except (ValueError, FloatingPointError) as exc:  # a singular component, a NaN
        raise TrainingDiverged(str(exc)) from None
    finally:
        bar.close()
    assert mixture is not None
    if not mixture.converged:
        run.log(
            f"EM did not converge in {args.max_iter} iterations; the last parameters are "
            "kept (raise --max-iter or --tol)"
        )
    return mixture


def train(argv: list[str] | None = None) -> None:
    args = parse_gmm_args(argv)
    with setup(args) as run:
        split = load_data(args)
        config = config_from_args(GMMConfig, args, split.train)
        if config.components > len(split.train):
            raise SystemExit(
                f"error: {config.components} components need at least as many "
                f"training images (there are {len(split.train)})"
            )
        noise = torch.Generator().manual_seed(args.seed)
        x = dequantize(as_float_tensor(split.train), config.levels, generator=noise)  # N, D
        start = time.perf_counter()
        mixture = fit_mixture(run, args, config, x.to(run.device))
        seconds = time.perf_counter() - start
        if not run.main:
            return
        model = GMM.from_mixture(mixture, split.train.image_shape, config.levels)
        torch.manual_seed(args.seed)
        validation = bits_per_dim_of(model, split.validation)
        train_bpd = bits_per_dim(
            config.dim * math.log(config.levels) - mixture.log_likelihood, model.image_shape
        )  # on the noise it was fitted to
        run.log(
            f"EM: {mixture.n_iter} iterations in {seconds:.1f} s"
            f"{', converged' if mixture.converged else ''}; train {train_bpd:.4f} bits/dim, "
            f"validation {validation:.4f} bits/dim"
        )
        test = bits_per_dim_of(model, split.test)
        nats = validation * config.dim * math.log(2)
        result = FitResult(
            model,
            epochs=mixture.n_iter,
            steps=mixture.n_iter,
            seconds=seconds,
            best_validation=nats,
        )
        finish(
            run,
            args,
            result,
            split,
            ("test bits/dim", test),
            reference=reference_set(model, split.test),
        )


def main(argv: list[str] | None = None) -> int:
    return main_wrapper(train, argv)


if __name__ == "__main__":
    sys.exit(main())
