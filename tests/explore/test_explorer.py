"""The Explorer, headless: undo over endpoints, the user's images, groups, and sessions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import write_tiny_vae

from latentlab.explore.explorer import Explorer, prepare, typical_residual
from latentlab.explore.plane import LatentPlane
from latentlab.explore.session import SessionError, read_session, write_session
from latentlab.modelfile import load_model


@pytest.fixture
def explorer(tmp_path):
    directions = {"smile": torch.ones(4), "glasses": torch.arange(4.0)}
    path = write_tiny_vae(tmp_path / "m.safetensors", latent_dim=4, attributes=directions)
    explorer = Explorer()
    explorer.open(prepare(load_model(path)))
    explorer.start_at(0.0, 0.0)
    return explorer


def test_the_map_centre_starts_on_a_typical_latent_not_the_mean():
    """In 100 Gaussian dimensions the mean has length about 1 where samples have about 10: a
    GAN decoded it to a black image. The start keeps the residual of the reference latent
    nearest the plane's origin."""
    latents = np.random.default_rng(0).standard_normal((500, 100))
    plane = LatentPlane.pca(latents)
    residual = typical_residual(plane, latents)
    start = plane.lift([[0.0, 0.0]], residual[None])[0]
    coordinates = plane.coordinates(latents)
    nearest = np.argmin((coordinates**2).sum(axis=1))
    np.testing.assert_allclose(plane.coordinates(start), [[0.0, 0.0]], atol=1e-9)
    # the nearest reference latent, moved within the plane to its centre
    distance = np.linalg.norm(start - latents[nearest])
    np.testing.assert_allclose(distance, np.linalg.norm(coordinates[nearest]), rtol=1e-9)
    assert 8 < np.linalg.norm(start) < 12 and np.linalg.norm(plane.origin) < 2
    assert typical_residual(plane, None) is None


def test_opening_a_model_starts_with_that_residual(explorer):
    residual = typical_residual(explorer.state.plane, explorer.reference_latents)
    np.testing.assert_array_equal(explorer.state.residual, residual)
    np.testing.assert_allclose(explorer.state.point, [0.0, 0.0])


def record(event):
    seen = []
    event.connect(lambda *args: seen.append(args))
    return seen


def test_opening_a_model_starts_afresh_on_its_pca_plane(explorer):
    assert explorer.has_latent and explorer.state.plane.kind == "pca"
    assert explorer.reference_latents.dtype == np.float64
    assert explorer.reference_points().shape == (30, 2)
    assert len(explorer.user_images) == 0 and explorer.endpoints == {}
    assert not explorer.history.can_undo


def test_undo_and_redo_cover_the_endpoints(explorer):
    changes = record(explorer.endpoints_changed)
    explorer.set_endpoint("A", None)
    explorer.move_to(1.0, 2.0)
    explorer.set_endpoint("B", None)
    b = explorer.endpoints["B"].latent.copy()
    assert explorer.can_walk and explorer.walk(5, spherical=False).shape == (5, 4)
    assert explorer.undo()  # the endpoint B goes
    assert set(explorer.endpoints) == {"A"} and not explorer.can_walk
    assert tuple(explorer.state.point) == (1.0, 2.0)  # the point stays where B was taken
    assert explorer.undo()  # the move
    assert tuple(explorer.state.point) == (0.0, 0.0)
    assert explorer.redo() and explorer.redo()
    np.testing.assert_array_equal(explorer.endpoints["B"].latent, b)
    assert [set(args[0]) for args in changes] == [{"A"}, {"A", "B"}, {"A"}, {"A", "B"}]


def test_the_users_images_are_kept_as_latents_and_projected_on_demand(explorer):
    rng = np.random.default_rng(0)
    latents = rng.normal(size=(3, 4))
    images = rng.random((3, 1, 8, 8)).astype(np.float32)
    explorer.add_user_images(["a", "b", "c"], images, latents)
    np.testing.assert_allclose(explorer.state.latent, latents[-1], atol=1e-12)  # the last
    plane = explorer.state.plane
    np.testing.assert_allclose(explorer.user_points(), plane.project(latents)[0])
    # dragging an image moves it on the plane and keeps its residual off it
    explorer.drag_user_image(0, 0.5, -0.25)
    moved = explorer.user_images.latents[0]
    ab, residual = plane.project(moved)
    np.testing.assert_allclose(ab[0], [0.5, -0.25], atol=1e-12)
    np.testing.assert_allclose(residual, plane.project(latents[0])[1], atol=1e-12)
    np.testing.assert_allclose(explorer.state.point, [0.5, -0.25])
    explorer.pick_user_image(0)
    np.testing.assert_allclose(explorer.state.latent, moved, atol=1e-12)


def test_a_direction_from_two_groups_of_reference_points(explorer):
    with pytest.raises(ValueError, match="name"):
        explorer.add_direction("")
    with pytest.raises(ValueError):
        explorer.add_direction("empty groups")
    names = record(explorer.directions_changed)
    explorer.take_group("A", [0, 1, 2])
    explorer.take_group("B", [5, 6])
    explorer.add_direction("mine")
    ref = explorer.reference_latents
    expected = ref[[5, 6]].mean(0) - ref[[0, 1, 2]].mean(0)
    direction = explorer.directions["mine"]
    np.testing.assert_allclose(
        direction / np.linalg.norm(direction), expected / np.linalg.norm(expected)
    )
    assert names == [(["glasses", "mine", "smile"],)]


def test_a_group_is_only_taken_from_the_models_own_reference_points(explorer):
    count = len(explorer.reference_latents)
    explorer.take_group("A", [0, 1])
    with pytest.raises(ValueError, match=f"{count} reference points"):
        explorer.take_group("A", [1, count])  # selected on another model's larger map
    with pytest.raises(ValueError, match="reference points"):
        explorer.take_group("B", [-1])
    assert explorer.groups["A"].tolist() == [0, 1] and "B" not in explorer.groups


def test_a_session_keeps_the_users_images_and_endpoints(explorer, tmp_path):
    rng = np.random.default_rng(1)
    images = rng.random((2, 1, 8, 8)).astype(np.float32)
    explorer.add_user_images(["x.png", "y.png"], images, rng.normal(size=(2, 4)))
    explorer.set_endpoint("A", images[0])
    explorer.set_amount("smile", 0.75)
    path = tmp_path / "s.latentlab-session.json"
    write_session(path, explorer.session())

    resumed = Explorer()
    resumed.open(prepare(load_model(explorer.loaded.path)))
    resumed.start_at(3.0, 3.0)
    resumed.resume(read_session(path))
    assert resumed.user_images.names == ("x.png", "y.png")
    np.testing.assert_array_equal(resumed.user_images.latents, explorer.user_images.latents)
    np.testing.assert_allclose(resumed.user_images.images, images, atol=0.5 / 255)
    np.testing.assert_allclose(resumed.state.latent, explorer.state.latent, atol=1e-12)
    np.testing.assert_array_equal(resumed.endpoints["A"].latent, explorer.endpoints["A"].latent)
    assert resumed.endpoints["A"].image is None  # decoded again by the app
    assert not resumed.history.can_undo


def test_a_session_that_does_not_fit_changes_nothing(explorer, tmp_path):
    path = tmp_path / "s.latentlab-session.json"
    explorer.set_amount("smile", 1.0)
    write_session(path, explorer.session())
    other = Explorer()
    small = write_tiny_vae(tmp_path / "small.safetensors", latent_dim=2)
    other.open(prepare(load_model(small)))
    other.start_at(0.5, 0.5)
    before = other.state.latent.copy()
    with pytest.raises(SessionError, match="latent of size 4, this model has 2"):
        other.resume(read_session(path))
    np.testing.assert_array_equal(other.state.latent, before)


def test_unsaved_work_is_named_until_a_file_holds_it(explorer, tmp_path):
    assert explorer.unsaved_work() == []
    explorer.take_group("A", [0, 1])
    explorer.take_group("B", [2, 3])
    explorer.add_direction("mine")
    assert explorer.unsaved_work() == ["the direction(s) mine added in the app"]
    explorer.saved_as(tmp_path / "copy.safetensors", ["glasses", "mine", "smile"])
    assert explorer.unsaved_work() == []
    made_in_app = Explorer()
    made_in_app.open(prepare(replace(explorer.loaded, path=None)))
    assert made_in_app.unsaved_work() == ["the vae model made in the app"]
    made_in_app.saved_as(tmp_path / "fitted.safetensors", [])
    assert made_in_app.unsaved_work() == [] and made_in_app.loaded.name == "fitted"


def test_a_late_signal_about_an_image_that_is_gone_changes_nothing(explorer):
    before = explorer.state.latent.copy()
    explorer.drag_user_image(4, 1.0, 1.0)  # the images went with the model that had them
    explorer.pick_user_image(4)
    np.testing.assert_array_equal(explorer.state.latent, before)
