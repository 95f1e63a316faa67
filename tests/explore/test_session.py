"""Session files: a round trip, and every way one can be bad."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from helpers import error_reading_in_a_child

from latentlab.explore.plane import LatentPlane, PlaneInputs, make_plane
from latentlab.explore.session import Session, SessionError, read_session, write_session
from latentlab.explore.state import ExploreState
from latentlab.explore.user_images import UserImages


@pytest.fixture
def session(tmp_path):
    rng = np.random.default_rng(0)
    directions = {"smile": rng.normal(size=6), "glasses": rng.normal(size=6)}
    state = ExploreState(LatentPlane.pca(rng.normal(size=(40, 6))), directions)
    state.move_to(0.5, -1.25)
    state.set_plane(
        make_plane(
            "attributes",
            "smile",
            "glasses",
            inputs=PlaneInputs(state.latent, directions=directions),
        )
    )
    state.set_amount("smile", 1.5)
    endpoints = {"A": rng.normal(size=6), "B": rng.normal(size=6)}
    images = UserImages(
        ("a.png", "b.png"),
        rng.integers(0, 256, size=(2, 1, 4, 4)).astype(np.float32) / 255,
        rng.normal(size=(2, 6)),
    )
    model = (tmp_path / "model.safetensors").resolve()
    return Session(model, state.snapshot(), endpoints, images), state


def test_a_session_comes_back_as_it_was(session, tmp_path):
    saved, state = session
    path = tmp_path / "s.latentlab-session.json"
    write_session(path, saved)
    read = read_session(path)
    assert read.model == saved.model and read.model.is_absolute()
    restored = ExploreState(LatentPlane.axes(6), state.directions)
    restored.restore(read.snapshot)
    np.testing.assert_allclose(restored.latent, state.latent, atol=1e-12)
    assert restored.plane.kind == "attributes"
    assert restored.plane.axis_labels == ("smile", "glasses")
    assert restored.amounts == {"smile": 1.5, "glasses": 0.0}
    for k in "AB":
        np.testing.assert_array_equal(read.endpoints[k], saved.endpoints[k])
    assert read.images.names == ("a.png", "b.png")
    np.testing.assert_array_equal(read.images.images, saved.images.images)  # 8-bit exactly
    np.testing.assert_array_equal(read.images.latents, saved.images.latents)
    read.check_fits(6, ["glasses", "smile"], (1, 4, 4))
    with pytest.raises(SessionError, match="latent of size 6, this model has 8"):
        read.check_fits(8, ["glasses", "smile"], (1, 4, 4))
    with pytest.raises(SessionError, match="no attribute direction 'smile'"):
        read.check_fits(6, ["glasses"], (1, 4, 4))
    with pytest.raises(SessionError, match="images are 1x4x4, this model's are 3x4x4"):
        read.check_fits(6, ["glasses", "smile"], (3, 4, 4))


def edit(document, dotted, value):
    *parents, last = dotted.split(".")
    for key in parents:
        document = document[key]
    if value is KeyError:
        del document[last]
    else:
        document[last] = value


BAD = {
    "format": ("format", "notebook", "not a LatentLab session"),
    "version": ("version", 2, "session version 2 is not supported"),
    "no-model": ("model", KeyError, "names no model file"),
    "plane-missing": ("plane", KeyError, "the plane is missing"),
    "origin-nan": ("plane.origin", [float("nan")] * 6, "plane origin is not a list of finite"),
    "origin-huge-int": ("plane.origin", [10**400] * 6, "plane origin is not a list of finite"),
    "u-short": ("plane.u", [1.0, 0.0], "vectors differ in size"),
    "u-not-unit": ("plane.u", [2.0, 0, 0, 0, 0, 0], "not orthonormal"),
    "labels": ("plane.axis_labels", ["x"], "axis labels are not two strings"),
    "kind": ("plane.kind", "spiral", "kind or name is not valid"),
    "point": ("point", [1.0], "the point is not two numbers"),
    "point-strings": ("point", ["1", "2"], "point is not a list of finite numbers"),
    "amounts": ("amounts", {"smile": "lots"}, "amounts are not names with numbers"),
    "amounts-bool": ("amounts", {"smile": True}, "amounts are not names with numbers"),
    "endpoints": ("endpoints", {"C": [0.0] * 6}, "endpoints are not A and B"),
    "residual": ("residual", None, "residual is not a list"),
    "images": ("images", [], "not a table of names"),
    "image-names": ("images.names", ["a.png", 3], "names are not a list of strings"),
    "image-name-long": ("images.names", ["a.png", "x" * 300], "longer than 255"),
    "image-latents": ("images.latents", [[0.0] * 6], "latents do not match their names"),
    "image-latent-nan": ("images.latents", [[0.0] * 6, [float("nan")] * 6], "image latent"),
    "image-latent-sizes": ("images.latents", [[0.0] * 6, [0.0] * 5], "differ in size"),
    "image-shape": ("images.shape", [2, 2, 4, 4], "shape is not N, channels"),
    "image-shape-huge": ("images.shape", [2, 1, 10**6, 4], "shape is not N, channels"),
    "image-pixels": ("images.pixels", "@@@", "not base64"),
    "image-pixels-short": ("images.pixels", "AAAA", "do not match their shape"),
    # finite but far outside any latent space: they would decode to NaN images
    "point-huge": ("point", [1e308, 0.0], r"the point has a coordinate beyond ±10000"),
    "point-just-beyond": ("point", [0.0, -10000.5], "point has a coordinate beyond"),
    "origin-huge": ("plane.origin", [0.0] * 5 + [2e4], "plane origin has a coordinate beyond"),
    "u-huge": ("plane.u", [1e308] + [0.0] * 5, "plane u has a coordinate beyond"),
    "residual-huge": ("residual", [1e308] * 6, "residual has a coordinate beyond"),
    "residual-huge-int": ("residual", [10**300] * 6, "residual has a coordinate beyond"),
    "endpoint-huge": ("endpoints.A", [0.0] * 5 + [-1e308], "endpoint A has a coordinate"),
    "image-latent-huge": ("images.latents", [[0.0] * 6, [1e5] * 6], "image latent has a"),
    "amount-huge": ("amounts", {"smile": 1e308}, r"numbers within ±100"),
    "amount-beyond": ("amounts", {"smile": -100.5}, "numbers within"),
    "version-true": ("version", True, "session version True is not supported"),
    "version-float": ("version", 1.0, "session version 1.0 is not supported"),
    "version-long": ("version", "v" * 10**6, "session version 'vvvv"),
    "model-nul": ("model", "/models/a\0b.safetensors", "model file's path .* is not a valid path"),
    "model-long": ("model", "m" * 5000, "is not a valid path"),
    "label-long": ("plane.axis_labels", ["x" * 256, "y"], "at most 255 characters"),
    "plane-name-long": ("plane.name", "p" * 256, "kind or name is not valid"),
    "amount-name-long": ("amounts", {"s" * 256: 1.0}, "amounts are not names"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_session_is_refused_with_one_line(session, tmp_path, case):
    path = tmp_path / "s.latentlab-session.json"
    write_session(path, session[0])
    document = json.loads(path.read_text())
    key, value, message = BAD[case]
    edit(document, key, value)
    path.write_text(json.dumps(document))
    with pytest.raises(SessionError, match=message) as info:
        read_session(path)
    assert str(info.value).startswith("s.latentlab-session.json: ")
    assert "\n" not in str(info.value) and len(str(info.value)) < 200


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xff\xfe not text", "not JSON"),
        (b"[1, 2", "not JSON"),
        (b"[]", "not a LatentLab"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    ],
)
def test_files_that_are_not_sessions(tmp_path, content, message):
    path = tmp_path / "x.latentlab-session.json"
    path.write_bytes(content)
    with pytest.raises(SessionError, match=message):
        read_session(path)
    with pytest.raises(SessionError, match="no such file"):
        read_session(tmp_path / "missing.json")


def test_an_integer_python_will_not_read_is_not_json(session, tmp_path):
    """Python refuses to parse integers of more than 4300 digits (a bare ValueError)."""
    path = tmp_path / "s.latentlab-session.json"
    write_session(path, session[0])
    text = path.read_text().replace('"version": 1', '"version": 1' + "0" * 5000)
    path.write_text(text)
    with pytest.raises(SessionError, match="not a LatentLab session \\(not JSON\\)"):
        read_session(path)


def test_paths_that_are_not_session_files(tmp_path):
    with pytest.raises(SessionError, match="this is a folder, not a session file"):
        read_session(tmp_path)
    with pytest.raises(SessionError, match="NUL"):
        read_session(tmp_path / "a\0b.latentlab-session.json")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_is_not_read(tmp_path):
    """Reading a pipe would wait for a writer for ever; the child is killed after 20 s."""
    pipe = tmp_path / "s.latentlab-session.json"
    os.mkfifo(pipe)
    said = error_reading_in_a_child(
        "latentlab.explore.session", "read_session", "SessionError", "sys.argv[1]", pipe
    )
    assert said == "s.latentlab-session.json: not a regular file"
