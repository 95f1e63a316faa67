"""The judge: a small CNN classifier of 10 classes of 28x28 grey images (Fashion-MNIST's),
trained on real images only, never on a model's samples.

Its penultimate layer (128 ReLU units) gives the features of the Frechet distance, its softmax
the class probabilities of the inception-style score (latentlab.metrics.scores). Two stages of
3x3 convolution, ReLU and 2x2 max-pooling (16 and 32 channels), a hidden layer, a linear head;
Adam with a one-cycle learning rate. Five epochs on Fashion-MNIST's 55,000 training images
reach about 90% test accuracy in about a minute on two CPU cores.

Trained weights can be kept as a safetensors file. Such a file is untrusted: it is read with a
size limit, its metadata must name the training run expected (:func:`training_key`), and every
tensor's name, shape, dtype and values are checked before use.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
import torch.nn.functional as F
from torch import nn

from latentlab.fileio import ReadError, atomic_write_bytes, read_bounded

__all__ = [
    "CLASSES",
    "FEATURES",
    "IMAGE_SHAPE",
    "Judge",
    "JudgeFileError",
    "judge_outputs",
    "load_judge",
    "save_judge",
    "train_judge",
    "training_key",
]

IMAGE_SHAPE = (1, 28, 28)
CLASSES = 10
FEATURES = 128
# Part of every training key: change it when the architecture or the training changes, so
# that saved judges of the old kind no longer match.
JUDGE_VERSION = 1
METADATA_KEY = "latentlab.judge"
MAX_FILE_BYTES = 16 * 2**20  # a judge's weights take under 1 MiB


class JudgeFileError(Exception):
    """A saved judge cannot be used; the message says why in one line."""


class Judge(nn.Module):
    """Images ``N,1,28,28`` in [0, 1] -> class logits ``N, 10`` (features: ``N, 128``)."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.hidden = nn.Linear(32 * 7 * 7, FEATURES)
        self.head = nn.Linear(FEATURES, CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer's activations, ``N, FEATURES``."""
        return F.relu(self.hidden(self.convs(x * 2 - 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _new_judge(seed: int) -> Judge:
    """A freshly initialised judge, seeded, leaving torch's global random state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Judge()


def _images(images: np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    if x.ndim != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"expected images N,1,28,28; got shape {tuple(x.shape)}")
    return x


def _labels(labels: np.ndarray, n: int) -> torch.Tensor:
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if y.shape != (n,) or bool(((y < 0) | (y >= CLASSES)).any()):
        raise ValueError(f"expected {n} labels in 0..{CLASSES - 1}")
    return y


def train_judge(
    images: np.ndarray,
    labels: np.ndarray,
    epochs: int,
    seed: int,
    batch_size: int = 128,
    learning_rate: float = 2e-3,
) -> Judge:
    """Train a judge on real ``images`` (float ``N,1,28,28`` in [0, 1]) and their ``labels``;
    the same seed and data give the same judge on the same machine."""
    x = _images(images)
    y = _labels(labels, len(x))
    if epochs < 1 or len(x) == 0:
        raise ValueError("training needs at least one epoch and one image")
    judge = _new_judge(seed).train()
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(judge.parameters(), lr=learning_rate)
    steps = epochs * math.ceil(len(x) / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, learning_rate, total_steps=steps)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            loss = F.cross_entropy(judge(x[batch]), y[batch])
            optimizer.zero_grad()
            torch.autograd.backward(loss)  # loss.backward(), which mypy sees untyped
            optimizer.step()
            schedule.step()
    return judge.eval()


@torch.inference_mode()
def judge_outputs(
    judge: Judge, images: np.ndarray, batch_size: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """(features ``N, FEATURES``, class probabilities ``N, CLASSES``), both float64."""
    x = _images(images)
    features, probabilities = [], []
    for start in range(0, len(x), batch_size):
        f = judge.features(x[start : start + batch_size])
        features.append(f.double())
        probabilities.append(torch.softmax(judge.head(f).double(), dim=1))
    if not features:
        return np.zeros((0, FEATURES)), np.zeros((0, CLASSES))
    return torch.cat(features).numpy(), torch.cat(probabilities).numpy()


def training_key(images: np.ndarray, labels: np.ndarray, epochs: int, seed: int) -> str:
    """A short hex digest naming a training run: the data, the epochs, the seed and the
    judge's version. A saved judge is used only for the key it was saved with."""
    digest = hashlib.sha256(f"judge {JUDGE_VERSION} epochs {epochs} seed {seed}".encode())
    for array in (np.asarray(images), np.asarray(labels)):
        digest.update(f"{array.dtype.str} {array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def save_judge(path: str | os.PathLike[str], judge: Judge, key: str) -> None:
    """Write ``judge``'s weights to a safetensors file, atomically, labelled with ``key``."""
    path = Path(path)
    tensors = {k: v.detach().contiguous() for k, v in judge.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, safetensors.torch.save(tensors, metadata={METADATA_KEY: key}))


def _stored_key(data: bytes) -> object:
    """The value of :data:`METADATA_KEY` in a safetensors header, or None."""
    size = int.from_bytes(data[:8], "little")
    if len(data) < 8 or 8 + size > len(data):
        raise ValueError("not a safetensors file")
    try:
        header = json.loads(data[8 : 8 + size])
    except (ValueError, RecursionError):
        raise ValueError("not a safetensors file (its header is not JSON)") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None


def _check_tensors(tensors: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    if set(tensors) != set(expected):
        raise ValueError("its tensors are not a judge's")
    for name, want in expected.items():
        got = tensors[name]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise ValueError(
                f"tensor {name!r} is {got.dtype} {list(got.shape)}, expected "
                f"{want.dtype} {list(want.shape)}"
            )
        if not torch.isfinite(got).all():
            raise ValueError(f"tensor {name!r} has NaN or infinite values")


def load_judge(path: str | os.PathLike[str], key: str) -> Judge:
    """A judge saved by :func:`save_judge` with the same ``key``; :class:`JudgeFileError` if
    the file is missing, unreadable, another run's or not a judge's."""
    path = Path(path)
    try:
        data = read_bounded(path, MAX_FILE_BYTES, "a judge file")
        stored = _stored_key(data)
        if stored is None:
            raise ValueError("it is not a saved judge (its metadata names no training run)")
        if stored != key:
            raise ValueError("it holds a judge of another training run")
        try:
            tensors = safetensors.torch.load(data)
        except Exception as exc:  # the library's errors on malformed data vary
            raise ValueError(f"its tensors cannot be read ({exc})") from None
        judge = _new_judge(0)
        _check_tensors(tensors, judge.state_dict())
    except (ReadError, ValueError) as exc:
        raise JudgeFileError(f"{path.name}: {exc}") from None
    judge.load_state_dict(tensors)
    return judge.eval()
