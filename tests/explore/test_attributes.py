from __future__ import annotations

import numpy as np
import pytest

from latentlab.explore.attributes import (
    apply_directions,
    binarize,
    classifier_direction,
    group_direction,
    mean_difference_direction,
    spread_along,
    spreads_along,
)


@pytest.fixture
def labelled():
    rng = np.random.default_rng(0)
    has = rng.random(400) < 0.5
    true = np.zeros(8)
    true[2] = 3.0
    latents = rng.normal(size=(400, 8)) + np.where(has[:, None], true, 0.0)
    return latents, has, true


def test_mean_difference_recovers_the_offset(labelled):
    latents, has, true = labelled
    direction = mean_difference_direction(latents, has)
    np.testing.assert_allclose(direction, true, atol=0.35)


def test_classifier_direction_points_the_same_way_with_the_same_gap(labelled):
    latents, has, true = labelled
    direction = classifier_direction(latents, has)
    cos = direction @ true / (np.linalg.norm(direction) * np.linalg.norm(true))
    assert cos > 0.95
    assert np.linalg.norm(direction) == pytest.approx(3.0, rel=0.15)


def test_moving_along_a_direction_changes_the_classification(labelled):
    latents, has, _ = labelled
    direction = mean_difference_direction(latents, has)
    moved = apply_directions(latents[~has], {"a": direction}, {"a": 1.0})
    # projected on the direction, the moved negatives sit where the positives are
    proj = lambda x: x @ direction  # noqa: E731
    assert proj(moved).mean() == pytest.approx(proj(latents[has]).mean(), rel=0.02)


def test_mask_limits_the_edit_to_some_dimensions():
    z = np.zeros(4)
    out = apply_directions(
        z, {"d": np.ones(4)}, {"d": 2.0}, mask=np.array([True, False, True, False])
    )
    np.testing.assert_array_equal(out, [2, 0, 2, 0])
    np.testing.assert_array_equal(apply_directions(z, {"d": np.ones(4)}, {"d": 0.0}), z)


def test_binarize_and_groups_and_errors():
    np.testing.assert_array_equal(binarize(np.array([0.0, 1, 1, 0])), [False, True, True, False])
    np.testing.assert_array_equal(
        binarize(np.array([0.1, 0.9, 0.5, 0.2])),  # median 0.35
        [False, True, True, False],
    )
    np.testing.assert_allclose(group_direction(np.zeros((2, 3)), np.ones((3, 3))), np.ones(3))
    with pytest.raises(ValueError, match="same mean"):
        group_direction(np.ones((2, 3)), np.ones((1, 3)))
    with pytest.raises(ValueError, match="both with and without"):
        mean_difference_direction(np.zeros((3, 2)), np.array([True, True, True]))


def test_spread_along_is_one_standard_deviation_of_the_latents_in_amount_units():
    rng = np.random.default_rng(0)
    latents = rng.normal(size=(5000, 3)) * np.array([2.0, 0.5, 1.0])
    # along the first axis the spread is 2; a direction of length 4 moves 4 per amount
    assert spread_along(latents, np.array([4.0, 0.0, 0.0])) == pytest.approx(0.5, rel=0.03)
    assert spread_along(latents, np.array([0.0, 0.5, 0.0])) == pytest.approx(1.0, rel=0.03)
    assert spread_along(None, np.ones(3)) == 1.0  # nothing to measure against
    assert spread_along(latents, np.zeros(3)) == 1.0
    assert spread_along(np.ones((4, 3)), np.ones(3)) == 1.0  # no spread


def test_spreads_along_many_directions_are_each_ones_in_the_latents_precision():
    rng = np.random.default_rng(1)
    latents = rng.normal(size=(300, 5)) * np.arange(1.0, 6.0)
    directions = [rng.normal(size=5), np.zeros(5), np.eye(5)[4] * 3.0]
    spreads = [spread_along(latents, d) for d in directions]
    assert spreads_along(latents, directions) == pytest.approx(spreads, rel=1e-12)
    # float32 latents (a model's reference set) stay float32 and agree to their precision
    assert spreads_along(latents.astype(np.float32), directions) == pytest.approx(spreads, rel=1e-5)
    assert spreads[1] == 1.0 and spreads[2] == pytest.approx(5.0 / 3.0, rel=0.1)
    assert spreads_along(latents, []) == []
    assert spreads_along(None, directions) == [1.0, 1.0, 1.0]
