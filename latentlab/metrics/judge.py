"""The judge: a small CNN trained on real images only, never on a model's samples, either to
classify them (Fashion-MNIST's 10 classes of 28x28 grey images) or to predict values of each
(the nine attributes of a synthetic face).

Its penultimate layer (128 ReLU units) gives the features of the Frechet distance and of
precision and recall; a classifier's softmax gives the class probabilities of the
inception-style score (latentlab.metrics.scores). Two stages of 3x3 convolution, ReLU and 2x2
max-pooling (16 and 32 channels), a hidden layer, a linear head; cross-entropy for classes, the
squared error of standardised values otherwise; Adam with a one-cycle learning rate. Five
epochs on Fashion-MNIST's 55,000 training images reach about 90% test accuracy in about a
minute on two CPU cores.

Trained weights can be kept as a safetensors file. Such a file is untrusted: it is read with a
size limit, its metadata must name the training run expected (:func:`training_key`), and every
tensor's name, shape, dtype and values are checked before use.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
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
    "cached_judge",
    "judge_outputs",
    "load_judge",
    "save_judge",
    "train_judge",
    "training_key",
]

IMAGE_SHAPE = (1, 28, 28)  # Fashion-MNIST's, the default
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
    """Images ``N, *image_shape`` in [0, 1] -> ``N, outputs``: class logits when ``classes``,
    standardised values otherwise (features: ``N, 128``). Height and width are multiples of 4.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int] = IMAGE_SHAPE,
        outputs: int = CLASSES,
        classes: bool = True,
    ) -> None:
        super().__init__()
        channels, height, width = image_shape
        if height % 4 or width % 4:
            raise ValueError(
                f"the judge needs a height and width divisible by 4, not {image_shape}"
            )
        self.image_shape, self.classes = tuple(image_shape), classes
        self.convs = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.hidden = nn.Linear(32 * (height // 4) * (width // 4), FEATURES)
        self.head = nn.Linear(FEATURES, outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer's activations, ``N, FEATURES``."""
        return F.relu(self.hidden(self.convs(x * 2 - 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _new_judge(seed: int, image_shape: tuple[int, int, int], outputs: int, classes: bool) -> Judge:
    """A freshly initialised judge, seeded, leaving torch's global random state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Judge(image_shape, outputs, classes)


def _images(images: np.ndarray, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """Float images ``N,C,H,W``, of ``shape`` if given."""
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    if x.ndim != 4 or (shape is not None and tuple(x.shape[1:]) != shape):
        want = "x".join(map(str, shape)) if shape else "C,H,W"
        raise ValueError(f"expected images N,{want}; got shape {tuple(x.shape)}")
    return x


def _targets(targets: np.ndarray, n: int) -> tuple[torch.Tensor, int, bool]:
    """(targets as a tensor, the judge's outputs, whether they are classes): integer labels
    ``n`` (0..9, as Fashion-MNIST's), or float values ``n, K`` standardised per column."""
    array = np.asarray(targets)
    if array.ndim == 1 and np.issubdtype(array.dtype, np.integer):
        y = torch.as_tensor(array, dtype=torch.long)
        if y.shape != (n,) or bool(((y < 0) | (y >= CLASSES)).any()):
            raise ValueError(f"expected {n} labels in 0..{CLASSES - 1}")
        return y, CLASSES, True
    if array.ndim != 2 or len(array) != n or not np.isfinite(array).all():
        raise ValueError(f"expected {n} labels or {n} rows of finite values")
    values = torch.as_tensor(array, dtype=torch.float32)
    return (values - values.mean(0)) / values.std(0).clamp_min(1e-6), array.shape[1], False


def train_judge(
    images: np.ndarray,
    labels: np.ndarray,
    epochs: int,
    seed: int,
    batch_size: int = 128,
    learning_rate: float = 2e-3,
) -> Judge:
    """Train a judge on real ``images`` (float ``N,C,H,W`` in [0, 1]) and their ``labels``
    (classes ``N``, or values ``N, K``); the same seed and data give the same judge on the same
    machine."""
    x = _images(images)
    y, outputs, classes = _targets(labels, len(x))
    if epochs < 1 or len(x) == 0:
        raise ValueError("training needs at least one epoch and one image")
    judge = _new_judge(seed, (x.shape[1], x.shape[2], x.shape[3]), outputs, classes).train()
    loss_of = F.cross_entropy if classes else F.mse_loss
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(judge.parameters(), lr=learning_rate)
    steps = epochs * math.ceil(len(x) / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, learning_rate, total_steps=steps)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            loss = loss_of(judge(x[batch]), y[batch])
            optimizer.zero_grad()
            torch.autograd.backward(loss)  # loss.backward(), which mypy sees untyped
            optimizer.step()
            schedule.step()
    return judge.eval()


@torch.inference_mode()
def judge_outputs(
    judge: Judge, images: np.ndarray, batch_size: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """(features ``N, FEATURES``, outputs ``N, K``), both float64: a classifier's outputs are
    class probabilities, others' the predicted values (standardised as in training)."""
    x = _images(images, judge.image_shape)
    features, outputs = [], []
    for start in range(0, len(x), batch_size):
        f = judge.features(x[start : start + batch_size])
        features.append(f.double())
        head = judge.head(f).double()
        outputs.append(torch.softmax(head, dim=1) if judge.classes else head)
    if not features:
        return np.zeros((0, FEATURES)), np.zeros((0, judge.head.out_features))
    return torch.cat(features).numpy(), torch.cat(outputs).numpy()


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


def load_judge(
    path: str | os.PathLike[str],
    key: str,
    image_shape: tuple[int, int, int] = IMAGE_SHAPE,
    outputs: int = CLASSES,
    classes: bool = True,
) -> Judge:
    """A judge of this kind saved by :func:`save_judge` with the same ``key``;
    :class:`JudgeFileError` if the file is missing, unreadable, another run's or not a judge's.
    """
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
        judge = _new_judge(0, image_shape, outputs, classes)
        _check_tensors(tensors, judge.state_dict())
    except (ReadError, ValueError) as exc:
        raise JudgeFileError(f"{path.name}: {exc}") from None
    judge.load_state_dict(tensors)
    return judge.eval()


def cache_folder() -> Path:
    """Where trained judges are kept: $XDG_CACHE_HOME/latentlab (~/.cache/latentlab)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "latentlab"


def cached_judge(
    images: np.ndarray, labels: np.ndarray, epochs: int, seed: int, use_cache: bool = True
) -> tuple[Judge, str]:
    """The judge :func:`train_judge` gives for this data, read from the cache folder if it was
    kept there, else trained (and kept, with ``use_cache``); and how it was got, in words."""
    key = training_key(images, labels, epochs, seed)
    path = cache_folder() / f"judge-{key}.safetensors"
    _, outputs, classes = _targets(labels, len(images))
    channels, height, width = np.shape(images)[1:]
    unused = ""
    if use_cache and path.exists():
        try:
            judge = load_judge(path, key, (channels, height, width), outputs, classes)
            return judge, f"read from {path}"
        except JudgeFileError as exc:
            unused = f"the cached judge not used ({exc}); "
    start = time.perf_counter()
    judge = train_judge(images, labels, epochs, seed)
    how = unused + (
        f"trained {epochs} epoch(s) on {len(images):,} training images in "
        f"{time.perf_counter() - start:.0f} s"
    )
    if use_cache:
        try:
            save_judge(path, judge, key)
            how += f", saved to {path}"
        except OSError as exc:
            how += f", not saved ({exc})"
    return judge, how
