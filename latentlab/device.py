"""Which device runs the models: ``--device auto|cpu|cuda|cuda:N|mps``.

The command line checks the spelling of a choice with :func:`device_choice`, which needs no
torch (``latentlab --help`` and usage errors answer at once); the choice is resolved to a
``torch.device`` by :func:`resolve_device` only where a model is loaded.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from latentlab.errors import UserError, one_line

if TYPE_CHECKING:
    import torch

__all__ = [
    "CPU_FAMILIES",
    "DEVICE_CHOICES",
    "DeviceError",
    "device_choice",
    "device_for",
    "device_label",
    "place_model",
    "resolve_device",
    "use_cpu_threads",
]

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_PATTERN = re.compile(r"auto|cpu|mps|cuda(:[0-9]{1,3})?")


class DeviceError(UserError):
    """A device was asked for that this machine does not have; the message says what is
    missing."""


def device_choice(text: str) -> str:
    """``text`` lower-cased if it names a device choice; ``ValueError`` otherwise. No torch."""
    name = text.strip().lower()
    if not _PATTERN.fullmatch(name):
        raise ValueError(f"{text!r} is not one of {', '.join(DEVICE_CHOICES)}")
    return name


def resolve_device(name: str) -> torch.device:
    """The device ``name`` (a :func:`device_choice`) stands for on this machine. ``auto`` is
    CUDA if there is a CUDA device, else Apple's MPS if available, else the CPU; an explicit
    device that is not available raises :class:`DeviceError`."""
    import torch

    name = device_choice(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = _built_without("CUDA", torch.version.cuda is not None)
            raise DeviceError(f"--device {name}: this machine has no CUDA device{why}")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceError(
                f"--device {name}: this machine's CUDA devices are cuda:0 to cuda:{count - 1}"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        why = _built_without("MPS", torch.backends.mps.is_built())
        raise DeviceError(f"--device mps: this machine has no Apple MPS device{why}")
    return device


# The families that ``auto`` keeps on the CPU, and why: PixelRNN samples one pixel at a time, a
# few small GPU kernels each, and sampled at 0.45 of the images/s of the 16-core processor
# beside an NVIDIA H200 (at half of a 2-core one's: benchmarks/devices.py)
CPU_FAMILIES = {"pixelrnn": "PixelRNN runs on the CPU, where it samples faster"}


def device_for(device: torch.device, name: str, family: str) -> tuple[torch.device, str]:
    """Where a model of ``family`` runs when the choice ``name`` (a :func:`device_choice`)
    resolved to ``device``, and a notice ("" for none). ``auto`` keeps the
    :data:`CPU_FAMILIES` on the CPU, with a notice saying why where it would otherwise have
    taken a GPU; an explicit device is obeyed."""
    import torch

    why = CPU_FAMILIES.get(family)
    if why and device.type != "cpu" and device_choice(name) == "auto":
        return torch.device("cpu"), f"{why} (--device {device.type} for the GPU)"
    return device, ""


def _built_without(backend: str, built: bool) -> str:
    """Why there is no such device when this torch was built without ``backend`` ("" when it
    was built with it)."""
    import torch

    return "" if built else f" (torch {torch.__version__} was built without {backend})"


def device_label(device: torch.device) -> str:
    """The device in words: "CPU", "CUDA: <the GPU's name>" or "Apple MPS"."""
    import torch

    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple MPS"
    return device.type.upper()


def place_model(model: torch.nn.Module, device: torch.device) -> tuple[torch.device, str]:
    """Move ``model`` to ``device``; where that fails (out of memory, a driver error), keep it
    on the CPU. Returns the device it is on, and a notice saying why that is not ``device``
    ("" when it is)."""
    import torch

    try:
        model.to(device)
    except Exception as exc:
        cpu = torch.device("cpu")
        model.to(cpu)  # what had moved before the failure comes back
        return cpu, f"Moving the model to {device} failed ({one_line(exc)}); it runs on the CPU"
    return device, ""


def use_cpu_threads(threads: int) -> None:
    """Run torch's CPU operations and the BLAS libraries' (NumPy's: EM multiplies through it,
    on more threads only its long products; SciPy's, which EM's triangular products and
    scikit-learn load when first used) on ``threads`` threads each, for the rest of the
    process: torch's setting is process-wide, the libraries loaded by now are limited at once,
    and OpenBLAS reads ``OPENBLAS_NUM_THREADS`` when it loads later."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
