"""Model files: round trips, every way a file can be bad, atomic writes and a fuzz loop.

Files are untrusted input. Every bad file must raise exactly one ``ModelFileError`` whose
message is one line, starts with the file's name and says what is wrong; nothing else may
escape ``load_model`` or ``read_metadata``. Bad files are crafted by hand here (an 8-byte
little-endian header length, a JSON header, raw tensor bytes), never by unpickling anything.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import stat
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.torch
import torch
from helpers import make_tiny_vae

import latentlab.modelfile as modelfile
from latentlab.modelfile import (
    FORMAT_VERSION,
    LoadedModel,
    ModelFileError,
    Reference,
    atomic_write_bytes,
    build_metadata,
    load_model,
    read_metadata,
    save_model,
)
from latentlab.models.base import ConfigError, bounded, config_from_dict
from latentlab.models.vae import VAE

# ``from conftest import ...`` is not used: once tests/app/conftest.py has been imported, the name
# ``conftest`` means that module, so the files come from tests/conftest.py's fixtures instead.


# ----------------------------------------------------------------------------------------------
# Helpers: build and edit safetensors files by hand

_NUMPY_DTYPES = {
    "F16": "<f2",
    "F32": "<f4",
    "F64": "<f8",
    "I32": "<i4",
    "I64": "<i8",
    "U8": "u1",
    "BOOL": "?",
}
_SAFETENSORS_DTYPES = {np.dtype(v): k for k, v in _NUMPY_DTYPES.items()}


def build_safetensors(
    arrays: dict[str, np.ndarray],
    metadata: dict[str, Any] | None = None,
    header_edit: Callable[[dict[str, Any]], None] | None = None,
    pad_to: int | None = None,
) -> bytes:
    """A safetensors file: header length, JSON header (padded with spaces) and raw bytes.

    ``metadata`` values are written as given (normally strings); ``header_edit`` may change the
    header dict after the offsets are laid out; ``pad_to`` pads the header to that length.
    """
    header: dict[str, Any] = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    body = bytearray()
    for name, array in arrays.items():
        raw = np.ascontiguousarray(array).tobytes()
        header[name] = {
            "dtype": _SAFETENSORS_DTYPES[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [len(body), len(body) + len(raw)],
        }
        body += raw
    if header_edit is not None:
        header_edit(header)
    text = json.dumps(header).encode()
    size = pad_to if pad_to is not None else -(-len(text) // 8) * 8
    assert size >= len(text)
    text += b" " * (size - len(text))
    return struct.pack("<Q", len(text)) + text + bytes(body)


def parse_safetensors(data: bytes) -> tuple[dict[str, Any], bytes]:
    """Split a (good, self-made) file into its header dict and its tensor bytes."""
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def file_arrays(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The tensors (as numpy arrays, in file order) and LatentLab metadata of a good file."""
    header, body = parse_safetensors(data)
    meta = json.loads(header.pop("__metadata__")[modelfile.METADATA_KEY])
    arrays = {}
    for name, entry in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        begin, end = entry["data_offsets"]
        array = np.frombuffer(body[begin:end], dtype=_NUMPY_DTYPES[entry["dtype"]])
        arrays[name] = array.reshape(entry["shape"]).copy()
    return arrays, meta


def with_meta(arrays: dict[str, np.ndarray], meta: Any) -> bytes:
    return build_safetensors(arrays, {modelfile.METADATA_KEY: json.dumps(meta)})


def edit_meta(data: bytes, edit: Callable[[dict[str, Any]], Any]) -> bytes:
    """Rewrite a good file with its metadata changed in place by ``edit``."""
    arrays, meta = file_arrays(data)
    edit(meta)
    return with_meta(arrays, meta)


def edit_tensors(data: bytes, edit: Callable[[dict[str, np.ndarray]], Any]) -> bytes:
    """Rewrite a good file with its tensors changed in place by ``edit``."""
    arrays, meta = file_arrays(data)
    edit(arrays)
    return with_meta(arrays, meta)


def edit_header(data: bytes, edit: Callable[[dict[str, Any]], Any]) -> bytes:
    """Rewrite a good file with its raw header dict changed in place; same tensor bytes."""
    header, body = parse_safetensors(data)
    edit(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


def assert_refused(path: Path, match: str, *, metadata_too: bool = True) -> str:
    """``load_model`` (and ``read_metadata`` unless the fault is in tensor values) raise one
    ModelFileError: one line, starting with the file's name, matching ``match``."""
    functions = (load_model, read_metadata) if metadata_too else (load_model,)
    message = ""
    for function in functions:
        with pytest.raises(ModelFileError, match=match) as info:
            function(path)
        message = str(info.value)
        assert message.startswith(f"{path.name}: "), message
        assert "\n" not in message and "\r" not in message, message
        assert len(message) < 400, message
        error = info.value  # no chained exception that a traceback would show
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__
    return message


@pytest.fixture
def good_bytes(tiny_vae_path) -> bytes:
    """The bytes of a good tiny VAE file with a reference set (tests/conftest.py)."""
    return tiny_vae_path.read_bytes()


def test_good_file_loads_and_builders_round_trip(good_bytes, tmp_path):
    """The helpers themselves: a file rebuilt from its parsed parts loads the same."""
    path = tmp_path / "rebuilt.safetensors"
    arrays, meta = file_arrays(good_bytes)
    path.write_bytes(with_meta(arrays, meta))
    original = tmp_path / "original.safetensors"
    original.write_bytes(good_bytes)
    a, b = load_model(original), load_model(path)
    assert a.meta == b.meta == meta
    for (name, x), (_, y) in zip(
        a.model.state_dict().items(), b.model.state_dict().items(), strict=True
    ):
        assert torch.equal(x, y), name


# ----------------------------------------------------------------------------------------------
# Round trips


def test_round_trip_tiny_vae_with_attributes_and_reference(tmp_path):
    model = make_tiny_vae(latent_dim=3, seed=7)
    meta = build_metadata(
        model,
        dataset={
            "name": "synthfaces",
            "size": 100,
            "label_names": ["a", "b"],
            "attribute_names": ["smile"],
        },
        training={
            "command": "tests",
            "epochs": 1,
            "steps": 2,
            "seconds": 0.5,
            "device": "cpu",
            "test_metric": {"name": "IWAE bound (nats)", "value": -12.5},
            "config": {"data": "synthfaces", "lr": 0.001, "resume": False, "preset": None},
        },
    )
    generator = torch.Generator().manual_seed(0)
    smile = torch.randn(3, generator=generator)
    images = torch.randint(0, 256, (5, 1, 8, 8), dtype=torch.uint8, generator=generator)
    reference = Reference(
        torch.randn(5, 3, generator=generator),
        images,
        torch.arange(5),
        {"smile": torch.rand(5, generator=generator)},
    )
    path = tmp_path / "faces" / "vae.safetensors"  # the folder is created
    save_model(path, model, meta, attributes={"smile": smile}, reference=reference)

    loaded = load_model(path)
    assert isinstance(loaded, LoadedModel)
    assert isinstance(loaded.model, VAE) and not loaded.model.training
    assert loaded.path == path and loaded.name == "vae"
    assert loaded.meta == meta
    assert loaded.meta["format_version"] == FORMAT_VERSION
    assert loaded.model.config == model.config
    z = torch.randn(4, 3, generator=generator)
    with torch.inference_mode():
        assert torch.equal(loaded.model.decode(z), model.decode(z))
        x = model.decode(z)
        assert torch.equal(loaded.model.encode(x), model.encode(x))
    assert set(loaded.attributes) == {"smile"}
    assert loaded.attributes["smile"].dtype == torch.float32
    assert torch.equal(loaded.attributes["smile"], smile)
    assert loaded.reference is not None
    assert torch.equal(loaded.reference.latents, reference.latents)
    assert torch.equal(loaded.reference.images, images)
    assert loaded.reference.images.dtype == torch.uint8
    assert torch.equal(loaded.reference.labels, reference.labels)
    assert set(loaded.reference.attributes) == {"smile"}
    assert torch.equal(loaded.reference.attributes["smile"], reference.attributes["smile"])
    assert read_metadata(path) == meta
    # no temporary file left beside it; readable by others like any file the user makes
    assert [p.name for p in path.parent.iterdir()] == ["vae.safetensors"]
    assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044 or os.name != "posix"


def test_round_trip_conftest_file(tiny_vae16_path):
    loaded = load_model(str(tiny_vae16_path))  # str paths work too
    reference = loaded.reference
    assert reference is not None and reference.latents.shape == (30, 16)
    assert reference.images.shape == (30, 1, 8, 8) and reference.images.dtype == torch.uint8
    assert torch.equal(reference.labels, torch.arange(30) % 10)
    assert loaded.attributes == {}
    # the reference latents were encoded by the saved model: the loaded one encodes the same
    with torch.inference_mode():
        latents = loaded.model.encode(reference.images.float() / 255)
    assert torch.equal(latents, reference.latents)


def test_round_trip_without_reference_or_attributes(tmp_path):
    model = make_tiny_vae(seed=2)
    meta = build_metadata(model, {"name": "digits", "size": 1}, {"command": "t"})
    save_model(tmp_path / "bare.safetensors", model, meta)
    loaded = load_model(tmp_path / "bare.safetensors")
    assert loaded.reference is None and loaded.attributes == {}
    z = torch.randn(3, 2)
    with torch.inference_mode():
        assert torch.equal(loaded.model.decode(z), model.decode(z))


def test_half_precision_halves_the_weights_and_loads_them_as_float32(tmp_path):
    model = make_tiny_vae(latent_dim=3, seed=5)
    meta = build_metadata(model, {"name": "digits", "size": 1}, {"command": "t"})
    generator = torch.Generator().manual_seed(1)
    reference = Reference(
        torch.randn(40, 3, generator=generator),
        torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=generator),
    )
    full, half = tmp_path / "full.safetensors", tmp_path / "half.safetensors"
    save_model(full, model, meta, reference=reference)
    save_model(half, model, meta, reference=reference, half_precision=True)
    weights = sum(4 * t.numel() for t in model.state_dict().values() if t.is_floating_point())
    latents = 4 * reference.latents.numel()
    saved = full.stat().st_size - half.stat().st_size
    assert abs(saved - (weights + latents) // 2) < 100  # the headers' offsets differ a little
    loaded = load_model(half)
    state = loaded.model.state_dict()
    for name, value in model.state_dict().items():
        assert state[name].dtype == value.dtype
        if value.is_floating_point():
            assert torch.equal(state[name], value.half().float())
    assert loaded.reference is not None
    assert torch.equal(loaded.reference.latents, reference.latents.half().float())
    assert torch.equal(loaded.reference.images, reference.images)


def test_half_precision_refuses_weights_beyond_its_range(tmp_path):
    model, meta = _other_model_args()
    with torch.no_grad():
        model.decoder.dense[0].weight[0, 0] = 1e6
    path = tmp_path / "big.safetensors"
    with pytest.raises(ModelFileError, match="beyond float16's range"):
        save_model(path, model, meta, half_precision=True)
    assert list(tmp_path.iterdir()) == []


def test_reference_without_labels_round_trips(tmp_path):
    model = make_tiny_vae()
    meta = build_metadata(model, {"name": "x", "size": 3}, {"command": "t"})
    reference = Reference(torch.zeros(3, 2), torch.zeros(3, 1, 8, 8, dtype=torch.uint8))
    save_model(tmp_path / "m.safetensors", model, meta, reference=reference)
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.reference is not None and loaded.reference.labels is None


# ----------------------------------------------------------------------------------------------
# Every way a file can be bad


def _zip_bytes(tmp_path: Path) -> bytes:
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:
        archive.writestr("data.pkl", b"not really")
    return (tmp_path / "a.zip").read_bytes()


def _torch_save_bytes(tmp_path: Path, **kwargs: Any) -> bytes:
    torch.save({"weight": torch.zeros(3)}, tmp_path / "model.pt", **kwargs)
    return (tmp_path / "model.pt").read_bytes()


def _safetensors_bytes(tmp_path: Path, metadata: dict[str, str] | None) -> bytes:
    safetensors.torch.save_file({"x": torch.zeros(3)}, tmp_path / "st", metadata=metadata)
    return (tmp_path / "st").read_bytes()


def _cut_in_tensor_data(data: bytes) -> bytes:
    _, body = parse_safetensors(data)
    return data[: len(data) - len(body) // 2]


def _set(key_path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit that sets ``meta[a][b]...`` (``key_path`` "a.b") to ``value``."""
    *parents, last = key_path.split(".")

    def edit(meta: dict[str, Any]) -> None:
        for key in parents:
            meta = meta[key]
        meta[last] = value

    return edit


def _delete(key_path: str) -> Callable[[dict[str, Any]], None]:
    *parents, last = key_path.split(".")

    def edit(meta: dict[str, Any]) -> None:
        for key in parents:
            meta = meta[key]
        del meta[last]

    return edit


def _entry(name: str, **changes: Any) -> Callable[[dict[str, Any]], None]:
    def edit(header: dict[str, Any]) -> None:
        header[name].update(changes)

    return edit


def _overlap(header: dict[str, Any]) -> None:
    """Point one tensor at another's bytes (same size), leaving a gap where its own were."""
    by_size: dict[int, str] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        if end - begin in by_size:
            header[name]["data_offsets"] = list(header[by_size[end - begin]]["data_offsets"])
            return
        by_size[end - begin] = name
    raise AssertionError("no two tensors of the same size")


def _past_end(header: dict[str, Any]) -> None:
    last = max(
        (e for n, e in header.items() if n != "__metadata__"), key=lambda e: e["data_offsets"][1]
    )
    last["data_offsets"][1] += 4096


def _put(name: str, value: Any) -> Callable[[dict[str, np.ndarray]], None]:
    def edit(arrays: dict[str, np.ndarray]) -> None:
        arrays[name] = value(arrays) if callable(value) else value

    return edit


def _poke(name: str, value: float) -> Callable[[dict[str, np.ndarray]], None]:
    def edit(arrays: dict[str, np.ndarray]) -> None:
        arrays[name].flat[len(arrays[name].flat) // 2] = value

    return edit


def _drop(name: str) -> Callable[[dict[str, np.ndarray]], None]:
    def edit(arrays: dict[str, np.ndarray]) -> None:
        del arrays[name]

    return edit


def _metadata_dict(data: bytes) -> bytes:
    def edit(header: dict[str, Any]) -> None:
        key = modelfile.METADATA_KEY
        header["__metadata__"][key] = json.loads(header["__metadata__"][key])

    return edit_header(data, edit)


@dataclass
class Bad:
    """One bad file: how to make it from the good file's bytes, and what the error says."""

    make: Callable[[bytes, Path], bytes]
    match: str
    values: bool = False  # the fault is in tensor values, which read_metadata does not read


def meta_case(edit: Callable[[dict[str, Any]], Any], match: str) -> Bad:
    return Bad(lambda good, _: edit_meta(good, edit), match)


def tensor_case(
    edit: Callable[[dict[str, np.ndarray]], Any], match: str, values: bool = False
) -> Bad:
    return Bad(lambda good, _: edit_tensors(good, edit), match, values)


def header_case(edit: Callable[[dict[str, Any]], Any], match: str) -> Bad:
    return Bad(lambda good, _: edit_header(good, edit), match)


W = "model.encoder.out.weight"  # shape [2 * latent_dim, dense] = [4, 16]

BAD_FILES: dict[str, Bad] = {
    # not a safetensors file at all
    "empty": Bad(lambda good, _: b"", "the file is empty"),
    "shorter-than-header-length": Bad(lambda good, _: b"\x10\x00\x00", "truncated"),
    "seven-bytes": Bad(lambda good, _: good[:7], "truncated"),
    "header-length-past-end": Bad(lambda good, _: good[:100], r"truncated \(its header runs"),
    "header-length-past-end-small": Bad(
        lambda good, _: struct.pack("<Q", 64) + b"{}", r"truncated \(its header runs"
    ),
    "header-length-huge": Bad(
        lambda good, _: struct.pack("<Q", 2**62) + b"{}" * 10, "header length is implausible"
    ),
    "garbage": Bad(
        lambda good, _: np.random.default_rng(3).bytes(5000), "not a safetensors model file"
    ),
    "pickle": Bad(
        lambda good, _: pickle.dumps({"state": [1.0, 2.0] * 50, "epoch": 3}),
        "Python pickle; LatentLab never unpickles",
    ),
    "pickle-protocol-2": Bad(lambda good, _: pickle.dumps({"a": 1}, protocol=2), "pickle"),
    "legacy-torch-save": Bad(
        lambda good, tmp: _torch_save_bytes(tmp, _use_new_zipfile_serialization=False), "pickle"
    ),
    "zip": Bad(lambda good, tmp: _zip_bytes(tmp), "zip archive"),
    "torch-save": Bad(lambda good, tmp: _torch_save_bytes(tmp), r"zip archive \(a PyTorch"),
    "header-not-json": Bad(
        lambda good, _: struct.pack("<Q", 16) + b"this is not json", "its header is not JSON"
    ),
    "header-not-utf8": Bad(
        lambda good, _: struct.pack("<Q", 8) + b"{\xff\xfe\xfd\x80}  ", "its header is not JSON"
    ),
    "header-nested-too-deep": Bad(
        lambda good, _: struct.pack("<Q", 200_000) + b"[" * 200_000, "its header is not JSON"
    ),
    "header-json-list": Bad(
        lambda good, _: struct.pack("<Q", 16) + b"[1, 2, 3]       ",
        "its header is not a JSON object",
    ),
    "header-json-string": Bad(
        lambda good, _: struct.pack("<Q", 8) + b'"abcdef"', "its header is not a JSON object"
    ),
    # safetensors, but not LatentLab's
    "safetensors-without-metadata": Bad(
        lambda good, tmp: _safetensors_bytes(tmp, None), "without LatentLab metadata"
    ),
    "safetensors-other-metadata": Bad(
        lambda good, tmp: _safetensors_bytes(tmp, {"format": "pt"}), "without LatentLab metadata"
    ),
    # a header 384 bytes long starts with the bytes 0x80 0x01, like a pickle's magic
    "header-length-looks-like-pickle": Bad(
        lambda good, _: build_safetensors({"x": np.zeros(3, np.float32)}, pad_to=384),
        "without LatentLab metadata",
    ),
    "metadata-not-json": Bad(
        lambda good, _: build_safetensors(
            file_arrays(good)[0], {modelfile.METADATA_KEY: "{format_version: 1"}
        ),
        "LatentLab metadata is not valid JSON",
    ),
    "metadata-huge-integer": Bad(
        lambda good, _: build_safetensors(
            file_arrays(good)[0], {modelfile.METADATA_KEY: '{"format_version": ' + "9" * 5000 + "}"}
        ),
        "LatentLab metadata is not valid JSON",
    ),
    "metadata-json-list": Bad(
        lambda good, _: with_meta(file_arrays(good)[0], [1, "vae"]),
        "LatentLab metadata is not a JSON object",
    ),
    "metadata-json-null": Bad(
        lambda good, _: with_meta(file_arrays(good)[0], None),
        "LatentLab metadata is not a JSON object",
    ),
    "metadata-value-not-string": Bad(
        lambda good, _: _metadata_dict(good), "metadata values are not strings"
    ),
    # the LatentLab document
    "unknown-family": meta_case(_set("family", "gan"), r"unknown model family 'gan' \(known: vae"),
    "family-missing": meta_case(_delete("family"), "'family' is missing or of the wrong type"),
    "family-not-string": meta_case(_set("family", ["vae"]), "'family' is missing or of the wrong"),
    "future-format-version": meta_case(
        _set("format_version", FORMAT_VERSION + 1),
        f"format version {FORMAT_VERSION + 1} is not supported",
    ),
    "format-version-zero": meta_case(_set("format_version", 0), "format version 0 is not"),
    "format-version-string": meta_case(
        _set("format_version", "1"), "'format_version' is missing or of the wrong type"
    ),
    "format-version-bool": meta_case(_set("format_version", True), "'format_version' is missing"),
    "format-version-float": meta_case(_set("format_version", 1.0), "'format_version' is missing"),
    "format-version-missing": meta_case(_delete("format_version"), "'format_version' is missing"),
    "latent-dim-0": meta_case(
        _set("config.latent_dim", 0),
        r"invalid vae config: config value latent_dim=0 is outside \[1, 512",
    ),
    "latent-dim-negative": meta_case(_set("config.latent_dim", -1), "latent_dim=-1 is outside"),
    "latent-dim-huge": meta_case(_set("config.latent_dim", 10**9), "latent_dim=1000000000 is out"),
    "latent-dim-enormous": meta_case(_set("config.latent_dim", 10**400), "latent_dim=.* is out"),
    "hidden-huge": meta_case(_set("config.hidden", 10**9), "hidden=1000000000 is outside"),
    "dense-huge": meta_case(_set("config.dense", 10**9), "dense=1000000000 is outside"),
    "height-huge": meta_case(_set("config.height", 10**6), "height=1000000 is outside"),
    "height-not-multiple-of-4": meta_case(_set("config.height", 10), "multiples of 4"),
    "levels-1": meta_case(_set("config.levels", 1), r"levels=1 is outside \[2, 256\]"),
    "latent-dim-bool": meta_case(
        _set("config.latent_dim", True), "latent_dim must be an integer, got True"
    ),
    "latent-dim-string": meta_case(
        _set("config.latent_dim", "2"), "latent_dim must be an integer, got '2'"
    ),
    "latent-dim-float": meta_case(_set("config.latent_dim", 2.0), "latent_dim must be an integer"),
    "latent-dim-null": meta_case(_set("config.latent_dim", None), "latent_dim must be an integer"),
    "config-key-missing": meta_case(_delete("config.dense"), "missing config value.*: dense"),
    "config-key-extra": meta_case(_set("config.depth", 3), "unknown config value.*: depth"),
    "config-missing": meta_case(_delete("config"), "config must be a JSON object"),
    "config-list": meta_case(_set("config", [1, 8, 8]), "config must be a JSON object"),
    "image-levels-disagree": meta_case(
        _set("image.levels", 256), "metadata 'image' does not match the model config"
    ),
    "image-height-disagree": meta_case(_set("image.height", 16), "'image' does not match"),
    "image-channels-bool": meta_case(_set("image.channels", True), "'image' does not match"),
    "image-extra-key": meta_case(_set("image.depth", 1), "'image' does not match"),
    "image-missing": meta_case(_delete("image"), "'image' is missing or of the wrong type"),
    "dataset-missing": meta_case(_delete("dataset"), "'dataset' is missing"),
    "label-names-not-list": meta_case(
        _set("dataset.label_names", "0123456789"),
        "dataset.label_names must be a list of at most 256 strings",
    ),
    "attribute-names-not-strings": meta_case(
        _set("dataset.attribute_names", [1, 2]), "dataset.attribute_names must be a list"
    ),
    "training-missing": meta_case(_delete("training"), "'training' is missing"),
    "test-metric-nan": meta_case(
        _set("training.test_metric.value", float("nan")),
        "test_metric must have a name and a finite value",
    ),
    "test-metric-enormous": meta_case(
        _set("training.test_metric.value", 10**400),
        "test_metric must have a name and a finite value",
    ),
    "test-metric-no-name": meta_case(_delete("training.test_metric.name"), "test_metric must"),
    "training-config-list": meta_case(_set("training.config", ["--lr", 1]), "training.config must"),
    "training-config-nested": meta_case(
        _set("training.config", {"data": {"name": "digits"}}), "training.config must map"
    ),
    "training-config-nan": meta_case(_set("training.config", {"lr": float("nan")}), "plain values"),
    "training-config-long-string": meta_case(
        _set("training.config", {"out": "x" * 5000}), "training.config must"
    ),
    "training-config-too-many": meta_case(
        _set("training.config", {f"option{i}": i for i in range(257)}), "at most 256 option"
    ),
    "created-missing": meta_case(_delete("created"), "'created' is missing"),
    "version-not-string": meta_case(_set("latentlab_version", 1), "'latentlab_version' is"),
    # tensors that disagree with the config
    "missing-tensor": tensor_case(
        _drop("model.decoder.dense.0.weight"), r"missing tensor\(s\): model.decoder.dense.0.weight"
    ),
    "extra-tensor": tensor_case(
        _put("model.extra", np.zeros(3, np.float32)), r"unexpected tensor\(s\): model.extra"
    ),
    "foreign-tensor": tensor_case(
        _put("optimizer.state", np.zeros(3, np.float32)), r"unexpected tensor\(s\): optimizer.state"
    ),
    "wrong-shape": tensor_case(
        _put(W, lambda a: np.ascontiguousarray(a[W].T)),
        r"'model.encoder.out.weight' has shape \[16, 4\], "
        r"expected \[4, 16\]",
    ),
    "wrong-shape-flat": tensor_case(_put(W, lambda a: a[W].ravel()), "has shape"),
    "wrong-dtype-f64": tensor_case(
        _put(W, lambda a: a[W].astype(np.float64)),
        "'model.encoder.out.weight' has dtype F64, expected F32",
    ),
    "reference-images-f16": tensor_case(
        _put("reference.images", lambda a: a["reference.images"].astype(np.float16)),
        "'reference.images' has dtype F16, expected U8",
    ),
    "unsupported-dtype-bool": tensor_case(_put(W, lambda a: a[W] > 0), "unsupported dtype 'BOOL'"),
    "reference-images-float": tensor_case(
        _put("reference.images", lambda a: a["reference.images"].astype(np.float32)),
        "'reference.images' has dtype F32, expected U8",
    ),
    "reference-labels-int32": tensor_case(
        _put("reference.labels", lambda a: a["reference.labels"].astype(np.int32)),
        "unsupported dtype 'I32'",
    ),
    "reference-count-mismatch": tensor_case(
        _put("reference.images", lambda a: a["reference.images"][:10]), "has shape"
    ),
    "reference-latents-wrong-dim": tensor_case(
        _put("reference.latents", lambda a: np.zeros((30, 3), np.float32)), "has shape"
    ),
    "reference-empty": tensor_case(
        lambda a: a.update(
            {
                "reference.latents": np.zeros((0, 2), np.float32),
                "reference.images": np.zeros((0, 1, 8, 8), np.uint8),
                "reference.labels": np.zeros(0, np.int64),
            }
        ),
        "reference set must hold 1 to",
    ),
    "reference-labels-alone": tensor_case(
        lambda a: [a.pop("reference.latents"), a.pop("reference.images")],
        r"missing tensor\(s\): reference.images, reference.latents",
    ),
    "reference-scalar": tensor_case(
        _put("reference.latents", np.zeros((), np.float32)), "reference set must hold"
    ),
    "reference-attribute-wrong-length": tensor_case(
        _put("reference.attribute.smile", np.zeros(29, np.float32)),
        r"'reference.attribute.smile' has shape \[29\], expected \[30\]",
    ),
    "reference-attribute-int": tensor_case(
        _put("reference.attribute.smile", np.zeros(30, np.int64)),
        "'reference.attribute.smile' has dtype I64, expected F32",
    ),
    "reference-attribute-name-empty": tensor_case(
        _put("reference.attribute.", np.zeros(30, np.float32)),
        "reference attribute name '' is empty or too long",
    ),
    "reference-attribute-nan": tensor_case(
        _put("reference.attribute.smile", np.full(30, np.nan, np.float32)),
        "'reference.attribute.smile' contains NaN",
        values=True,
    ),
    "attribute-wrong-shape": tensor_case(
        _put("attributes.smile", np.zeros(3, np.float32)),
        r"'attributes.smile' has shape \[3\], expected \[2\]",
    ),
    "attribute-name-empty": tensor_case(
        _put("attributes.", np.zeros(2, np.float32)), "attribute name '' is empty or too long"
    ),
    "attribute-name-too-long": tensor_case(
        _put("attributes." + "x" * 65, np.zeros(2, np.float32)), "is empty or too long"
    ),
    # raw header entries and offsets
    "offsets-past-end": header_case(_past_end, r"the file is truncated \(tensor '.*' runs past"),
    "offsets-reversed": header_case(_entry(W, data_offsets=[256, 0]), "invalid data offsets"),
    "offsets-negative": header_case(_entry(W, data_offsets=[-4, 252]), "invalid data offsets"),
    "offsets-floats": header_case(_entry(W, data_offsets=[0.0, 256.0]), "invalid data offsets"),
    "offsets-three": header_case(_entry(W, data_offsets=[0, 1, 2]), "invalid data offsets"),
    "offsets-overlap": header_case(_overlap, "tensor data overlaps or has gaps"),
    "size-not-shape": header_case(_entry(W, shape=[4, 15]), "a size that does not match its shape"),
    "shape-negative": header_case(_entry(W, shape=[-4, -16]), "invalid shape"),
    "shape-huge": header_case(_entry(W, shape=[2**40, 1]), "invalid shape"),
    "shape-not-list": header_case(_entry(W, shape="4x16"), "invalid shape"),
    "dtype-unknown": header_case(_entry(W, dtype="F128"), "unsupported dtype 'F128'"),
    "entry-missing-field": header_case(lambda h: h[W].pop("shape"), "malformed header entry"),
    "entry-extra-field": header_case(_entry(W, stride=[1]), "malformed header entry"),
    "entry-not-object": header_case(lambda h: h.update({W: [0, 256]}), "malformed header entry"),
    "trailing-bytes": Bad(lambda good, _: good + b"\x00" * 16, "trailing bytes after its tensors"),
    "truncated-body": Bad(
        lambda good, _: _cut_in_tensor_data(good),
        r"the file is truncated \(tensor '.*' runs past the end\)",
    ),
    "truncated-last-byte": Bad(lambda good, _: good[:-1], "the file is truncated"),
    # values
    "nan-weight": tensor_case(
        _poke(W, np.nan), "'model.encoder.out.weight' contains NaN or inf", values=True
    ),
    "inf-weight": tensor_case(
        _poke("model.decoder.deconvs.4.bias", np.inf), "NaN or infinite", values=True
    ),
    "minus-inf-weight": tensor_case(
        _poke("model.encoder.convs.0.weight", -np.inf), "NaN or infinite", values=True
    ),
    "nan-reference-latents": tensor_case(
        _poke("reference.latents", np.nan), "'reference.latents' contains NaN", values=True
    ),
    "nan-attribute": tensor_case(
        _put("attributes.smile", np.array([0, np.nan], np.float32)),
        "'attributes.smile' contains NaN",
        values=True,
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_refused_with_one_clear_error(case, good_bytes, tmp_path):
    bad = BAD_FILES[case]
    path = tmp_path / f"{case}.safetensors"
    path.write_bytes(bad.make(good_bytes, tmp_path))
    assert_refused(path, bad.match, metadata_too=not bad.values)
    if bad.values:  # the metadata is fine; only loading the values finds the fault
        assert read_metadata(path)["family"] == "vae"


def test_bad_paths(tmp_path):
    assert_refused(tmp_path, "this is a folder, not a model file")
    assert_refused(tmp_path / "nothing-here.safetensors", "no such file")
    (tmp_path / "file").write_bytes(b"x")
    assert_refused(tmp_path / "file" / "model.safetensors", "cannot read the file")


@pytest.mark.skipif(
    not hasattr(os, "mkfifo") or not hasattr(signal, "SIGALRM"),
    reason="needs named pipes and alarms",
)
def test_a_pipe_is_not_read(tmp_path):
    """Reading a pipe would wait forever for a writer; a regression fails after 10 s."""
    os.mkfifo(tmp_path / "pipe.safetensors")

    def hung(signum, frame):
        raise AssertionError("load_model blocked reading a named pipe")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        assert_refused(tmp_path / "pipe.safetensors", "not a regular file")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_file_too_large(good_bytes, tmp_path, monkeypatch):
    path = tmp_path / "big.safetensors"
    path.write_bytes(good_bytes)
    monkeypatch.setattr(modelfile, "MAX_FILE_BYTES", len(good_bytes) - 1)
    assert_refused(path, "the file is larger than")


def test_unreadable_file(good_bytes, tmp_path):
    if os.name != "posix" or os.geteuid() == 0:
        pytest.skip("needs a non-root POSIX user")
    path = tmp_path / "secret.safetensors"
    path.write_bytes(good_bytes)
    path.chmod(0)
    try:
        assert_refused(path, "cannot read the file")
    finally:
        path.chmod(0o600)


def test_a_huge_config_is_refused_before_anything_is_allocated(good_bytes, tmp_path, monkeypatch):
    """Within every bound, yet billions of parameters: refused from shapes alone."""
    config = {
        "channels": 4,
        "height": 128,
        "width": 128,
        "levels": 256,
        "latent_dim": 512,
        "hidden": 256,
        "dense": 2048,
    }

    def edit(meta):
        meta["config"] = config
        meta["image"] = {k: config[k] for k in ("channels", "height", "width", "levels")}

    path = tmp_path / "huge.safetensors"
    path.write_bytes(edit_meta(good_bytes, edit))

    def forbidden(*args, **kwargs):
        raise AssertionError("tensors were allocated for a file that should be refused")

    monkeypatch.setattr(modelfile.safetensors.torch, "load", forbidden)
    monkeypatch.setattr(VAE, "from_config", classmethod(forbidden))
    assert_refused(path, f"the config asks for more than {modelfile.MAX_PARAMETERS:,} parameters")


def test_max_parameters_is_enforced(good_bytes, tmp_path, monkeypatch):
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(good_bytes)
    assert load_model(path).model is not None
    monkeypatch.setattr(modelfile, "MAX_PARAMETERS", 1000)
    monkeypatch.setattr(VAE, "from_config", classmethod(lambda cls, c: pytest.fail("built")))
    assert_refused(path, "the config asks for more than 1,000 parameters")


def test_too_many_attributes(good_bytes, tmp_path, monkeypatch):
    monkeypatch.setattr(modelfile, "MAX_ATTRIBUTES", 10)  # the file has 10 label names
    path = tmp_path / "attrs.safetensors"
    path.write_bytes(
        edit_tensors(
            good_bytes,
            lambda a: a.update({f"attributes.a{i}": np.zeros(2, np.float32) for i in range(11)}),
        )
    )
    assert_refused(path, "more than 10 attribute directions")


def test_config_from_dict_refuses_enormous_numbers():
    """A float field given an int too large for a float is a ConfigError, not OverflowError."""

    @dataclass
    class Config:
        scale: float = bounded(1.0, 0.0, 10.0)

    assert config_from_dict(Config, {"scale": 2}).scale == 2.0
    for value in (10**400, float("inf"), float("nan"), True, "1", None, 11):
        with pytest.raises(ConfigError):
            config_from_dict(Config, {"scale": value})


# ----------------------------------------------------------------------------------------------
# Fuzzing: any corruption is either harmless or one ModelFileError


def test_fuzz_flipped_bytes_raise_only_model_file_errors(good_bytes, tmp_path):
    rng = np.random.default_rng(12345)
    header_end = 8 + struct.unpack("<Q", good_bytes[:8])[0]
    path = tmp_path / "fuzzed.safetensors"
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(200):
        # half the flips in the header, where a byte matters most; half anywhere
        position = int(rng.integers(header_end if i % 2 else len(good_bytes)))
        data = bytearray(good_bytes)
        if rng.random() < 0.5:
            data[position] ^= 1 << int(rng.integers(8))
        else:
            data[position] = int(rng.integers(256))
        path.write_bytes(bytes(data))
        try:
            loaded = load_model(path)
        except ModelFileError as exc:
            message = str(exc)
            assert message.startswith(f"{path.name}: ") and "\n" not in message, message
            outcomes["refused"] += 1
        else:
            assert all(torch.isfinite(p).all() for p in loaded.model.parameters())
            outcomes["loaded"] += 1
    assert outcomes["refused"] > 20 and outcomes["loaded"] > 20, outcomes


def test_fuzz_truncations(good_bytes, tmp_path):
    rng = np.random.default_rng(99)
    path = tmp_path / "cut.safetensors"
    for length in [0, 1, 7, 8, 9, *rng.integers(10, len(good_bytes), 40)]:
        path.write_bytes(good_bytes[:length])
        assert_refused(path, "truncated|empty|not JSON|not a safetensors")


# ----------------------------------------------------------------------------------------------
# Writing


def _other_model_args():
    model = make_tiny_vae(seed=3)
    meta = build_metadata(model, {"name": "digits", "size": 1}, {"command": "t"})
    return model, meta


@pytest.mark.parametrize("failure", ["replace", "write", "fsync", "interrupt"])
def test_failed_write_keeps_the_previous_file(failure, good_bytes, tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    path = folder / "model.safetensors"
    path.write_bytes(good_bytes)
    model, meta = _other_model_args()

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if failure == "replace":
        monkeypatch.setattr(modelfile.os, "replace", fail)
    elif failure == "fsync":
        monkeypatch.setattr(modelfile.os, "fsync", fail)
    else:  # the payload write dies halfway through
        real_fdopen = os.fdopen

        class HalfWriter:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, payload):
                self.f.write(payload[: len(payload) // 2])
                self.f.flush()
                if failure == "interrupt":
                    raise KeyboardInterrupt
                fail()

        monkeypatch.setattr(
            modelfile.os, "fdopen", lambda *a, **k: HalfWriter(real_fdopen(*a, **k))
        )

    expected = KeyboardInterrupt if failure == "interrupt" else OSError
    with pytest.raises(expected):
        save_model(path, model, meta)
    assert path.read_bytes() == good_bytes
    assert [p.name for p in folder.iterdir()] == ["model.safetensors"]  # no temp file left
    monkeypatch.undo()
    assert load_model(path).meta["dataset"]["size"] == 1797


def test_atomic_write_bytes_replaces_and_keeps_mode(tmp_path):
    path = tmp_path / "sub" / "out.bin"
    atomic_write_bytes(path, b"one")
    assert path.read_bytes() == b"one"
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's private 0600
        path.chmod(0o640)
    atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in path.parent.iterdir()] == ["out.bin"]


def test_save_refuses_nan_weights_and_leaves_no_file(tmp_path):
    model, meta = _other_model_args()
    with torch.no_grad():
        model.decoder.dense[0].weight[0, 0] = float("nan")
    path = tmp_path / "nan.safetensors"
    with pytest.raises(
        ModelFileError,
        match=r"^nan.safetensors: not saved: tensor "
        r"'model.decoder.dense.0.weight' has NaN or Inf",
    ):
        save_model(path, model, meta)
    assert list(tmp_path.iterdir()) == []

    path.write_bytes(b"previous")  # an existing file is left as it was
    with pytest.raises(ModelFileError, match="NaN or Inf"):
        save_model(path, model, meta)
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["nan.safetensors"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"attributes": {"smile": torch.tensor([1.0, float("inf")])}},
            "not saved: tensor 'attributes.smile' has NaN or Inf",
        ),
        (
            {"attributes": {"smile": torch.zeros(5)}},
            r"not saved: tensor 'attributes.smile' has shape \[5\], expected \[2\]",
        ),
        ({"attributes": {"": torch.zeros(2)}}, "not saved: attribute name '' is empty"),
        (
            {"reference": Reference(torch.zeros(4, 2), torch.zeros(3, 1, 8, 8))},
            "not saved: tensor 'reference.*' has shape",
        ),
        (
            {"reference": Reference(torch.full((3, 2), float("nan")), torch.zeros(3, 1, 8, 8))},
            "not saved: tensor 'reference.latents' has NaN",
        ),
        ({"meta": {"family": "vae"}}, "not saved: metadata field 'format_version' is missing"),
        ({"meta_edit": _set("config.latent_dim", 3)}, r"not saved: tensor .* has shape"),
        (
            {"meta_edit": _set("training.test_metric", {"name": "x", "value": float("nan")})},
            "not saved: the metadata is not plain JSON",
        ),
        ({"meta_edit": _set("dataset.when", object())}, "not saved: the metadata is not plain"),
    ],
    ids=[
        "inf-attribute",
        "attribute-shape",
        "attribute-name",
        "reference-shape",
        "nan-reference",
        "meta-incomplete",
        "meta-other-model",
        "meta-nan",
        "meta-not-json",
    ],
)
def test_save_refuses_what_load_would_refuse(kwargs, match, tmp_path):
    model = make_tiny_vae()
    meta = build_metadata(
        model,
        {"name": "digits", "size": 1},
        {"command": "t", "test_metric": {"name": "n", "value": 1.0}},
    )
    kwargs = dict(kwargs)
    meta = kwargs.pop("meta", meta)
    if "meta_edit" in kwargs:
        kwargs.pop("meta_edit")(meta)
    path = tmp_path / "refused.safetensors"
    with pytest.raises(ModelFileError, match=f"^refused.safetensors: {match}"):
        save_model(path, model, meta, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_read_metadata_does_not_build_the_model(good_bytes, tmp_path, monkeypatch):
    path = tmp_path / "meta.safetensors"
    path.write_bytes(good_bytes)
    expected = load_model(path).meta

    def forbidden(*args, **kwargs):
        raise AssertionError("read_metadata built the model or read its tensors")

    monkeypatch.setattr(modelfile.safetensors.torch, "load", forbidden)
    monkeypatch.setattr(VAE, "from_config", classmethod(forbidden))
    monkeypatch.setattr(VAE, "load_state_dict", forbidden)
    meta = read_metadata(path)
    assert meta == expected
    assert meta["family"] == "vae" and meta["config"]["latent_dim"] == 2
    assert meta["image"] == {"channels": 1, "height": 8, "width": 8, "levels": 17}
    assert meta["training"]["test_metric"]["value"] == -150.0
