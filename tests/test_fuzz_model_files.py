"""Fuzzing the LatentLab metadata inside model files, and hostile paths: ``load_model`` and
``read_metadata`` raise only ModelFileError, in one short line, whatever they are given.
(Byte flips and truncations of whole files are fuzzed in test_modelfile.py.)"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from helpers import write_tiny_vae

from latentlab.modelfile import ModelFileError, load_model, read_metadata

SEED = 31
CASES = 120
VALUES = [None, True, 0, -1, 2.5, 1e308, 10**400, "", "x" * 5000, [], {}, [[[[1]]]], {"a": []}]
RAW_TOKENS = ["NaN", "-Infinity", "1e999", "9" * 5000, "[" * 50_000 + "]" * 50_000]
RAW = "\x00raw token\x00"


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """The header (as a dict) and the tensor bytes of a good tiny model file."""
    data = write_tiny_vae(tmp_path_factory.mktemp("m") / "tiny.safetensors").read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + size]), data[8 + size :]


def with_metadata(header, body, text):
    header = dict(header, __metadata__={"latentlab": text})
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


def mutated_metadata(meta, rng):
    """The metadata's JSON text with one random value replaced, or a key removed."""
    meta = json.loads(json.dumps(meta))
    paths, stack = [], [((), meta)]
    while stack:
        prefix, node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            paths.append((*prefix, key))
            if isinstance(value, (dict, list)):
                stack.append(((*prefix, key), value))
    *parents, last = paths[int(rng.integers(len(paths)))]
    parent = meta
    for key in parents:
        parent = parent[key]
    raw = None
    choice = rng.random()
    if choice < 0.15:
        del parent[last]
    elif choice < 0.35:
        raw = RAW_TOKENS[int(rng.integers(len(RAW_TOKENS)))]
        parent[last] = RAW
    else:
        parent[last] = VALUES[int(rng.integers(len(VALUES)))]
    text = json.dumps(meta)
    return text.replace(json.dumps(RAW), raw) if raw else text


def test_mutated_metadata_is_refused_in_one_line_or_loads(good, tmp_path):
    header, body = good
    meta = json.loads(header["__metadata__"]["latentlab"])
    rng = np.random.default_rng(SEED)
    path = tmp_path / "fuzzed.safetensors"
    refused = 0
    for _ in range(CASES):
        path.write_bytes(with_metadata(header, body, mutated_metadata(meta, rng)))
        for reader in (read_metadata, load_model):
            try:
                reader(path)
            except ModelFileError as exc:
                message = str(exc)
                assert message.startswith(f"{path.name}: ") and "\n" not in message, message
                assert len(message) < 400, message
                refused += 1
    assert refused > CASES  # most mutations are refused by both readers


@pytest.mark.parametrize("reader", [read_metadata, load_model])
def test_hostile_paths_are_model_file_errors(reader, tmp_path):
    for path, match in [
        (tmp_path / "a\0b.safetensors", "NUL"),
        (tmp_path, "this is a folder, not a model file"),
        (tmp_path / "missing.safetensors", "no such file"),
    ]:
        with pytest.raises(ModelFileError, match=match) as info:
            reader(path)
        assert "\n" not in str(info.value)
