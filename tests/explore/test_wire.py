"""Messages as bytes without pickle: the lab's commands and views come back as they went, and
anything but a known kind with valid fields is refused."""

from __future__ import annotations

import dataclasses
import json
import math
import struct

import numpy as np
import pytest

from latentlab.explore.lab_flow import Box, FlowLabView, JacobianReading
from latentlab.explore.lab_messages import (
    COMMANDS,
    REPLIES,
    Built,
    Controls,
    Ended,
    Fit,
    Quit,
    Viewed,
)
from latentlab.explore.wire import WireError, decode, encode
from latentlab.models.flow2d import Flow2DStep


def _view(reading: JacobianReading | None) -> FlowLabView:
    rng = np.random.default_rng(0)
    return FlowLabView(
        step=12,
        train_nll=math.nan,  # no batch yet
        test_nll=None,
        test_step=0,
        loss_history=np.zeros((0, 2)),
        box=Box(-1.5, 2.0, -0.25, 3.25),
        density=rng.random((6, 6), dtype=np.float32),
        logdet=np.full((6, 6), -np.inf, dtype=np.float32),
        samples=rng.random((5, 2), dtype=np.float32),
        latent_points=rng.random((7, 2), dtype=np.float32),
        layer=3,
        layer_label="coupling 2 (affine)",
        layer_points=rng.random((7, 2), dtype=np.float32),
        layer_grid=rng.random((4, 3, 2), dtype=np.float32),
        copied=None,
        transformed=1,
        jacobian=reading,
        steps_per_second=0.0,
        paused=True,
        finished=False,
    )


READING = JacobianReading(
    point=(0.5, -0.25),
    layer=3,
    whole=np.array([[1.0, 0.0], [0.3, 2.0]]),
    layer_matrix=np.eye(2),
    whole_logdet=0.693,
    layer_logdet=0.0,
    log_prior=-1.9,
    log_p=-1.2,
    z=(0.1, 0.2),
)


def _assert_same(a, b) -> None:
    assert type(a) is type(b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif dataclasses.is_dataclass(a):
        for field in dataclasses.fields(a):
            _assert_same(getattr(a, field.name), getattr(b, field.name))
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


@pytest.mark.parametrize(
    "message",
    [
        Viewed(3, 0.25, _view(READING)),
        Viewed(4, None, _view(None)),
        Ended(5, None),
        Built(6, [Flow2DStep("actnorm"), Flow2DStep("coupling 1", 0, 1)], np.ones((3, 2))),
    ],
    ids=["view", "asked-for view", "stopped", "built"],
)
def test_replies_come_back_as_they_went(message):
    back = decode(encode(message), REPLIES)
    _assert_same(message, back)


def test_commands_come_back_as_they_went():
    points = np.arange(20, dtype=np.float32).reshape(10, 2)
    for message in (
        Fit(1, points, "glow", 4, 3000, Controls(False, (0.5, 0.25), 11)),
        Controls(True, None, 0),
        Quit(),
    ):
        _assert_same(message, decode(encode(message), COMMANDS))


def test_arrays_come_back_as_copies_of_their_own():
    data = bytearray(encode(Ended(1, _view(None))))
    back = decode(bytes(data), REPLIES).view
    assert back.density.flags.writeable and back.density.flags.owndata


def _tampered(message, change) -> bytes:
    """``message`` encoded with its header changed by ``change`` (a function of the header)."""
    data = encode(message)
    (length,) = struct.unpack_from("<I", data)
    header = change(json.loads(data[4 : 4 + length]))
    raw = json.dumps(header).encode()
    return struct.pack("<I", len(raw)) + raw + data[4 + length :]


def _set(header, path, value):
    target = header
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return header


MESSAGE = Viewed(2, 0.5, _view(READING))


REFUSED = {
    "a command where a reply is due": (encode(Quit()), "unknown kind"),
    "an unknown kind": (_tampered(MESSAGE, lambda h: _set(h, ["kind"], "Exec")), "unknown kind"),
    "a string for an int": (_tampered(MESSAGE, lambda h: _set(h, ["fields", "fit"], "2")), "fit"),
    "a bool for a float": (
        _tampered(MESSAGE, lambda h: _set(h, ["fields", "fraction"], True)),
        "fraction",
    ),
    "a float for an int": (
        _tampered(MESSAGE, lambda h: _set(h, ["fields", "view", "step"], 1.5)),
        "step",
    ),
    "no box": (_tampered(MESSAGE, lambda h: _set(h, ["fields", "view", "box"], None)), "Box"),
    "a field too many": (
        _tampered(MESSAGE, lambda h: _set(h, ["fields", "extra"], 1)),
        "wrong fields",
    ),
    "objects": (_tampered(MESSAGE, lambda h: _set(h, ["arrays", 0, 0], "|O")), "description"),
    "a larger array": (_tampered(MESSAGE, lambda h: _set(h, ["arrays", 0, 1], [10**6])), "short"),
    "a missing array": (
        _tampered(MESSAGE, lambda h: _set(h, ["fields", "view", "density"], {"__array__": 99})),
        "array reference",
    ),
    "a byte short": (encode(MESSAGE)[:-1], "shorter"),
    "a byte over": (encode(MESSAGE) + b"\0", "longer"),
    "no header": (encode(MESSAGE)[:3], "shorter"),
    "a bad header": (struct.pack("<I", 2) + b"{]", "bad header"),
}


@pytest.mark.parametrize(("data", "said"), REFUSED.values(), ids=REFUSED.keys())
def test_anything_else_is_refused(data, said):
    with pytest.raises(WireError, match=said):
        decode(data, REPLIES)


def test_only_plain_values_and_numeric_arrays_are_sent():
    with pytest.raises(TypeError):
        encode(Ended(1, object()))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dtype"):
        encode(Built(1, [], np.array(["x"])))
