"""What every training script shares: arguments, seeding, torchrun/DDP, the loop with progress,
atomic checkpoints and ``--resume``, the NaN guard, and writing the model file.

A family script builds its model and a loss function, calls :func:`fit`, then :func:`finish`.
The same script runs single-process or under ``torchrun --nproc_per_node=N`` (gloo on CPU,
nccl on GPU): DistributedDataParallel averages gradients, every rank sees its own shard.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import os
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from latentlab.data import DataError, ImageDataset, Split, load_digits_split
from latentlab.data.folder import load_image_folder
from latentlab.data.mnist import load_mnist
from latentlab.data.synthfaces import synthfaces_split
from latentlab.fileio import atomic_write_bytes
from latentlab.modelfile import Reference, build_metadata, save_model
from latentlab.models import GenerativeModel
from latentlab.models.base import ConfigError, config_from_dict

__all__ = [
    "Run",
    "TrainingDiverged",
    "add_common_args",
    "add_config_args",
    "add_data_args",
    "config_from_args",
    "epoch_batches",
    "finish",
    "fit",
    "image_config",
    "load_checkpoint",
    "load_data",
    "load_split",
    "parse_args",
    "reference_set",
    "save_checkpoint",
    "setup",
]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def add_data_args(parser: argparse.ArgumentParser) -> None:
    """Options every trainer has: data, output, seed, preset, device."""
    g = parser.add_argument_group("data and output")
    g.add_argument(
        "--data",
        default="digits",
        help="digits | synthfaces | mnist:PATH (IDX files) | folder:PATH (default: %(default)s)",
    )
    g.add_argument(
        "--image-size",
        type=int,
        default=32,
        help="synthfaces and folder data: image size (default: %(default)s)",
    )
    g.add_argument(
        "--channels",
        type=int,
        choices=[1, 3],
        default=3,
        help="folder data: 1 for greyscale, 3 for colour (default: %(default)s)",
    )
    g.add_argument("--out", type=Path, required=True, help="model file to write (.safetensors)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    g.add_argument(
        "--preset",
        choices=["smoke"],
        default=None,
        help="smoke: a tiny run in seconds (for CI); changes the defaults",
    )
    g.add_argument("--device", default="auto", help="auto | cpu | cuda (default: %(default)s)")
    g.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads per process; 0: the cores divided among the processes "
        "(default: %(default)s)",
    )


def add_common_args(parser: argparse.ArgumentParser, **defaults: Any) -> None:
    """The data options and those of gradient training; ``defaults`` overrides the
    family-independent defaults."""
    add_data_args(parser)
    d = {"epochs": 100, "batch_size": 64, "lr": 1e-3, "patience": 20, **defaults}
    g = parser.add_argument_group("gradient training")
    g.add_argument("--epochs", type=int, default=d["epochs"], help="epochs (default: %(default)s)")
    g.add_argument(
        "--batch-size",
        type=int,
        default=d["batch_size"],
        help="global batch size, split across ranks (default: %(default)s)",
    )
    g.add_argument("--lr", type=float, default=d["lr"], help="learning rate (default: %(default)s)")
    g.add_argument(
        "--patience",
        type=int,
        default=d["patience"],
        help="stop after this many epochs without a better validation loss (default: %(default)s)",
    )
    g.add_argument(
        "--checkpoint-every",
        type=int,
        default=1,
        help="epochs between checkpoints (default: %(default)s)",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="continue from the checkpoint beside --out (OUT with suffix .ckpt)",
    )


_IMAGE_FIELDS = {"channels", "height", "width", "levels"}


def add_config_args(parser: argparse.ArgumentParser, config_class: type) -> None:
    """One option per field of a family's config (the image fields come from the data), typed,
    with the field's default and description: the config dataclass is the single source."""
    group = parser.add_argument_group(f"{config_class.__name__} (the model)")
    for f in dataclasses.fields(config_class):
        if f.name in _IMAGE_FIELDS:
            continue
        option = "--" + f.name.replace("_", "-")
        doc = f.metadata.get("doc", "")
        kind = (
            f.type
            if isinstance(f.type, type)
            else {"int": int, "float": float, "bool": bool, "str": str}[f.type]
        )
        if kind is bool:
            group.add_argument(
                option,
                action=argparse.BooleanOptionalAction,
                default=f.default,
                help=f"{doc} (default: %(default)s)",
            )
        else:
            group.add_argument(
                option,
                type=kind,
                default=f.default,
                choices=f.metadata.get("choices"),
                help=f"{doc} (default: %(default)s)",
            )


def config_from_args(config_class: type, args: argparse.Namespace, data: ImageDataset) -> Any:
    """The family config from parsed options and the data's image shape, checked and bounded
    exactly as a model file's config is."""
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(config_class)
        if f.name not in _IMAGE_FIELDS
    }
    try:
        return config_from_dict(config_class, {**values, **image_config(data)})
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None


def parse_args(
    parser: argparse.ArgumentParser, argv: list[str] | None, smoke: dict[str, Any]
) -> argparse.Namespace:
    """Parse ``argv``; ``--preset smoke`` replaces the defaults with ``smoke`` (options given
    explicitly still win)."""
    args = parser.parse_args(argv)
    if args.preset == "smoke":
        parser.set_defaults(**smoke)
        args = parser.parse_args(argv)
    args.command = f"{parser.prog} {shlex.join(sys.argv[1:] if argv is None else argv)}"
    return args


@dataclass
class Run:
    """Where and how this process trains."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    started: float = field(default_factory=time.time)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def log(self, message: str) -> None:
        if self.main:
            tqdm.write(message, file=sys.stderr)

    def all_mean(self, values: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            values = values.clone()
            dist.all_reduce(values)
            values /= self.world_size
        return values

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Leave the process group together: a rank that tears gloo down while another still
        works (rank 0 evaluating and writing) aborts the run."""
        if self.distributed and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def setup(args: argparse.Namespace) -> Run:
    """Seed everything, pick the device, and join the torchrun process group if there is one."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    else:
        threads = args.threads or (os.cpu_count() or 1) // world_size
        torch.set_num_threads(max(1, threads))
    if world_size > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    return Run(device, rank, world_size)


def load_split(spec: str, image_size: int = 32, channels: int = 3) -> Split:
    """The train/validation/test split named by ``--data``.

    ``digits`` has its fixed split; MNIST's test files are its test split and the last 10% of
    its training files validate; a folder is split 80/10/10 in a fixed shuffled order, its
    images converted to ``channels`` x ``image_size`` x ``image_size`` with 256 levels.
    """
    kind, _, path = spec.partition(":")
    try:
        if kind == "digits" and not path:
            return load_digits_split()
        if kind == "synthfaces" and not path:
            return synthfaces_split(size=image_size)
        if kind == "mnist" and path:
            train, test = load_mnist(path, "train"), load_mnist(path, "test")
            cut = len(train) * 9 // 10
            return Split("mnist", train.subset(slice(0, cut)), train.subset(slice(cut, None)), test)
        if kind == "folder" and path:
            data = load_image_folder(path, (channels, image_size, image_size), 256)
            order = np.random.default_rng(0).permutation(len(data))
            n_val = n_test = max(1, len(data) // 10)
            if len(data) < 3 * n_test:
                raise DataError(f"{path}: too few images to split ({len(data)})")
            return Split(
                Path(path).name,
                data.subset(order[n_val + n_test :]),
                data.subset(order[:n_val]),
                data.subset(order[n_val : n_val + n_test]),
            )
    except DataError as exc:
        raise SystemExit(f"error: {exc}") from None
    raise SystemExit(
        f"error: unknown --data {spec!r} (use digits, synthfaces, mnist:PATH or folder:PATH)"
    )


def load_data(args: argparse.Namespace) -> Split:
    """The split of ``--data``; with ``--preset smoke``, small slices of it."""
    if args.preset == "smoke" and args.data == "synthfaces":  # draw only what is used
        return synthfaces_split(256, 64, 64, size=args.image_size)
    split = load_split(args.data, args.image_size, args.channels)
    if args.preset == "smoke":
        split.train = split.train.subset(slice(0, 256))
        split.validation = split.validation.subset(slice(0, 64))
        split.test = split.test.subset(slice(0, 64))
    return split


def image_config(data: ImageDataset) -> dict[str, int]:
    """The image part of a family config (channels, height, width, levels) for ``data``."""
    c, h, w = data.image_shape
    return {"channels": c, "height": h, "width": w, "levels": data.levels}


def epoch_batches(n: int, batch_size: int, epoch: int, seed: int, run: Run) -> list[np.ndarray]:
    """This rank's shuffled minibatch indices for one epoch; every rank gets the same count."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    per_rank = max(1, batch_size // run.world_size)
    steps = n // (per_rank * run.world_size)
    return [order[(s * run.world_size + run.rank) * per_rank :][:per_rank] for s in range(steps)]


@dataclass
class FitResult:
    model: GenerativeModel  # the weights with the best validation loss
    epochs: int
    steps: int
    seconds: float
    best_validation: float


def fit(
    run: Run,
    args: argparse.Namespace,
    model: GenerativeModel,
    train: torch.Tensor,
    validation: torch.Tensor,
    loss_fn: Callable[[nn.Module, torch.Tensor], torch.Tensor],
    validation_fn: Callable[[GenerativeModel, torch.Tensor], float],
    optimizer: torch.optim.Optimizer,
) -> FitResult:
    """Train ``model`` on float images ``train`` (N,C,H,W in [0, 1]).

    ``loss_fn(module, batch)`` returns the mean loss of a batch, calling ``module`` (the model or
    its DDP wrapper) so that gradients are synchronised. ``validation_fn(model, images)`` returns
    a validation loss (lower is better) used for model selection and early stopping.
    """
    checkpoint = args.out.with_suffix(".ckpt")
    model.to(run.device)
    state = {"epoch": 0, "step": 0, "seconds": 0.0, "best": math.inf, "bad_epochs": 0}
    best_weights = copy.deepcopy(model.state_dict())
    if args.resume:
        state, best_weights = load_checkpoint(checkpoint, model, optimizer, run)
        run.log(f"resumed from {checkpoint} at epoch {state['epoch']}")
    module: nn.Module = model
    if run.distributed:
        module = nn.parallel.DistributedDataParallel(model)
    train = train.to(run.device)
    validation = validation.to(run.device)
    bar = tqdm(
        total=args.epochs,
        initial=state["epoch"],
        disable=not run.main,
        unit="epoch",
        dynamic_ncols=True,
    )
    while state["epoch"] < args.epochs and state["bad_epochs"] < args.patience:
        epoch_start = time.perf_counter()
        model.train()
        losses = []
        for index in epoch_batches(len(train), args.batch_size, state["epoch"], args.seed, run):
            loss = loss_fn(module, train[index])
            mean_loss = run.all_mean(loss.detach().reshape(1))
            if not torch.isfinite(mean_loss).all():
                bar.close()
                raise TrainingDiverged(
                    f"training diverged at epoch {state['epoch'] + 1}, step {state['step']} "
                    f"(loss {mean_loss.item()}); the last good checkpoint is kept at {checkpoint}; "
                    "try a lower --lr"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 100.0)
            optimizer.step()
            losses.append(mean_loss.item())
            state["step"] += 1
        elapsed = time.perf_counter() - epoch_start
        state["seconds"] += elapsed
        state["epoch"] += 1
        model.eval()
        with torch.no_grad():
            val = float(run.all_mean(torch.tensor([validation_fn(model, validation)])).item())
        if val < state["best"]:
            state["best"], state["bad_epochs"] = val, 0
            best_weights = copy.deepcopy(model.state_dict())
        else:
            state["bad_epochs"] += 1
        bar.update(1)
        bar.set_postfix(
            loss=f"{np.mean(losses):.2f}",
            val=f"{val:.2f}",
            img_s=f"{len(losses) * args.batch_size / max(elapsed, 1e-9):.0f}",
        )
        if run.main and (
            state["epoch"] % args.checkpoint_every == 0 or state["epoch"] == args.epochs
        ):
            save_checkpoint(checkpoint, model, optimizer, state, best_weights, args)
    bar.close()
    if state["bad_epochs"] >= args.patience:
        run.log(
            f"stopped early after {state['epoch']} epochs: no better validation loss in "
            f"{args.patience} epochs"
        )
    model.load_state_dict(best_weights)
    model.eval()
    return FitResult(model, state["epoch"], state["step"], state["seconds"], state["best"])


def save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    best_weights: dict[str, torch.Tensor],
    args: argparse.Namespace,
) -> None:
    """Weights, optimiser state, counters and settings: tensors and plain values only."""
    import io

    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    buffer = io.BytesIO()
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "best_weights": best_weights,
            "state": state,
            "settings": settings,
        },
        buffer,
    )
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, run: Run
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    if not path.exists():
        raise SystemExit(f"error: --resume given but there is no checkpoint at {path}")
    try:
        saved = torch.load(path, map_location=run.device, weights_only=True)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        return saved["state"], saved["best_weights"]
    except Exception as exc:
        raise SystemExit(f"error: cannot resume from {path}: {exc}") from None


def finish(
    run: Run,
    args: argparse.Namespace,
    result: FitResult,
    split: Split,
    test_metric: tuple[str, float],
    reference: Reference | None = None,
    attributes: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write the model file (rank 0 only) with its metadata, test metric and reference set."""
    if not run.main:
        return
    model = result.model.cpu()
    meta = build_metadata(
        model,
        dataset={
            "name": split.name,
            "size": sum(len(d) for d in (split.train, split.validation, split.test)),
            "label_names": split.train.label_names,
            "attribute_names": split.train.attribute_names,
        },
        training={
            "command": args.command,
            "epochs": result.epochs,
            "steps": result.steps,
            "seconds": round(result.seconds, 1),
            "device": str(run.device),
            "world_size": run.world_size,
            "test_metric": {"name": test_metric[0], "value": round(test_metric[1], 4)},
        },
    )
    save_model(args.out, model, meta, attributes=attributes, reference=reference)
    run.log(f"{test_metric[0]}: {test_metric[1]:.3f}")
    run.log(f"wrote {args.out}")


@torch.no_grad()
def reference_set(model: GenerativeModel, data: ImageDataset, limit: int = 2000) -> Reference:
    """Encoded latents, 8-bit thumbnails, labels and attribute values of (up to ``limit`` of)
    ``data``."""
    data = data.subset(slice(0, limit))
    images = torch.from_numpy(data.as_float())
    labels = None if data.labels is None else torch.from_numpy(data.labels).long()
    thumbnails = (images * 255).round().to(torch.uint8)
    attributes = {name: torch.from_numpy(values) for name, values in data.attributes.items()}
    return Reference(model.encode(images).float(), thumbnails, labels, attributes)


def as_float_tensor(data: ImageDataset) -> torch.Tensor:
    return torch.from_numpy(data.as_float())


def main_wrapper(train_main: Callable[[list[str] | None], None], argv: list[str] | None) -> int:
    """Run a trainer, turning expected failures into one-line messages and exit codes."""
    try:
        train_main(argv)
    except TrainingDiverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; resume with --resume", file=sys.stderr)
        return 130
    return 0
