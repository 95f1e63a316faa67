"""What every training script shares besides its config and loop: the one error, the run
(device, precision, torchrun/DDP), the data, and writing the model file.

A family script parses its config (:mod:`training.config`), hands it with its training function
to :func:`run_main`, and in that function builds its model, trains it (:func:`training.loop.fit`
or its own fit, as EM does) and calls :func:`finish`. The same script runs single-process or
under ``torchrun --nproc_per_node=N`` (gloo on CPU, nccl on GPU): DistributedDataParallel
averages gradients, every rank sees its own shard.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from latentlab.data import DataError, ImageDataset, Split, load_digits_split
from latentlab.data.fashion import load_fashion_split
from latentlab.data.folder import load_image_folder
from latentlab.data.mnist import load_mnist
from latentlab.data.synthfaces import MAX_SIZE, MIN_SIZE, synthfaces_split
from latentlab.device import use_cpu_threads
from latentlab.modelfile import MAX_ATTRIBUTES, Reference, build_metadata, save_model
from latentlab.models import GenerativeModel
from latentlab.models.base import ConfigError, bits_per_dim, config_from_dict
from training.config import IMAGE_FIELDS, GradientConfig, TrainConfig, describe

if TYPE_CHECKING:
    from training.loop import LoopState

__all__ = [
    "Run",
    "TrainingError",
    "as_float_tensor",
    "autocast_dtype",
    "batched",
    "bfloat16_is_native",
    "checkpoint_path",
    "cpu_has_native_bfloat16",
    "describe_split",
    "evaluate_bits_per_dim",
    "finish",
    "load_data",
    "load_split",
    "mean_nll",
    "model_config",
    "progress_bar",
    "reference_set",
    "round_to_stored_precision",
    "run_main",
    "setup",
]


class TrainingError(Exception):
    """A run cannot go on (data missing, a diverged loss, an unusable checkpoint, a bad option):
    :func:`run_main` prints it as one line and exits with status 1."""


@dataclass
class Run:
    """Where and how this process trains."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    autocast_dtype: torch.dtype | None = None  # bfloat16 or None (float32): --precision
    # what the checkpoint that --resume continues says its run trained in, if it says
    resumed_precision: str | None = None

    @property
    def precision(self) -> str:
        """The name checkpoints and model files record: "bfloat16" (autocast) or "float32"."""
        return "bfloat16" if self.autocast_dtype else "float32"

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def log(self, message: str) -> None:
        if self.main:
            _write(message)

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` holds on any rank: the same answer on every rank."""
        if not self.distributed:
            return flag
        value = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def all_mean(self, values: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            values = values.clone()
            dist.all_reduce(values)
            values /= self.world_size
        return values

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The precision of forward passes: bfloat16 autocast, or full precision (see
        :func:`autocast_dtype`)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` on this run's device; with several processes under DistributedDataParallel,
        so that calls through the wrapper average its gradients across ranks."""
        module.to(self.device)
        if self.distributed:
            return nn.parallel.DistributedDataParallel(module)
        return module

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


def _write(message: str) -> None:
    """A line on stderr, above the progress bar if there is one."""
    tqdm.write(message, file=sys.stderr)


def _rank() -> int:
    """This process's rank under torchrun (0 without it)."""
    return int(os.environ.get("RANK", "0"))


def progress_bar(total: int, desc: str, unit: str = "img") -> tqdm[Any]:
    """A progress bar on stderr (on rank 0 only), like the training loop's."""
    return tqdm(total=total, desc=desc, unit=unit, disable=_rank() != 0, dynamic_ncols=True)


def setup(config: TrainConfig) -> Run:
    """Seed everything, pick the device and precision, and join the torchrun process group if
    there is one."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = _rank()
    try:
        auto = "cuda" if torch.cuda.is_available() else "cpu"
        device = torch.device(auto if config.device == "auto" else config.device)
    except RuntimeError:
        raise TrainingError(f"unknown --device {config.device!r} (use auto, cpu or cuda)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError("--device cuda, but PyTorch sees no CUDA device")
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    else:
        use_cpu_threads(max(1, config.threads or (os.cpu_count() or 1) // world_size))
    resumed, precision_of = None, config
    if _resumes(config):
        resumed = _recorded_precision(checkpoint_path(config))
        if resumed is not None and config.precision == "auto":
            # a resumed run goes on as it trained, whatever auto would pick here now
            precision_of = dataclasses.replace(config, precision=resumed)
    dtype = autocast_dtype(precision_of, device)
    if world_size > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    return Run(device, rank, world_size, dtype, resumed)


def checkpoint_path(config: TrainConfig) -> Path:
    """Where a run's checkpoint lies: beside its --out."""
    return config.out.with_suffix(".ckpt")


def _resumes(config: TrainConfig) -> TypeGuard[GradientConfig]:
    return isinstance(config, GradientConfig) and config.resume


def _recorded_precision(path: Path) -> str | None:
    """The precision a checkpoint says its run trained in ("float32" or "bfloat16"), or None
    where it says none (written before checkpoints recorded it) or cannot be read: resuming
    reports an unreadable checkpoint itself. Memory-mapped, so the weights stay on disk."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        precision = saved.get("precision") if isinstance(saved, dict) else None
    except Exception:  # whatever an untrusted or missing file makes torch.load raise
        return None
    return precision if precision in ("float32", "bfloat16") else None


def autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The dtype of the networks' products for ``--precision`` on ``device``: bfloat16, or
    None for float32 (EM's trainer has no such option)."""
    if not isinstance(config, GradientConfig) or config.precision == "float32":
        return None
    if device.type == "cuda" and not bfloat16_is_native(device):
        if config.precision == "bfloat16":
            raise TrainingError("--precision bfloat16, but this GPU has no bfloat16 support")
        return None
    if config.precision == "auto":
        # On a GPU every family's training step at the trainers' sizes took longer in bfloat16
        # (an H200: 0.73-0.90 of float32's images/s; the steps wait on kernel launches, not on
        # products, and autocast adds casts): benchmarks/flows.py --device cuda
        pays = device.type == "cpu" and config.bfloat16_pays_on_cpu()
        return torch.bfloat16 if pays and bfloat16_is_native(device) else None
    return torch.bfloat16


def bfloat16_is_native(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 natively: a CUDA GPU that supports it, or a
    processor with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_native_bfloat16()


def cpu_has_native_bfloat16() -> bool:
    """Whether this processor multiplies bfloat16 numbers natively (AVX512-BF16 or AMX). There
    oneDNN's bfloat16 convolutions took about half the time of float32 ones; elsewhere it
    emulates them, slower."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch.cpu's own checks
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def _resumed_precision_note(run: Run) -> str:
    """How the precision of a resumed run relates to its checkpoint's, for the log."""
    if run.resumed_precision is None:
        return f"records no precision; going on in {run.precision}"
    if run.resumed_precision == run.precision:
        return f"trained in {run.precision}; going on in it"
    return f"trained in {run.resumed_precision}; going on in {run.precision}, as --precision asks"


C = TypeVar("C", bound=TrainConfig)


def run_main(
    parse: Callable[[list[str] | None], C],
    train: Callable[[Run, C], None],
    argv: list[str] | None,
) -> int:
    """Parse the config, set up the run, log both, and train; returns the exit status.

    The one place where a :class:`TrainingError` becomes a one-line message (status 1) and an
    interrupt a hint to resume (status 130); argparse reports usage errors itself (status 2).
    """
    config = parse(argv)
    try:
        with setup(config) as run:
            precision = "bfloat16 autocast" if run.autocast_dtype else "float32"
            run.log(describe(config))
            run.log(f"  {'device':<13}{run.device}, {precision}, {run.world_size} process(es)")
            if _resumes(config) and checkpoint_path(config).exists():
                run.log(f"  {'checkpoint':<13}{_resumed_precision_note(run)}")
            if run.autocast_dtype and run.device.type == "cpu" and not cpu_has_native_bfloat16():
                run.log(
                    "  this processor has no native bfloat16 products (AVX512-BF16 or AMX): "
                    "bfloat16 is likely slower than float32 here"
                )
            train(run, config)
    except TrainingError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        resumable = isinstance(config, GradientConfig)
        print(f"interrupted{'; resume with --resume' if resumable else ''}", file=sys.stderr)
        return 130
    return 0


def load_split(spec: str, image_size: int = 32, channels: int = 3) -> tuple[Split, list[str]]:
    """The train/validation/test split named by ``--data``, and what loading it noticed (files
    skipped and why, images converted), one line each.

    ``digits`` and ``fashion`` have their fixed splits; MNIST's test files are its test split
    and the last 10% of its training files validate; a folder is split 80/10/10 in a fixed
    shuffled order (:func:`_split_folder`).
    """
    kind, _, path = spec.partition(":")
    try:
        if kind == "digits" and not path:
            return load_digits_split(), []
        if kind == "synthfaces" and not path:
            return synthfaces_split(size=_faces_size(image_size)), []
        if kind == "fashion" and not path:
            return load_fashion_split(), []
        if kind == "mnist" and path:
            train, test = load_mnist(path, "train"), load_mnist(path, "test")
            cut = len(train) * 9 // 10
            split = Split(
                "mnist", train.subset(slice(0, cut)), train.subset(slice(cut, None)), test
            )
            return split, []
        if kind == "folder" and path:
            return _split_folder(path, image_size, channels)
    except DataError as exc:
        raise TrainingError(str(exc)) from None
    raise TrainingError(
        f"unknown --data {spec!r} (use digits, fashion, synthfaces, mnist:PATH or folder:PATH)"
    )


def _faces_size(image_size: int) -> int:
    if not MIN_SIZE <= image_size <= MAX_SIZE:
        raise DataError(
            f"synthetic faces are drawn at {MIN_SIZE} to {MAX_SIZE} pixels, not {image_size} "
            "(--image-size)"
        )
    return image_size


def _split_folder(path: str, image_size: int, channels: int) -> tuple[Split, list[str]]:
    """A folder's images as ``channels`` x ``image_size`` x ``image_size`` with 256 levels (labelled
    by their class subfolders if they have them), split 80/10/10 in a fixed shuffled order; and
    the loader's notices."""
    data = load_image_folder(path, (channels, image_size, image_size), 256)
    if len(data.label_names) > MAX_ATTRIBUTES:
        raise DataError(
            f"{Path(path).name}: {len(data.label_names)} class subfolders, more than the "
            f"{MAX_ATTRIBUTES} labels a model file holds"
        )
    order = np.random.default_rng(0).permutation(len(data))
    n_val = n_test = max(1, len(data) // 10)
    if len(data) < 3 * n_test:
        raise DataError(f"{path}: too few images to split ({len(data)})")
    split = Split(
        Path(path).name,
        data.subset(order[n_val + n_test :]),
        data.subset(order[:n_val]),
        data.subset(order[n_val : n_val + n_test]),
    )
    return split, data.notices


def load_data(config: TrainConfig) -> Split:
    """The split of ``--data``; with ``--preset smoke``, small slices of it. A summary of it and
    what loading it noticed are logged, one line each."""
    if config.preset == "smoke" and config.data == "synthfaces":  # draw only what is used
        try:
            size = _faces_size(config.image_size)
        except DataError as exc:
            raise TrainingError(str(exc)) from None
        split, notices = synthfaces_split(256, 64, 64, size=size), []
    else:
        split, notices = load_split(config.data, config.image_size, config.channels)
    if config.preset == "smoke":
        split.train = split.train.subset(slice(0, 256))
        split.validation = split.validation.subset(slice(0, 64))
        split.test = split.test.subset(slice(0, 64))
    if _rank() == 0:
        for line in [*describe_split(split), *(f"  {'notice':<13}{n}" for n in notices)]:
            _write(line)
    return split


def describe_split(split: Split, most_names: int = 20) -> list[str]:
    """Lines for the log: the images used, their split, shape and levels; the labels with how
    many images each has (the first ``most_names``); the attribute names."""
    parts = (split.train, split.validation, split.test)
    c, h, w = split.train.image_shape
    lines = [
        f"  {'images':<13}{split.name}: {sum(map(len, parts))} (train {len(split.train)}, "
        f"validation {len(split.validation)}, test {len(split.test)}), {c}x{h}x{w}, "
        f"{split.train.levels} levels"
    ]
    labels = [part.labels for part in parts if part.labels is not None]
    names = split.train.label_names
    if labels:
        counts = np.bincount(np.concatenate(labels), minlength=len(names))
        shown = [f"{names[k] if k < len(names) else k} ({n})" for k, n in enumerate(counts)]
        more = f", and {len(shown) - most_names} more" if len(shown) > most_names else ""
        lines.append(f"  {'labels':<13}{len(shown)}: {', '.join(shown[:most_names])}{more}")
    else:
        lines.append(f"  {'labels':<13}none")
    if split.train.attribute_names:
        lines.append(f"  {'attributes':<13}{', '.join(split.train.attribute_names)}")
    return lines


def model_config(config: TrainConfig, model_class: type, data: ImageDataset) -> Any:
    """The model's config: its options from ``config``, its image shape and levels from
    ``data``, checked and bounded exactly as a model file's config is."""
    c, h, w = data.image_shape
    image = {"channels": c, "height": h, "width": w, "levels": data.levels}
    assert set(image) == IMAGE_FIELDS
    try:
        return config_from_dict(model_class, {**config.model, **image})
    except ConfigError as exc:
        raise TrainingError(f"invalid model options: {exc}") from None


def as_float_tensor(data: ImageDataset) -> torch.Tensor:
    return torch.from_numpy(data.as_float())


def batched(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    desc: str | None = None,
    batch: int = 256,
) -> torch.Tensor:
    """``fn`` applied to ``x`` batch by batch, concatenated; with a progress bar titled ``desc``
    if given (validation goes without: it runs under the training loop's bar)."""
    parts = []
    with progress_bar(len(x), desc) if desc else tqdm(disable=True) as bar:
        for part in x.split(batch):
            parts.append(fn(part))
            bar.update(len(part))
    return torch.cat(parts)


@torch.no_grad()
def nll_per_image(
    model: GenerativeModel, x: torch.Tensor, desc: str | None = None, batch: int = 256
) -> torch.Tensor:
    """Negative log-likelihood (``model.log_prob``) of each of images ``x`` in nats, float64;
    computed in batches, with a progress bar if ``desc`` is given."""
    return -batched(model.log_prob, x, desc, batch).double()


def mean_nll(
    model: GenerativeModel, x: torch.Tensor, desc: str | None = None, batch: int = 256
) -> float:
    """Mean negative log-likelihood of images ``x``, nats per image, averaged in float64."""
    return nll_per_image(model, x, desc, batch).mean().item()


def evaluate_bits_per_dim(
    run: Run, model: GenerativeModel, images: torch.Tensor, batch: int = 256
) -> float:
    """The mean bits/dim of test ``images`` (a progress bar meanwhile, batches of ``batch``),
    after logging how the images' bits/dim spread: the mean is the published metric, but one
    image far outside what the model learned can move it (a Glow's 4.285 test bits/dim had a
    median of 3.561: one of its 10,000 test images scored 7,190)."""
    nats = nll_per_image(model, images, "test bits/dim", batch)
    bits = nats * bits_per_dim(1.0, model.image_shape)
    median, p99 = torch.quantile(bits, bits.new_tensor([0.5, 0.99])).tolist()
    worst = int(bits.argmax())
    run.log(
        f"test bits/dim per image: median {median:.3f}, 99th percentile {p99:.3f}, "
        f"worst {bits[worst].item():.3f} (test image {worst})"
    )
    return bits.mean().item()


@torch.no_grad()
def reference_set(
    model: GenerativeModel, data: ImageDataset, limit: int = 2000, batch: int = 256
) -> Reference:
    """Encoded latents, 8-bit thumbnails, labels and attribute values of (up to ``limit`` of)
    ``data``, encoded in batches with a progress bar."""
    data = data.subset(slice(0, limit))
    images = as_float_tensor(data)
    labels = None if data.labels is None else torch.from_numpy(data.labels).long()
    thumbnails = (images * 255).round().to(torch.uint8)
    attributes = {name: torch.from_numpy(values) for name, values in data.attributes.items()}
    latents = batched(model.encode, images, "reference set", batch).float()
    return Reference(latents, thumbnails, labels, attributes)


@torch.no_grad()
def round_to_stored_precision(config: TrainConfig, model: nn.Module) -> None:
    """With ``--half-precision``, round the float32 weights to what the file will hold, so
    that the test metric measures the model the file gives back."""
    if config.half_precision:
        for value in model.state_dict().values():
            if value.dtype == torch.float32:
                value.copy_(value.half().float())


def finish(
    run: Run,
    config: TrainConfig,
    model: GenerativeModel,
    trained: LoopState,
    split: Split,
    test_metric: tuple[str, float],
    reference: Reference | None = None,
    attributes: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write the model file (rank 0 only) with its metadata, resolved config, test metric and
    reference set; ``trained`` says how long training went."""
    if not run.main:
        return
    model = model.cpu()
    meta = build_metadata(
        model,
        dataset={
            "name": split.name,
            "size": sum(len(d) for d in (split.train, split.validation, split.test)),
            "label_names": split.train.label_names,
            "attribute_names": split.train.attribute_names,
        },
        training={
            "command": config.command,
            "config": config.to_dict(),
            "epochs": trained.epoch,
            "steps": trained.step,
            "seconds": round(trained.seconds, 1),
            "device": str(run.device),
            "precision": run.precision,
            "world_size": run.world_size,
            "test_metric": {"name": test_metric[0], "value": round(test_metric[1], 4)},
            **({"stopped": trained.stopped} if trained.stopped else {}),
        },
    )
    save_model(
        config.out,
        model,
        meta,
        attributes=attributes,
        reference=reference,
        half_precision=config.half_precision,
    )
    run.log(f"{test_metric[0]}: {test_metric[1]:.3f}")
    run.log(f"wrote {config.out}")
