"""Undo and redo of the exploration state."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.explore.history import History
from latentlab.explore.plane import LatentPlane
from latentlab.explore.state import ExploreState


@pytest.fixture
def state():
    rng = np.random.default_rng(0)
    plane = LatentPlane.pca(rng.normal(size=(50, 5)))
    return ExploreState(plane, {"smile": rng.normal(size=5)})


def test_undo_and_redo_walk_the_checkpoints(state):
    history = History(state)
    assert not history.can_undo and not history.can_redo
    latents = [state.latent.copy()]
    for a in (1.0, 2.0, 3.0):
        state.move_to(a, -a)
        history.checkpoint()
        latents.append(state.latent.copy())
    for expected in reversed(latents[:-1]):
        assert history.undo()
        np.testing.assert_allclose(state.latent, expected)
    assert not history.undo() and not history.can_undo
    for expected in latents[1:]:
        assert history.redo()
        np.testing.assert_allclose(state.latent, expected)
    assert not history.redo()


def test_undo_mid_gesture_goes_back_to_its_start_and_a_new_action_drops_redo(state):
    history = History(state)
    start = state.latent.copy()
    for a in np.linspace(0, 2, 10):  # a drag not yet let go
        state.move_to(a, a)
    assert history.can_undo
    assert history.undo()
    np.testing.assert_allclose(state.latent, start)
    assert history.can_redo
    state.move_to(-1, 0)
    history.checkpoint()
    assert not history.can_redo and not history.redo()


def test_planes_and_amounts_come_back_with_their_events(state):
    history = History(state)
    seen = {"plane": [], "amounts": []}
    state.plane_changed.connect(seen["plane"].append)
    state.amounts_changed.connect(seen["amounts"].append)
    first_plane = state.plane
    state.set_amount("smile", 1.5)
    history.checkpoint()
    state.set_plane(LatentPlane.axes(5, 2, 3))
    history.checkpoint()
    z = state.latent.copy()
    assert history.undo()
    assert state.plane is first_plane and seen["plane"][-1] is first_plane
    np.testing.assert_allclose(state.latent, z)  # a change of plane keeps the latent
    assert history.undo()
    assert state.amounts == {"smile": 0.0} and seen["amounts"][-1] == {"smile": 0.0}
    assert history.redo() and state.amounts == {"smile": 1.5}


def test_history_keeps_at_most_its_limit(state):
    history = History(state, limit=3)
    for a in range(10):
        state.move_to(a, 0)
        history.checkpoint()
    assert history.undo() and history.undo()
    assert not history.undo()
    assert tuple(state.point) == (7, 0)
