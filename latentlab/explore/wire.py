"""Messages between processes as bytes, without pickle: a message is a dataclass whose fields
are plain values (None, bool, int, float, str), NumPy arrays, tuples, lists and other such
dataclasses. It travels as a small JSON header (its kind, its fields with each array replaced by
a reference, each array's dtype and shape) followed by the arrays' raw bytes; the receiver
accepts only the kinds it knows and checks every field against its dataclass's annotations
before building anything (pickle would run whatever code the bytes name).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import struct
import types
import typing
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["WireError", "decode", "encode"]

_LENGTH = struct.Struct("<I")  # the header's length in bytes
_ARRAY = "__array__"  # the key of an array's reference in the header
# dtypes an array may have on the wire: little-endian numbers (the lab's views and points)
_DTYPES = frozenset({"<f4", "<f8", "<i4", "<i8", "|u1", "|b1"})


class WireError(ValueError):
    """The bytes are not a message of a known kind with valid fields."""


def encode(message: Any) -> bytes:
    """``message`` (a dataclass instance) as bytes for :func:`decode`."""
    if not dataclasses.is_dataclass(message) or isinstance(message, type):
        raise TypeError(f"not a dataclass instance: {message!r}")
    arrays: list[np.ndarray] = []
    fields = _plain(message, arrays)
    described = [[a.dtype.str, list(a.shape)] for a in arrays]
    header = json.dumps({"kind": type(message).__name__, "fields": fields, "arrays": described})
    raw = header.encode()
    return b"".join([_LENGTH.pack(len(raw)), raw, *(a.tobytes() for a in arrays)])


def _plain(value: Any, arrays: list[np.ndarray]) -> Any:
    """``value`` as JSON values, its arrays appended to ``arrays`` and referred to by index."""
    if isinstance(value, np.ndarray):
        array = value.astype(value.dtype.newbyteorder("<"), copy=False)
        if array.dtype.str not in _DTYPES:
            raise TypeError(f"an array of dtype {value.dtype} cannot be sent")
        arrays.append(np.ascontiguousarray(array))
        return {_ARRAY: len(arrays) - 1}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name), arrays) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(item, arrays) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot send a {type(value).__name__}")


def decode(data: bytes, kinds: Mapping[str, type]) -> Any:
    """The message in ``data``, of one of ``kinds`` (name → dataclass); raises
    :class:`WireError` if it is anything else."""
    view = memoryview(data)
    if len(view) < _LENGTH.size:
        raise WireError("a message shorter than its header's length")
    (length,) = _LENGTH.unpack_from(view)
    start = _LENGTH.size + length
    if start > len(view):
        raise WireError("a message shorter than its header")
    try:
        header = json.loads(bytes(view[_LENGTH.size : start]))
        kind, fields, described = header["kind"], header["fields"], header["arrays"]
    except (ValueError, KeyError, TypeError) as exc:
        raise WireError(f"a bad header: {exc}") from exc
    cls = kinds.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise WireError(f"an unknown kind of message: {kind!r}")
    arrays = _arrays(view[start:], described)
    return _build(cls, _with_arrays(fields, arrays))


def _arrays(data: memoryview, described: Any) -> list[np.ndarray]:
    """The arrays described by the header (``[dtype, shape]`` each), read from ``data``, which
    they must fill exactly; each a copy, so that none holds on to the message."""
    if not isinstance(described, list):
        raise WireError("a bad list of arrays")
    arrays, offset = [], 0
    for entry in described:
        if not (
            isinstance(entry, list)
            and len(entry) == 2
            and entry[0] in _DTYPES
            and isinstance(entry[1], list)
            and all(type(n) is int and n >= 0 for n in entry[1])
        ):
            raise WireError(f"a bad array description: {entry!r}")
        dtype, shape = np.dtype(entry[0]), tuple(entry[1])
        size = dtype.itemsize * int(np.prod(shape))
        if offset + size > len(data):
            raise WireError("a message shorter than its arrays")
        flat = np.frombuffer(data[offset : offset + size], dtype=dtype)
        arrays.append(flat.reshape(shape).copy())
        offset += size
    if offset != len(data):
        raise WireError("a message longer than its arrays")
    return arrays


def _with_arrays(value: Any, arrays: list[np.ndarray]) -> Any:
    """The header's fields with each array's reference replaced by the array."""
    if isinstance(value, dict):
        if set(value) == {_ARRAY}:
            index = value[_ARRAY]
            if type(index) is not int or not 0 <= index < len(arrays):
                raise WireError(f"a bad array reference: {index!r}")
            return arrays[index]
        return {key: _with_arrays(item, arrays) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_arrays(item, arrays) for item in value]
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(cls: type, fields: Any) -> Any:
    """An instance of the dataclass ``cls`` from ``fields``, which must name exactly its
    fields, each a value its annotation allows."""
    hints = _hints(cls)
    if not isinstance(fields, dict) or set(fields) != set(hints):
        raise WireError(f"{cls.__name__} with the wrong fields")
    return cls(**{name: _typed(hint, fields[name], name) for name, hint in hints.items()})


def _typed(hint: Any, value: Any, name: str) -> Any:
    """``value`` as the type ``hint`` says (a list as a tuple, an int as a float), or
    :class:`WireError`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        for option in args:
            try:
                return _typed(option, value, name)
            except WireError:
                continue
    elif hint is type(None):
        if value is None:
            return None
    elif origin is tuple:
        if isinstance(value, list) and len(value) == len(args):
            return tuple(_typed(a, v, name) for a, v in zip(args, value, strict=True))
    elif origin is list:
        if isinstance(value, list):
            return [_typed(args[0], v, name) for v in value]
    elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value)
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint in (bool, str, np.ndarray):
        if isinstance(value, hint):
            return value
    else:
        raise TypeError(f"field {name}: {hint} cannot come over the wire")
    raise WireError(f"field {name}: {type(value).__name__} is not {hint}")
