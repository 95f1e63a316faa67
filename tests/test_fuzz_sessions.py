"""Fuzzing session files: every mutation of a valid session is either read as a session that
decodes to finite images, or refused with one short SessionError line. Seeded, so a failure
always comes back."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from helpers import make_tiny_vae

from latentlab.explore import ops
from latentlab.explore.plane import LatentPlane
from latentlab.explore.session import Session, SessionError, read_session, write_session
from latentlab.explore.state import ExploreState
from latentlab.explore.user_images import UserImages

SEED = 20240611
CASES = 300
LATENT_DIM = 6
RAW = "\x00raw token\x00"  # stands in for a JSON token that json.dumps cannot write

TYPE_SWAPS = [None, True, False, 0, -1, 2.5, "", "text", [], {}, [0.0, 1.0], {"a": 1}]
HUGE = [1e308, -1e308, 10**400, 10_001.0, -(2**64), 1e4 + 1e-9]
RAW_TOKENS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    "1" + "0" * 5000,  # more digits than Python's int parser takes: a bare ValueError
    "[" * 50_000 + "]" * 50_000,  # deeper than the decoder can recurse
    '"\\ud800"',  # a lone surrogate
    '"a\\u0000b"',  # a NUL character
]


@pytest.fixture(scope="module")
def model():
    return make_tiny_vae(latent_dim=LATENT_DIM)


@pytest.fixture(scope="module")
def directions():
    rng = np.random.default_rng(1)
    return {"smile": rng.normal(size=LATENT_DIM), "glasses": rng.normal(size=LATENT_DIM)}


@pytest.fixture(scope="module")
def valid_document(tmp_path_factory, directions):
    rng = np.random.default_rng(0)
    state = ExploreState(LatentPlane.pca(rng.normal(size=(40, LATENT_DIM))), directions)
    state.move_to(0.5, -1.25)
    state.set_amount("smile", 1.5)
    images = UserImages(
        ("a.png", "b.png"),
        rng.integers(0, 256, size=(2, 1, 8, 8)).astype(np.float32) / 255,
        rng.normal(size=(2, LATENT_DIM)),
    )
    endpoints = {"A": rng.normal(size=LATENT_DIM), "B": rng.normal(size=LATENT_DIM)}
    path = tmp_path_factory.mktemp("valid") / "s.latentlab-session.json"
    write_session(
        path, Session(path.with_name("m.safetensors"), state.snapshot(), endpoints, images)
    )
    return json.loads(path.read_text())


def node_paths(node, prefix=()):
    """The path of every value in a JSON document, the document itself first."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from node_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from node_paths(value, (*prefix, index))


def mutate(document, rng):
    """A copy of ``document`` with one random part changed, as the text of a file."""
    document = json.loads(json.dumps(document))
    paths = list(node_paths(document))
    where = paths[int(rng.integers(1, len(paths)))]
    *parents, last = where
    parent = document
    for key in parents:
        parent = parent[key]
    raw = None
    kind = int(rng.integers(10))
    if kind == 0:
        parent[last] = TYPE_SWAPS[int(rng.integers(len(TYPE_SWAPS)))]
    elif kind == 1:
        parent[last] = HUGE[int(rng.integers(len(HUGE)))]
    elif kind == 2:
        raw = RAW_TOKENS[int(rng.integers(len(RAW_TOKENS)))]
        parent[last] = RAW
    elif kind == 3:  # nested deeply, but not too deeply to parse
        value = [float(rng.normal())]
        for _ in range(int(rng.integers(2, 300))):
            value = [value]
        parent[last] = value
    elif kind == 4:
        del parent[last]
    elif kind in (5, 8, 9):  # a plausible number: many of these sessions are fine
        parent[last] = float(np.round(rng.normal(scale=3), 3))
    elif kind == 6:
        parent[last] = "x" * int(rng.integers(200, 5000))
    else:  # damage the text itself
        text = json.dumps(document).encode()
        position = int(rng.integers(len(text)))
        if rng.random() < 0.5:
            return text[:position]
        return text[:position] + bytes([int(rng.integers(256))]) + text[position + 1 :]
    text = json.dumps(document)
    return (text.replace(json.dumps(RAW), raw) if raw else text).encode()


def assert_one_line(exc, path):
    message = str(exc)
    assert message.startswith(f"{path.name}: ") and "\n" not in message, message
    assert len(message) < 300, message[:400]


def decodes_to_finite_images(session, model, directions):
    """Restore ``session`` as the app does and decode where it is: images in [0, 1]."""
    state = ExploreState(session.snapshot.plane, directions)
    state.restore(session.snapshot)
    latents = [state.latent, *session.endpoints.values()]
    if session.images is not None:
        latents.extend(session.images.latents)
    with torch.inference_mode():
        images = ops.decode(model, np.stack(latents))
    return bool(np.isfinite(images).all() and images.min() >= 0 and images.max() <= 1)


def test_mutated_sessions_are_read_or_refused_in_one_line(
    valid_document, model, directions, tmp_path
):
    rng = np.random.default_rng(SEED)
    path = tmp_path / "fuzz.latentlab-session.json"
    outcomes = {"refused": 0, "does not fit": 0, "restored": 0}
    for case in range(CASES):
        path.write_bytes(mutate(valid_document, rng))
        try:
            session = read_session(path)
        except SessionError as exc:
            assert_one_line(exc, path)
            outcomes["refused"] += 1
            continue
        try:
            session.check_fits(LATENT_DIM, sorted(directions), (1, 8, 8))
        except SessionError as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 300
            outcomes["does not fit"] += 1
            continue
        assert decodes_to_finite_images(session, model, directions), f"case {case}"
        outcomes["restored"] += 1
    # the mutations reach both sides of every check
    assert outcomes["refused"] > 100 and outcomes["restored"] > 30, outcomes
    assert outcomes["does not fit"] > 5, outcomes


def test_the_valid_session_decodes(valid_document, model, directions, tmp_path):
    """The fuzzer's starting point is a good session, so a refusal is the mutation's doing."""
    path = tmp_path / "s.latentlab-session.json"
    path.write_text(json.dumps(valid_document))
    session = read_session(path)
    session.check_fits(LATENT_DIM, sorted(directions), (1, 8, 8))
    assert decodes_to_finite_images(session, model, directions)


def test_a_50_megabyte_string_is_quoted_in_a_few_characters(valid_document, tmp_path):
    document = dict(valid_document, version="v" * 50_000_000)
    path = tmp_path / "big.latentlab-session.json"
    path.write_text(json.dumps(document))
    start = time.perf_counter()
    with pytest.raises(SessionError, match=r"session version 'v+\.\.\. is not supported") as info:
        read_session(path)
    assert len(str(info.value)) < 120
    assert time.perf_counter() - start < 5
