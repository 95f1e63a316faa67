"""Reading and writing LatentLab model files: the only code that touches them.

A model file is one ``.safetensors`` file: tensors plus one JSON document stored in the
safetensors metadata under the key ``latentlab`` (docs/architecture.md, "Model files"). Files
are untrusted: the header, the metadata and every tensor's name, dtype, shape, offsets and values
are checked before any model is built, and every failure raises one :class:`ModelFileError` with
a message a user can act on. Nothing is ever unpickled. Writes are atomic.
"""

from __future__ import annotations

import datetime
import itertools
import json
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

import latentlab
from latentlab.errors import ModelFileError
from latentlab.fileio import ReadError, atomic_write_bytes, read_bounded
from latentlab.models import FAMILIES, GenerativeModel, registered_families
from latentlab.models.base import ConfigError, config_from_dict, config_to_dict
from latentlab.untrusted import is_finite_number, short_repr, shorten

__all__ = [
    "FORMAT_VERSION",
    "LoadedModel",
    "ModelFileError",
    "Reference",
    "load_model",
    "read_metadata",
    "save_model",
]

FORMAT_VERSION = 1
METADATA_KEY = "latentlab"
MAX_FILE_BYTES = 256 * 2**20
MAX_HEADER_BYTES = 4 * 2**20
# float32 numbers in the largest file read: the default glow-pytorch (rosinality) Glow has 63 M
MAX_PARAMETERS = MAX_FILE_BYTES // 4
MAX_REFERENCE = 20_000
MAX_ATTRIBUTES = 256
MAX_TRAINING_OPTIONS = 256  # training.config: option names to plain values
_REFERENCE_ATTRIBUTE = "reference.attribute."  # + name: one value per reference item

_DTYPES = {
    "F16": torch.float16,
    "F32": torch.float32,
    "F64": torch.float64,
    "I64": torch.int64,
    "U8": torch.uint8,
}
_DTYPE_NAMES = {v: k for k, v in _DTYPES.items()}
_ITEM_BYTES = {"F16": 2, "F32": 4, "F64": 8, "I64": 8, "U8": 1}


@dataclass
class Reference:
    """A reference set for the map: latents, uint8 thumbnails, optional integer labels and
    optional attribute values (name -> N float32, e.g. each face's ``smiling``)."""

    latents: torch.Tensor  # N, latent_dim float32
    images: torch.Tensor  # N, C, H, W uint8
    labels: torch.Tensor | None = None  # N int64
    attributes: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class LoadedModel:
    model: GenerativeModel
    meta: dict[str, Any]
    path: Path | None = None
    attributes: dict[str, torch.Tensor] = field(default_factory=dict)
    reference: Reference | None = None

    @property
    def name(self) -> str:
        return self.path.stem if self.path else self.meta["family"]


# ----------------------------------------------------------------------------------------------
# Reading


def _fail(path: Path, why: str) -> ModelFileError:
    """The one error for a bad file: one line, the file's name first, of bounded length."""
    why = shorten(" ".join(why.splitlines()), 300)
    return ModelFileError(f"{path.name}: {why}")


def _json_loads(text: str | bytes) -> Any:
    """``json.loads`` that raises only ``ValueError`` on bad input (also for documents nested
    too deeply or integers with too many digits, which raise other errors)."""
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError) as exc:
        raise ValueError(str(exc)) from None


def _read_header(path: Path, data: bytes) -> tuple[dict[str, Any], int]:
    """Parse and check the safetensors header; returns (header, offset of the tensor data)."""
    if len(data) == 0:
        raise _fail(path, "the file is empty")
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        raise _fail(
            path,
            "this is a zip archive (a PyTorch .pt checkpoint?), not a LatentLab "
            "model file; LatentLab reads only .safetensors model files",
        )
    header_len = struct.unpack("<Q", data[:8])[0] if len(data) >= 8 else None
    # A safetensors header length can begin with the bytes of a pickle's magic (0x80, protocol),
    # e.g. a 384-byte header; call it a pickle only if it does not look like safetensors.
    plausible = (
        header_len is not None
        and header_len <= MAX_HEADER_BYTES
        and 8 + header_len <= len(data)
        and data[8:9] == b"{"
    )
    if not plausible and data[:1] == b"\x80" and len(data) > 1 and data[1] <= 5:
        raise _fail(
            path,
            "this is a Python pickle; LatentLab never unpickles files "
            "(save the model with LatentLab's training scripts)",
        )
    if header_len is None:
        raise _fail(path, "the file is truncated (shorter than a safetensors header)")
    if header_len > MAX_HEADER_BYTES:
        raise _fail(path, "not a safetensors model file (its header length is implausible)")
    if 8 + header_len > len(data):
        raise _fail(path, "the file is truncated (its header runs past the end)")
    try:
        header = _json_loads(data[8 : 8 + header_len].decode("utf-8"))
    except ValueError:  # UnicodeDecodeError is a ValueError too
        raise _fail(path, "not a safetensors model file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise _fail(path, "not a safetensors model file (its header is not a JSON object)")
    return header, 8 + header_len


def _check_tensor_entries(path: Path, header: dict[str, Any], body_len: int) -> dict[str, Any]:
    """Check each tensor entry's dtype, shape and offsets; returns name -> (dtype, shape)."""
    entries = {}
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _fail(path, f"tensor {name!r} has a malformed header entry")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in _DTYPES:
            raise _fail(path, f"tensor {name!r} has unsupported dtype {dtype!r}")
        if not (isinstance(shape, list) and all(type(s) is int and 0 <= s < 2**31 for s in shape)):
            raise _fail(path, f"tensor {name!r} has an invalid shape")
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(type(o) is int for o in offsets)
            and 0 <= offsets[0] <= offsets[1]
        ):
            raise _fail(path, f"tensor {name!r} has invalid data offsets")
        if offsets[1] > body_len:
            raise _fail(path, f"the file is truncated (tensor {name!r} runs past the end)")
        if offsets[1] - offsets[0] != math.prod(shape) * _ITEM_BYTES[dtype]:
            raise _fail(path, f"tensor {name!r} has a size that does not match its shape")
        spans.append(tuple(offsets))
        entries[name] = (_DTYPES[dtype], tuple(shape))
    position = 0
    for begin, end in sorted(spans):
        if begin != position:
            raise _fail(path, "tensor data overlaps or has gaps; the file is corrupt")
        position = end
    if position != body_len:
        raise _fail(path, "the file has trailing bytes after its tensors; it is corrupt")
    return entries


def _parse_metadata(path: Path, header: dict[str, Any]) -> dict[str, Any]:
    raw = header.get("__metadata__")
    if not isinstance(raw, dict) or METADATA_KEY not in raw:
        raise _fail(
            path, "a safetensors file without LatentLab metadata; it was not written by LatentLab"
        )
    if not all(isinstance(v, str) for v in raw.values()):
        raise _fail(path, "not a safetensors model file (its metadata values are not strings)")
    try:
        meta = _json_loads(raw[METADATA_KEY])
    except ValueError:
        raise _fail(path, "the LatentLab metadata is not valid JSON") from None
    if not isinstance(meta, dict):
        raise _fail(path, "the LatentLab metadata is not a JSON object")
    return meta


def _require(path: Path, meta: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = meta.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _fail(path, f"metadata field {key!r} is missing or of the wrong type")
    return value


def _validate_metadata(path: Path, meta: dict[str, Any]) -> tuple[type[GenerativeModel], Any]:
    """Check the metadata; returns the family's class and its validated config."""
    version = _require(path, meta, "format_version", int)
    if version != FORMAT_VERSION:
        raise _fail(
            path,
            f"format version {short_repr(version)} is not supported (this LatentLab "
            f"reads version {FORMAT_VERSION}); update LatentLab or re-export the "
            "model",
        )
    family = _require(path, meta, "family", str)
    families = registered_families()  # the built-in ones and those of installed plugins
    if family not in families:
        plugins = [name for name in families if name not in FAMILIES]
        raise _fail(
            path,
            f"unknown model family {short_repr(family)} (known: {', '.join(FAMILIES)}; "
            f"installed plugin families: {', '.join(plugins) or 'none'})",
        )
    cls = families[family]
    try:
        config = config_from_dict(cls.config_class, meta.get("config"))
    except ConfigError as exc:
        raise _fail(path, f"invalid {family} config: {exc}") from None
    image = _require(path, meta, "image", dict)
    expected_image = {
        "channels": config.channels,
        "height": config.height,
        "width": config.width,
        "levels": config.levels,
    }
    # Compare types too: in Python true == 1 and 8.0 == 8.
    if image != expected_image or any(type(v) is not int for v in image.values()):
        raise _fail(path, "metadata 'image' does not match the model config")
    dataset = _require(path, meta, "dataset", dict)
    for key in ("label_names", "attribute_names"):
        names = dataset.get(key, [])
        if not (
            isinstance(names, list)
            and all(isinstance(n, str) for n in names)
            and len(names) <= MAX_ATTRIBUTES
        ):
            raise _fail(
                path, f"metadata dataset.{key} must be a list of at most {MAX_ATTRIBUTES} strings"
            )
    training = _require(path, meta, "training", dict)
    metric = training.get("test_metric")
    if metric is not None and not (
        isinstance(metric, dict)
        and isinstance(metric.get("name"), str)
        and is_finite_number(metric.get("value"))
    ):
        raise _fail(path, "metadata training.test_metric must have a name and a finite value")
    options = training.get("config")
    if options is not None and not _is_plain_options(options):
        raise _fail(
            path,
            f"metadata training.config must map at most {MAX_TRAINING_OPTIONS} option names "
            "to plain values (null, true, false, a finite number or a short string)",
        )
    _require(path, meta, "created", str)
    _require(path, meta, "latentlab_version", str)
    return cls, config


def _is_plain_options(options: Any) -> bool:
    """A training config as the trainers store it: a flat object of short names and values."""
    return (
        isinstance(options, dict)
        and len(options) <= MAX_TRAINING_OPTIONS
        and all(
            len(name) <= 64
            and (
                value is None
                or isinstance(value, bool)
                or (isinstance(value, str) and len(value) <= 4096)
                or is_finite_number(value)
            )
            for name, value in options.items()
        )
    )


def _expected_tensors(
    path: Path, cls: type[GenerativeModel], config: Any, entries: dict[str, Any]
) -> None:
    """Compare the file's tensors with exactly those the config implies."""
    try:
        with torch.device("meta"):  # shapes only: nothing is allocated
            skeleton = cls(config)
    except Exception as exc:
        raise _fail(path, f"the {cls.family} config cannot be built ({exc})") from None
    tensors = itertools.chain(skeleton.parameters(), skeleton.buffers())
    if sum(t.numel() for t in tensors) > MAX_PARAMETERS:
        raise _fail(path, f"the config asks for more than {MAX_PARAMETERS:,} parameters")
    expected = {f"model.{k}": (v.dtype, tuple(v.shape)) for k, v in skeleton.state_dict().items()}
    latent_dim = skeleton.latent_dim
    for name, (_dtype, shape) in entries.items():
        if name.startswith("model."):
            continue
        if name.startswith("attributes.") and latent_dim is not None:
            if len(name) > 11 + 64 or not name[11:]:
                raise _fail(path, f"attribute name {name[11:]!r} is empty or too long")
            expected[name] = (torch.float32, (latent_dim,))
        elif name.startswith("reference.") and latent_dim is not None:
            # the set's size is that of its latents, so a disagreeing tensor is the one named
            shape = entries["reference.latents"][1] if "reference.latents" in entries else shape
            reference_n = shape[0] if shape else -1
            if not 0 < reference_n <= MAX_REFERENCE:
                raise _fail(
                    path, f"tensor {name!r}: reference set must hold 1 to {MAX_REFERENCE} items"
                )
            expected.update(
                {
                    "reference.latents": (torch.float32, (reference_n, latent_dim)),
                    "reference.images": (torch.uint8, (reference_n, *skeleton.image_shape)),
                }
            )
            if "reference.labels" in entries:
                expected["reference.labels"] = (torch.int64, (reference_n,))
            if name.startswith(_REFERENCE_ATTRIBUTE):
                if len(name) > len(_REFERENCE_ATTRIBUTE) + 64 or name == _REFERENCE_ATTRIBUTE:
                    raise _fail(
                        path,
                        f"reference attribute name "
                        f"{name[len(_REFERENCE_ATTRIBUTE) :]!r} is empty or too long",
                    )
                expected[name] = (torch.float32, (reference_n,))
    if sum(1 for n in expected if n.startswith("attributes.")) > MAX_ATTRIBUTES:
        raise _fail(path, f"more than {MAX_ATTRIBUTES} attribute directions")
    if sum(1 for n in expected if n.startswith(_REFERENCE_ATTRIBUTE)) > MAX_ATTRIBUTES:
        raise _fail(path, f"more than {MAX_ATTRIBUTES} reference attributes")
    missing = sorted(set(expected) - set(entries))
    if missing:
        raise _fail(
            path,
            f"missing tensor(s): {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""),
        )
    extra = sorted(set(entries) - set(expected))
    if extra:
        raise _fail(
            path,
            f"unexpected tensor(s): {', '.join(extra[:5])}" + (" ..." if len(extra) > 5 else ""),
        )
    for name, (dtype, shape) in expected.items():
        got_dtype, got_shape = entries[name]
        stored_in_half = dtype == torch.float32 and got_dtype == torch.float16
        if got_dtype != dtype and not stored_in_half:
            raise _fail(
                path,
                f"tensor {name!r} has dtype {_DTYPE_NAMES.get(got_dtype)}, "
                f"expected {_DTYPE_NAMES.get(dtype, dtype)}",
            )
        if got_shape != shape:
            raise _fail(
                path,
                f"tensor {name!r} has shape {list(got_shape)}, expected "
                f"{list(shape)} for this config",
            )


def _read_bytes(path: Path) -> bytes:
    """The file's bytes: never a pipe or a device, at most MAX_FILE_BYTES, read in blocks."""
    try:
        return read_bounded(path, MAX_FILE_BYTES, "a model file")
    except ReadError as exc:
        raise _fail(path, str(exc)) from None


def _checked_file(
    path: Path,
) -> tuple[bytes, dict[str, Any], dict[str, Any], type[GenerativeModel], Any]:
    return _checked_data(path, _read_bytes(path))


def _checked_data(
    path: Path, data: bytes
) -> tuple[bytes, dict[str, Any], dict[str, Any], type[GenerativeModel], Any]:
    """Every check short of reading the tensor values; ``path`` only names the file."""
    header, data_start = _read_header(path, data)
    entries = _check_tensor_entries(path, header, len(data) - data_start)
    meta = _parse_metadata(path, header)
    cls, config = _validate_metadata(path, meta)
    _expected_tensors(path, cls, config, entries)
    return data, meta, entries, cls, config


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated metadata of a model file, without building the model."""
    return _checked_file(Path(path))[1]


def load_model(path: str | os.PathLike[str]) -> LoadedModel:
    """Validate and load a model file; raises :class:`ModelFileError` on any problem."""
    path = Path(path)
    data, meta, _, cls, config = _checked_file(path)
    try:
        tensors = safetensors.torch.load(data)
    except Exception as exc:  # the header was checked; this is a defence in depth
        raise _fail(path, f"the tensor data cannot be read ({exc})") from None
    # stored in 16 bits (save_model's half_precision), computed in 32
    tensors = {k: v.float() if v.dtype == torch.float16 else v for k, v in tensors.items()}
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise _fail(
                path,
                f"tensor {name!r} contains NaN or infinite values; the model "
                "diverged during training",
            )
    model = cls.from_config(config)
    state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(state, strict=True)
    model.eval()
    attributes = {k[11:]: v for k, v in tensors.items() if k.startswith("attributes.")}
    reference = None
    if "reference.latents" in tensors:
        values = {
            k[len(_REFERENCE_ATTRIBUTE) :]: v
            for k, v in tensors.items()
            if k.startswith(_REFERENCE_ATTRIBUTE)
        }
        reference = Reference(
            tensors["reference.latents"],
            tensors["reference.images"],
            tensors.get("reference.labels"),
            values,
        )
    return LoadedModel(model, meta, path, attributes, reference)


# ----------------------------------------------------------------------------------------------
# Writing


def build_metadata(
    model: GenerativeModel, dataset: dict[str, Any], training: dict[str, Any]
) -> dict[str, Any]:
    """The metadata document for ``model``: its identity, config and image plus the given
    dataset and training descriptions."""
    c = model.config
    return {
        "format_version": FORMAT_VERSION,
        "family": model.family,
        "config": config_to_dict(c),
        "image": {"channels": c.channels, "height": c.height, "width": c.width, "levels": c.levels},
        "dataset": dataset,
        "training": training,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "latentlab_version": latentlab.__version__,
    }


def save_model(
    path: str | os.PathLike[str],
    model: GenerativeModel,
    meta: dict[str, Any],
    attributes: dict[str, torch.Tensor] | None = None,
    reference: Reference | None = None,
    half_precision: bool = False,
) -> None:
    """Write ``model`` with ``meta`` (see :func:`build_metadata`) atomically to ``path``; with
    ``half_precision`` its float32 weights and the reference latents are stored as float16
    (half the bytes; :func:`load_model` gives them back as float32)."""
    path = Path(path)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for name, direction in (attributes or {}).items():
        tensors[f"attributes.{name}"] = direction.detach().float().cpu().contiguous()
    if reference is not None:
        tensors["reference.latents"] = reference.latents.detach().float().cpu().contiguous()
        tensors["reference.images"] = reference.images.to(torch.uint8).cpu().contiguous()
        if reference.labels is not None:
            tensors["reference.labels"] = reference.labels.long().cpu().contiguous()
        for name, values in reference.attributes.items():
            tensors[_REFERENCE_ATTRIBUTE + name] = values.detach().float().cpu().contiguous()
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ModelFileError(f"{path.name}: not saved: tensor {name!r} has NaN or Inf values")
    if half_precision:
        for name, tensor in tensors.items():
            if (name.startswith("model.") or name == "reference.latents") and (
                tensor.dtype == torch.float32
            ):
                tensors[name] = half = tensor.half()
                if not torch.isfinite(half).all():
                    raise ModelFileError(
                        f"{path.name}: not saved: tensor {name!r} has values beyond float16's "
                        "range; save it without half precision"
                    )
    try:
        text = json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{path.name}: not saved: the metadata is not plain JSON ({exc})"
        ) from None
    payload = safetensors.torch.save(tensors, metadata={METADATA_KEY: text})
    # Never write a file that loading would refuse (wrong metadata, attribute shapes, ...).
    try:
        _checked_data(path, payload)
    except ModelFileError as exc:
        why = str(exc).removeprefix(f"{path.name}: ")
        raise ModelFileError(f"{path.name}: not saved: {why}") from None
    atomic_write_bytes(path, payload)
