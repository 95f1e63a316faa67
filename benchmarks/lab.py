"""The 2-D lab's flow fit: two moons by an 8-layer RealNVP, ours (run as the lab window runs
it, views and all) side by side with the normflows library on the same task.

    python benchmarks/lab.py [--threads 1] [--seeds 3] [--budget 10] [--reference-steps 20000]
                             [--reference NLL] [--hidden H] [--lr LR] [--batch B] [--quick]

normflows is optional and only for this benchmark (it is no dependency of LatentLab):
``.venv/bin/pip install normflows -c constraints.txt``. Without it, ours is printed alone.

Task: ``make_toy("moons", 4000, seed=0)`` split as ``FlowLab`` splits it (80 % training, 20 %
held out, seeded). Target: the held-out negative log-likelihood (nats per point) of a long
reference run plus 0.05. The reference: our flow trained ``--reference-steps`` steps with the
same batch and Adam, the learning rate decayed by a cosine to 0, the held-out NLL evaluated
every 250 steps; its best value is the reference (the long run overfits 3,200 points, so its
last value is worse).

Ours: ``FlowLab.run()`` consumed as the lab process does (its frame clock, 22 frames/s), with
a cursor set (so every fourth frame also reads the Jacobians); time to target = wall time from
the first step until a frame's held-out NLL is at or below the target. Frames/s and training
steps/s are over the whole run; training steps/s alone (no views, no evaluation) are printed
too. normflows:
``AffineCouplingBlock(MLP([1, H, H, 2], init_zeros=True))`` alternating with a
``Permute(2, "swap")``, as many couplings, a fixed standard normal base, the same Adam
learning rate and batch, the same minibatch draws; its held-out NLL is evaluated every 45 ms
(no views). The two couplings differ in their scale: ours s = scale * tanh(raw) (RealNVP §4.1),
normflows' exp(raw). Each seed gives one run of each (different initialisations); a run that
misses the target within 3 x ``--budget`` seconds says so.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from latentlab.data.toy2d import make_toy
from latentlab.explore.lab_flow import (
    DEFAULT_BATCH,
    DEFAULT_HIDDEN,
    DEFAULT_LR,
    FRAME_SECONDS,
    FlowLab,
)
from latentlab.models.flow2d import Flow2D

TARGET_MARGIN = 0.05  # nats per point above the reference
RAW_STEPS = 40  # per timing of training steps alone


def raw_steps_per_second(
    model: nn.Module,
    nll: Callable[[torch.Tensor], torch.Tensor],
    train: torch.Tensor,
    args: argparse.Namespace,
) -> float:
    """Training steps per second without views or evaluation: the best of 5 timings of
    ``RAW_STEPS`` steps (the machine may be busy)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    generator = torch.Generator().manual_seed(0)
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(RAW_STEPS):
            loss = nll(train[torch.randint(len(train), (args.batch,), generator=generator)])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        best = min(best, time.perf_counter() - start)
    return RAW_STEPS / best


def reference_nll(
    train: torch.Tensor, test: torch.Tensor, args: argparse.Namespace
) -> tuple[float, int, float]:
    """(best held-out NLL, the step it was reached at, seconds) of the long reference run."""
    flow = Flow2D("realnvp", args.layers, args.hidden, seed=1000)
    flow.initialize(train)
    optimizer = torch.optim.Adam(flow.parameters(), lr=args.lr)
    steps = args.reference_steps
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    generator = torch.Generator().manual_seed(1000)
    best, best_step, start = math.inf, 0, time.perf_counter()
    for step in range(1, steps + 1):
        batch = train[torch.randint(len(train), (args.batch,), generator=generator)]
        loss = -flow.log_prob(batch).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 250 == 0 or step == steps:
            with torch.no_grad():
                nll = -flow.log_prob(test).mean().item()
            if nll < best:
                best, best_step = nll, step
    return best, best_step, time.perf_counter() - start


def ours(points: np.ndarray, seed: int, target: float, args: argparse.Namespace) -> dict:
    lab = FlowLab(points, "realnvp", args.layers, args.hidden, args.lr, args.batch, seed=seed)
    lab.set_cursor((0.2, 0.1))
    run = lab.run(max_steps=10**9, frame_seconds=FRAME_SECONDS)
    start = time.perf_counter()
    frames, hit = 0, None
    for _, view in run:
        frames += 1
        elapsed = time.perf_counter() - start
        if hit is None and view.test_nll is not None and view.test_nll <= target:
            hit = elapsed
        if hit is not None or elapsed > 3 * args.budget:
            break
    run.close()
    elapsed = time.perf_counter() - start
    return {
        "time": hit,
        "steps": lab.step,
        "steps/s": lab.step / elapsed,
        "frames/s": frames / elapsed,
        "nll": lab.test_nll(),
    }


def normflows_model(layers: int, hidden: int) -> nn.Module:
    import normflows as nf

    flows: list[nn.Module] = []
    for _ in range(layers):
        net = nf.nets.MLP([1, hidden, hidden, 2], init_zeros=True)
        flows += [nf.flows.AffineCouplingBlock(net), nf.flows.Permute(2, mode="swap")]
    return nf.NormalizingFlow(nf.distributions.DiagGaussian(2, trainable=False), flows)


def theirs(
    train: torch.Tensor, test: torch.Tensor, seed: int, target: float, args: argparse.Namespace
) -> dict:
    torch.manual_seed(seed)
    model = normflows_model(args.layers, args.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    generator = torch.Generator().manual_seed(seed)
    step, hit, checked = 0, None, -math.inf
    start = time.perf_counter()
    while True:
        batch = train[torch.randint(len(train), (args.batch,), generator=generator)]
        loss = model.forward_kld(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        now = time.perf_counter()
        if now - checked >= FRAME_SECONDS:
            checked = now
            with torch.no_grad():
                nll = -model.log_prob(test).mean().item()
            elapsed = time.perf_counter() - start
            if nll <= target:
                hit = elapsed
            if hit is not None or elapsed > 3 * args.budget:
                break
    elapsed = time.perf_counter() - start
    return {"time": hit, "steps": step, "steps/s": step / elapsed, "frames/s": None, "nll": nll}


def show(name: str, seed: int, result: dict, budget: float) -> None:
    if result["time"] is None:
        reached = f"not reached in {3 * budget:.0f} s"
    else:
        mark = "" if result["time"] <= budget else f" (over the {budget:g} s budget)"
        reached = f"{result['time']:6.2f} s{mark}"
    frames = f"{result['frames/s']:5.1f}" if result["frames/s"] is not None else "    -"
    print(
        f"{name:10s} {seed:4d} {result['steps/s']:8.0f} {frames:>8s} {result['steps']:7d} "
        f"{result['nll']:9.4f}  {reached}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (%(default)s)")
    parser.add_argument("--seeds", type=int, default=3, help="runs of each (%(default)s)")
    parser.add_argument("--budget", type=float, default=10.0, help="seconds (%(default)s)")
    parser.add_argument("--reference-steps", type=int, default=20_000, help="(%(default)s)")
    parser.add_argument("--layers", type=int, default=8, help="couplings (%(default)s)")
    parser.add_argument("--hidden", type=int, default=DEFAULT_HIDDEN, help="(%(default)s)")
    parser.add_argument("--lr", type=float, default=DEFAULT_LR, help="(%(default)s)")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="(%(default)s)")
    parser.add_argument(
        "--reference",
        type=float,
        default=None,
        help="the reference held-out NLL printed by an earlier run with the same settings "
        "(skips the long run)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: rough figures")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.budget, args.reference_steps = 1, 1.0, 200
    torch.set_num_threads(args.threads)
    try:
        import normflows  # noqa: F401

        have_normflows = True
    except ImportError:
        have_normflows = False

    points = make_toy("moons", 4000, seed=0)
    split = FlowLab(points, "realnvp", 1, resolution=2)  # only for its train/test split
    train, test = split.train_points, split.test_points
    assert test is not None
    print(
        f"two moons, {len(train)} training and {len(test)} held-out points; RealNVP "
        f"{args.layers} couplings, hidden {args.hidden}, Adam lr {args.lr:g}, batch "
        f"{args.batch}; torch {torch.__version__}, {args.threads} thread(s)"
    )
    if args.reference is None:
        reference, at, seconds = reference_nll(train, test, args)
        print(
            f"reference: held-out NLL {reference:.4f} nats at step {at} of a "
            f"{args.reference_steps}-step cosine run ({seconds:.0f} s)"
        )
    else:
        reference = args.reference
        print(f"reference: held-out NLL {reference:.4f} nats (given)")
    target = reference + TARGET_MARGIN
    print(f"target: {target:.4f} nats")
    flow = Flow2D("realnvp", args.layers, args.hidden)
    flow.initialize(train)
    raw = {"ours": raw_steps_per_second(flow, lambda b: -flow.log_prob(b).mean(), train, args)}
    if have_normflows:
        model = normflows_model(args.layers, args.hidden)
        raw["normflows"] = raw_steps_per_second(model, model.forward_kld, train, args)
    print(
        "training steps/s alone (best of 5 x 40 steps): "
        + ", ".join(f"{name} {rate:.0f}" for name, rate in raw.items())
    )
    print(
        f"\n{'':10s} {'seed':>4s} {'steps/s':>8s} {'frames/s':>8s} {'steps':>7s} "
        f"{'held-out':>9s}  time to target (budget {args.budget:g} s)"
    )
    runners: list[tuple[str, Callable[[int], dict]]] = [
        ("ours", lambda seed: ours(points, seed, target, args))
    ]
    if have_normflows:
        runners.append(("normflows", lambda seed: theirs(train, test, seed, target, args)))
    for seed in range(args.seeds):
        for name, runner in runners:
            show(name, seed, runner(seed), args.budget)
    if not have_normflows:
        print(
            "\nnormflows is not installed: only ours was measured "
            "(.venv/bin/pip install normflows -c constraints.txt)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
