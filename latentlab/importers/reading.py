"""Reading a checkpoint written by another program: a flat state dict of tensors, never code.

A PyTorch file is read by ``torch.load(..., weights_only=True)``, whose unpickler builds
tensors and plain containers only and refuses any other class; a safetensors file holds
nothing but tensors. Either way the result must be a state dict (names to tensors), possibly
under a ``state_dict`` or ``model`` entry of a larger checkpoint, within LatentLab's size
limits, of real and finite numbers.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from latentlab.fileio import ReadError, read_bounded
from latentlab.modelfile import MAX_FILE_BYTES, MAX_PARAMETERS, ModelFileError
from latentlab.untrusted import short_repr, shorten

__all__ = [
    "MAX_TENSORS",
    "describe_tensors",
    "is_torch_checkpoint",
    "read_file",
    "read_tensors",
    "refuse",
]

MAX_TENSORS = 4096
# where training scripts commonly put the state dict inside a larger checkpoint
_NESTED_KEYS = ("state_dict", "model")
_INTEGERS = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
# torch.load's words for a pickle that holds a class its weights-only unpickler refuses
_UNSAFE_GLOBAL = re.compile(r"GLOBAL (\S+) was not an allowed global|whose module (\S+) is blocked")


def refuse(path: Path, why: str) -> ModelFileError:
    """The one error for a checkpoint that cannot be imported: one line, the file's name first."""
    return ModelFileError(f"{path.name}: {shorten(' '.join(why.split()), 300)}")


def read_file(path: Path) -> bytes:
    """The file's bytes: a regular file of at most MAX_FILE_BYTES."""
    try:
        return read_bounded(path, MAX_FILE_BYTES, "a checkpoint")
    except ReadError as exc:
        raise refuse(path, str(exc)) from None


def is_torch_checkpoint(data: bytes) -> bool:
    """Whether ``data`` begins as ``torch.save`` writes: a zip archive, or (the format before
    PyTorch 1.6) a pickle. A safetensors header length can begin with a pickle's two bytes, but
    its JSON header starts at byte 8."""
    if data[:4] == b"PK\x03\x04":
        return True
    return (
        data[:1] == b"\x80"
        and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
        and (data[8:9] != b"{")
    )


def read_tensors(path: Path, data: bytes) -> dict[str, torch.Tensor]:
    """The state dict in the bytes ``data`` of the file ``path``: names (without a ``module.``
    prefix that all share, as ``DataParallel`` saves them) to float32 or integer tensors."""
    if not data:
        raise refuse(path, "the file is empty")
    if is_torch_checkpoint(data):
        content = _torch_load(path, data)
    else:
        try:
            content = safetensors.torch.load(data)
        except Exception:  # whatever malformed bytes make the parser raise
            raise refuse(
                path,
                "neither a PyTorch checkpoint (torch.save) nor a safetensors file",
            ) from None
    tensors = _state_dict(path, content)
    if all(name.startswith("module.") for name in tensors):
        tensors = {name.removeprefix("module."): t for name, t in tensors.items()}
    return tensors


def _torch_load(path: Path, data: bytes) -> Any:
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # whatever an untrusted file makes torch.load raise
        unsafe = _UNSAFE_GLOBAL.search(str(exc))
        if unsafe:
            what = shorten(unsafe.group(1) or unsafe.group(2), 80)
            raise refuse(
                path,
                f"it holds pickled Python objects ({what}), not only tensors; a whole pickled "
                "module cannot be opened safely: save its state_dict with "
                "torch.save(model.state_dict(), PATH) and import that",
            ) from None
        raise refuse(
            path, "the file is truncated or corrupt: it cannot be read as a PyTorch checkpoint"
        ) from None


def _state_dict(path: Path, content: Any) -> dict[str, torch.Tensor]:
    if isinstance(content, Mapping) and not _is_state_dict(content):
        nested = [content[k] for k in _NESTED_KEYS if isinstance(content.get(k), Mapping)]
        content = nested[0] if nested else content
    if not isinstance(content, Mapping):
        raise refuse(path, f"it holds a {type(content).__name__}, not a state dict (named tensors)")
    if not _is_state_dict(content):
        entries = ", ".join(short_repr(k, 30) for k in list(content)[:5])
        raise refuse(path, f"not a state dict of tensors; its entries are {entries or 'none'}")
    if not content:
        raise refuse(path, "the state dict holds no tensors")
    if len(content) > MAX_TENSORS:
        raise refuse(path, f"more than {MAX_TENSORS} tensors")
    if sum(t.numel() for t in content.values()) > MAX_PARAMETERS:
        raise refuse(path, f"more than {MAX_PARAMETERS:,} numbers")
    tensors: dict[str, torch.Tensor] = {}
    for name, tensor in content.items():
        quoted = short_repr(name, 60)
        if tensor.layout != torch.strided or not (
            tensor.is_floating_point() or _is_integer(tensor)
        ):
            raise refuse(
                path,
                f"tensor {quoted} is not a dense tensor of real numbers "
                f"({tensor.dtype}, {tensor.layout})",
            )
        if tensor.is_floating_point():
            tensor = tensor.detach().float()
            if not torch.isfinite(tensor).all():
                raise refuse(path, f"tensor {quoted} contains NaN or infinite values")
        tensors[name] = tensor
    return tensors


def _is_state_dict(content: Mapping[Any, Any]) -> bool:
    return all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in content.items())


def _is_integer(tensor: torch.Tensor) -> bool:
    return tensor.dtype in _INTEGERS


def describe_tensors(tensors: Mapping[str, torch.Tensor], count: int = 4) -> str:
    """The first few tensors' names and shapes, e.g. ``fc1.weight [400, 784], ... (10
    tensors)``."""
    shown = [f"{shorten(n, 60)} {list(t.shape)}" for n, t in list(tensors.items())[:count]]
    more = ", ..." if len(tensors) > count else ""
    return f"{', '.join(shown)}{more} ({len(tensors)} tensors)"
