from __future__ import annotations

import re

import numpy as np
import pytest

from latentlab.explore.interpolate import interpolation_path
from latentlab.explore.plane import PLANE_KINDS, LatentPlane, PlaneInputs, make_plane
from latentlab.explore.state import ExploreState, default_plane


@pytest.fixture
def latents():
    rng = np.random.default_rng(0)
    return rng.normal(size=(200, 6)) * np.array([5, 3, 1, 0.5, 0.2, 0.1]) + 2


def test_pca_plane_is_orthonormal_and_spans_the_largest_variance(latents):
    plane = LatentPlane.pca(latents)
    assert plane.u @ plane.u == pytest.approx(1)
    assert plane.v @ plane.v == pytest.approx(1)
    assert plane.u @ plane.v == pytest.approx(0, abs=1e-12)
    assert abs(plane.u[0]) > 0.95 and abs(plane.v[1]) > 0.95
    np.testing.assert_allclose(plane.origin, latents.mean(axis=0))


def test_pca_of_fewer_latents_than_dimensions_finds_the_svds_axes():
    """Fewer points than dimensions (a reference of 300 latents of 3,072) take the Gram
    matrix's way; the axes are the SVD's, up to sign."""
    rng = np.random.default_rng(3)
    latents = rng.normal(size=(40, 300)) * np.linspace(3.0, 0.1, 300)
    plane = LatentPlane.pca(latents)
    axes = np.linalg.svd(latents - latents.mean(axis=0), full_matrices=False)[2][:2]
    assert abs(plane.u @ axes[0]) == pytest.approx(1, abs=1e-9)
    assert abs(plane.v @ axes[1]) == pytest.approx(1, abs=1e-9)
    assert plane.u @ plane.v == pytest.approx(0, abs=1e-12)
    on_a_line = np.outer(np.arange(3.0), np.ones(10))  # rank one: any second axis
    line = LatentPlane.pca(on_a_line)
    assert abs(line.u @ np.ones(10) / np.sqrt(10)) == pytest.approx(1)
    assert line.u @ line.v == pytest.approx(0, abs=1e-12)
    assert np.linalg.norm(line.v) == pytest.approx(1)


def test_project_then_lift_gives_back_every_latent_exactly(latents):
    plane = LatentPlane.pca(latents)
    ab, residual = plane.project(latents)
    np.testing.assert_allclose(plane.lift(ab, residual), latents, atol=1e-12)
    # residuals are orthogonal to the plane
    np.testing.assert_allclose(residual @ plane.u, 0, atol=1e-12)
    np.testing.assert_allclose(residual @ plane.v, 0, atol=1e-12)


def test_axes_plane_and_through_plane():
    plane = LatentPlane.axes(4, 1, 3)
    np.testing.assert_array_equal(plane.lift([[2.0, -1.0]])[0], [0, 2, 0, -1])
    with pytest.raises(ValueError):
        LatentPlane.axes(4, 2, 2)
    through = LatentPlane.through(np.zeros(3), np.array([1.0, 1, 0]), np.array([1.0, 0, 0]), "t")
    assert through.u @ through.v == pytest.approx(0)
    with pytest.raises(ValueError, match="parallel"):
        LatentPlane.through(np.zeros(3), np.array([1.0, 0, 0]), np.array([2.0, 0, 0]), "t")


def test_default_plane_uses_the_latent_itself_when_it_is_2d(latents):
    assert default_plane(2, latents[:, :2]).name.startswith("latent axes")
    assert default_plane(6, latents).name.startswith("PCA")
    assert default_plane(6, None).name.startswith("latent axes")


def test_state_keeps_the_residual_while_moving(latents):
    state = ExploreState(LatentPlane.pca(latents))
    seen = []
    state.point_changed.connect(seen.append)
    state.set_latent(latents[7])
    np.testing.assert_allclose(state.latent, latents[7], atol=1e-12)
    state.move_to(*(state.point + np.array([1.0, 0.0])))
    np.testing.assert_allclose(state.latent - latents[7], state.plane.u, atol=1e-12)
    assert len(seen) == 2
    new_plane = LatentPlane.axes(6)
    state.set_plane(new_plane)
    np.testing.assert_allclose(state.latent, seen[-1], atol=1e-12)


def test_linear_and_spherical_paths():
    a, b = np.array([3.0, 0.0]), np.array([0.0, 1.0])
    lin = interpolation_path(a, b, 5)
    np.testing.assert_allclose(lin[[0, -1]], [a, b])
    np.testing.assert_allclose(lin[2], (a + b) / 2)
    slerp = interpolation_path(a, b, 5, spherical=True)
    np.testing.assert_allclose(slerp[[0, -1]], [a, b], atol=1e-12)
    norms = np.linalg.norm(slerp, axis=1)
    np.testing.assert_allclose(norms, np.linspace(3, 1, 5))  # norms interpolate linearly
    angles = np.arctan2(slerp[:, 1], slerp[:, 0])
    np.testing.assert_allclose(np.diff(angles), np.pi / 8)  # constant angular speed
    with pytest.raises(ValueError):
        interpolation_path(a, b, 1)


def test_attribute_amounts_move_the_latent_and_reset_on_a_new_base(latents):
    d = np.zeros(6)
    d[5] = 1.0
    state = ExploreState(LatentPlane.pca(latents), {"smile": d})
    resets = []
    state.amounts_changed.connect(resets.append)
    state.set_latent(latents[3])
    state.set_amount("smile", 2.0)
    np.testing.assert_allclose(state.latent, latents[3] + 2 * d, atol=1e-12)
    state.move_to(*(state.point + np.array([0.5, 0.0])))  # edits stay while dragging
    np.testing.assert_allclose(state.latent - state.base_latent, 2 * d, atol=1e-12)
    state.set_edit_mask(np.zeros(6, dtype=bool))
    np.testing.assert_allclose(state.latent, state.base_latent)
    state.set_edit_mask(None)
    state.set_latent(latents[4])  # a new base clears the edits
    assert resets == [{"smile": 0.0}]
    np.testing.assert_allclose(state.latent, latents[4], atol=1e-12)
    with pytest.raises(KeyError):
        state.set_amount("frown", 1.0)


def test_attribute_plane_goes_through_the_current_latent_along_the_directions(latents):
    rng = np.random.default_rng(1)
    current = latents[0]
    directions = {"smiling": rng.normal(size=6), "glasses": rng.normal(size=6)}
    plane = make_plane(
        "attributes", "smiling", "glasses", inputs=PlaneInputs(current, directions=directions)
    )
    assert plane.kind == "attributes" and plane.axis_labels == ("smiling", "glasses")
    ab, residual = plane.project(current)
    np.testing.assert_allclose(ab, [[0, 0]], atol=1e-12)
    np.testing.assert_allclose(residual, 0, atol=1e-12)
    unit = directions["smiling"] / np.linalg.norm(directions["smiling"])
    np.testing.assert_allclose(plane.lift([[1.5, 0]]) - current, 1.5 * unit[None], atol=1e-12)
    glasses_only = plane.lift([[0.0, 1.0]])[0] - current  # orthogonal to smiling, in the span
    assert glasses_only @ unit == pytest.approx(0, abs=1e-12)
    basis = np.stack([directions["smiling"], directions["glasses"]], axis=1)
    coefficients = np.linalg.lstsq(basis, glasses_only, rcond=None)[0]
    np.testing.assert_allclose(basis @ coefficients, glasses_only, atol=1e-12)


def test_plane_through_three_images_holds_each_of_them_exactly(latents):
    images = latents[:5]
    plane = make_plane("images", inputs=PlaneInputs(latents[9], images=images))
    ab, residual = plane.project(images[-3:])
    np.testing.assert_allclose(residual, 0, atol=1e-10)
    np.testing.assert_allclose(ab[0], [0, 0], atol=1e-12)
    assert plane.kind == "images"


def test_other_planes_and_what_cannot_be_made(latents):
    assert make_plane("pca", inputs=PlaneInputs(latents[0], reference=latents)).kind == "pca"
    axes = make_plane("axes", "2", "4", inputs=PlaneInputs(latents[0]))
    assert axes.kind == "axes" and axes.axis_labels == ("z2", "z4")
    directions = {"a": np.ones(6), "b": -np.ones(6)}
    for kind, x, y, kwargs, message in [
        ("pca", "", "", {}, "no reference set"),
        ("attributes", "a", "a", {"directions": directions}, "two different"),
        ("attributes", "a", "c", {"directions": directions}, "pick two attribute"),
        ("attributes", "a", "b", {"directions": {"a": np.ones(6)}}, "fewer than two attribute"),
        ("attributes", "a", "b", {"directions": directions}, "parallel"),
        ("axes", "1", "1", {}, "two different axes"),
        ("images", "", "", {"images": latents[:2]}, "three of your images"),
        ("spiral", "", "", {}, "unknown kind"),
    ]:
        with pytest.raises(ValueError, match=message):
            make_plane(kind, x, y, inputs=PlaneInputs(latents[0], **kwargs))


def test_every_kind_of_plane_says_what_it_needs_when_it_cannot_be_made(latents):
    nothing = PlaneInputs(latents[0])
    everything = PlaneInputs(
        latents[0], latents, {"a": np.ones(6), "b": np.arange(6.0)}, latents[:3]
    )
    for kind in PLANE_KINDS.values():
        assert kind.available(everything), kind.name
        x, y = {"attributes": ("a", "b"), "latent axes": ("0", "1")}.get(kind.axes, ("", ""))
        assert make_plane(kind.name, x, y, inputs=everything).kind == kind.name
        if not kind.available(nothing):
            with pytest.raises(ValueError, match=re.escape(kind.needs)):
                make_plane(kind.name, x, y, inputs=nothing)
    assert [k.name for k in PLANE_KINDS.values() if not k.available(nothing)] == [
        "pca",
        "attributes",
        "images",
    ]


def test_a_plane_through_the_same_point_twice_is_refused(latents):
    same = np.stack([latents[0], latents[0], latents[1]])
    with pytest.raises(ValueError, match="two of its points are the same"):
        make_plane("images", inputs=PlaneInputs(latents[2], images=same))
    with pytest.raises(ValueError, match="zero"):
        make_plane(
            "attributes",
            "a",
            "b",
            inputs=PlaneInputs(latents[0], directions={"a": np.zeros(6), "b": np.ones(6)}),
        )


def test_a_plane_holds_only_its_own_three_vectors():
    """Planes are kept by undo (up to 200): a view into a D x D matrix made each one hold it."""
    dim = 512
    rng = np.random.default_rng(0)
    planes = [
        LatentPlane.axes(dim, 3, 7),
        LatentPlane.pca(rng.normal(size=(40, dim))),
        LatentPlane.through(np.zeros(dim), rng.normal(size=dim), rng.normal(size=dim), "p"),
    ]
    for plane in planes:
        for vector in (plane.origin, plane.u, plane.v):
            assert vector.base is None or vector.base.size <= dim, plane.name


def test_coordinates_are_the_projections_without_residuals():
    rng = np.random.default_rng(7)
    plane = LatentPlane.through(rng.normal(size=12), rng.normal(size=12), rng.normal(size=12), "p")
    z = rng.normal(size=(50, 12))
    np.testing.assert_allclose(plane.coordinates(z), plane.project(z)[0], atol=1e-12)
    # float32 latents (a model's reference set) are projected in float32, to its precision
    single = plane.coordinates(z.astype(np.float32))
    assert single.dtype == np.float64
    np.testing.assert_allclose(single, plane.project(z)[0], atol=1e-5)


def test_a_planes_choices_make_it_again():
    rng = np.random.default_rng(0)
    inputs = PlaneInputs(
        rng.normal(size=6),
        reference=rng.normal(size=(20, 6)),
        directions={"smiling": rng.normal(size=6), "glasses": rng.normal(size=6)},
    )
    for kind, x, y in (("axes", "3", "5"), ("attributes", "glasses", "smiling"), ("pca", "", "")):
        plane = make_plane(kind, x, y, inputs=inputs)
        assert plane.choices() == (x, y)
        again = make_plane(kind, *plane.choices(), inputs=inputs)
        np.testing.assert_array_equal(again.u, plane.u)
        np.testing.assert_array_equal(again.v, plane.v)
