"""The flow lab, headless: views, Jacobian readings against autograd, and the controls."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
import torch

from latentlab.data import DataError
from latentlab.data.toy2d import make_toy
from latentlab.explore.lab_flow import (
    FlowLab,
    FlowLabView,
    box_around,
    grid_lines,
    jacobian_at,
)
from latentlab.models.flow2d import FLOW2D_KINDS, Flow2D

pytestmark = pytest.mark.usefixtures("one_thread")  # small problems


def _lab(kind: str = "realnvp", layers: int = 4, n: int = 600, **kw) -> FlowLab:
    return FlowLab(make_toy("moons", n), kind, layers, hidden=16, resolution=24, **kw)


def test_box_holds_the_data_with_a_margin_and_is_square():
    points = make_toy("moons", 500)
    box = box_around(points)
    assert box.x0 < points[:, 0].min() and box.x1 > points[:, 0].max()
    assert box.y0 < points[:, 1].min() and box.y1 > points[:, 1].max()
    assert box.x1 - box.x0 == pytest.approx(box.y1 - box.y0)
    side = float((points.max(0) - points.min(0)).max())
    assert box.x1 - box.x0 == pytest.approx(1.3 * side)


def test_grid_lines_span_the_box():
    box = box_around(make_toy("rings", 200))
    lines = grid_lines(box, 5, 10)
    assert lines.shape == (10, 10, 2)
    assert lines[:5, :, 0].min() == pytest.approx(box.x0)
    assert lines[:5, 0, 1].max() == pytest.approx(box.y0)
    assert all(type(v) is float for v in (box.x0, box.x1, box.y0, box.y1))
    np.testing.assert_allclose(lines[5:, :, 1].min(1), np.linspace(box.y0, box.y1, 5), rtol=1e-6)


@pytest.mark.parametrize("kind", list(FLOW2D_KINDS))
def test_jacobian_reading_matches_autograd(kind):
    flow = Flow2D(kind, 3, hidden=16)
    flow.initialize(torch.from_numpy(make_toy("moons", 300)))
    with torch.no_grad():  # away from the identity, so that every entry matters
        for p in flow.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    flow.eval()
    point = (0.4, -0.3)
    x = torch.tensor(point)
    whole = torch.autograd.functional.jacobian(lambda v: flow(v[None])[0][0], x)
    for layer in range(len(flow.steps)):
        reading = jacobian_at(flow, point, layer)
        np.testing.assert_allclose(reading.whole, whole.numpy(), rtol=1e-5, atol=1e-6)
        with torch.no_grad():
            layer_input = x if layer == 0 else flow.forward_layers(x[None])[layer - 1][0][0]
        expected = torch.autograd.functional.jacobian(
            lambda v, layer=layer: flow.layer(layer)(v.view(1, 2, 1, 1))[0].flatten(),
            layer_input,
        )
        np.testing.assert_allclose(reading.layer_matrix, expected.numpy(), rtol=1e-5, atol=1e-6)
        step = flow.steps[layer]
        if step.copied is not None:  # the coupling's zero entry
            assert reading.layer_matrix[step.copied, step.transformed] == 0.0
        _, logabsdet = np.linalg.slogdet(reading.layer_matrix)
        assert reading.layer_logdet == pytest.approx(logabsdet, abs=1e-5)
    assert reading.whole_logdet == pytest.approx(np.linalg.slogdet(reading.whole)[1], abs=1e-5)
    assert reading.log_p == pytest.approx(reading.log_prior + reading.whole_logdet, abs=1e-6)
    with torch.no_grad():
        assert reading.log_p == pytest.approx(float(flow.log_prob(x[None])[0]), abs=1e-5)
        z = flow(x[None])[0][0]
    assert reading.z == pytest.approx(tuple(z.tolist()), abs=1e-6)
    assert reading.log_prior == pytest.approx(-0.5 * float(z @ z) - np.log(2 * np.pi), abs=1e-5)


def _take(run, count: int) -> list[FlowLabView]:
    return [view for _, view in itertools.islice(run, count)]


def test_run_yields_views_of_the_right_shapes():
    lab = _lab("glow", 2)
    lab.set_cursor((0.1, 0.2))
    run = lab.run(max_steps=10_000, frame_seconds=0.0)
    views = _take(run, 4)
    first = views[0]
    run.close()
    n = len(lab.shown_points)
    assert n == 600
    v = views[-1]
    assert v.density.shape == v.logdet.shape == (24, 24) and v.density.dtype == np.float32
    assert v.samples.shape == (500, 2)
    assert v.latent_points.shape == v.layer_points.shape == (n, 2)
    assert v.layer_grid.shape == (22, 64, 2)
    assert v.layer == len(lab.flow.steps) - 1 == 5
    assert v.layer_label == lab.flow.steps[-1].label and v.copied == 1 and v.transformed == 0
    assert v.jacobian is not None and v.jacobian.point == (0.1, 0.2)
    assert v.test_nll is not None and np.isfinite(v.test_nll)
    assert first.step == 0 and v.step > first.step and not v.paused and not v.finished
    assert v.loss_history.shape[1] == 2 and len(v.loss_history) >= 2
    np.testing.assert_allclose(v.latent_points, v.layer_points, rtol=1e-5, atol=1e-5)
    assert all(np.isfinite(a).all() for a in (v.density, v.logdet, v.samples))


def test_frames_refresh_the_heat_map_and_the_numbers_in_turn():
    lab = _lab()
    lab.set_cursor((0.1, 0.2))
    run = lab.run(max_steps=10_000, frame_seconds=0.0)
    frames = _take(run, 4)  # the heat map (and the first numbers), points, numbers, points
    first, second, third, fourth = frames
    assert all(later.step > earlier.step for earlier, later in itertools.pairwise(frames))
    assert first.density is second.density is third.density is fourth.density
    assert second.jacobian is first.jacobian and third.jacobian is not second.jacobian
    assert fourth.jacobian is third.jacobian
    assert second.test_step == first.step  # the step each was computed at
    assert fourth.test_step == third.test_step == third.step
    lab.set_cursor((0.3, 0.4))  # the numbers follow the cursor at once, on any frame
    (fifth,) = _take(run, 1)  # a heat frame
    run.close()
    assert fifth.density is not fourth.density
    assert fourth.jacobian.point == (0.1, 0.2) and fifth.jacobian.point == (0.3, 0.4)
    with torch.no_grad():
        expected = lab.flow.log_prob(torch.from_numpy(lab.box.cell_centres(24))).exp()
    assert lab.view().density == pytest.approx(expected.numpy().reshape(24, 24), rel=1e-4)


def test_run_ends_finished_after_max_steps():
    lab = _lab()
    run = lab.run(max_steps=30, frame_seconds=0.0)
    fractions = []
    while True:
        try:
            fraction, _ = next(run)
        except StopIteration as stop:
            last = stop.value
            break
        fractions.append(fraction)
    assert last.finished and last.step == lab.step == 30
    assert fractions == sorted(fractions) and fractions[-1] < 1


def test_views_come_at_most_every_frame_seconds_and_training_goes_on_between():
    lab = _lab()
    run = lab.run(max_steps=10_000, frame_seconds=0.02)
    views = _take(run, 6)
    run.close()
    assert all(b.step > a.step for a, b in itertools.pairwise(views))
    assert views[-1].steps_per_second > 0


def test_pause_stops_the_steps_while_views_keep_coming():
    lab = _lab()
    run = lab.run(max_steps=10_000, frame_seconds=0.01)
    _take(run, 2)
    lab.set_paused(True)
    paused = _take(run, 5)[1:]  # the first may have been computed before the pause
    assert all(v.paused for v in paused)
    assert len({v.step for v in paused}) == 1
    lab.set_layer(0)  # honoured while paused
    lab.set_cursor((0.0, 0.5))
    changed = _take(run, 2)[-1]
    assert changed.layer == 0 and changed.copied == 0 and changed.transformed == 1
    assert changed.jacobian is not None and changed.jacobian.point == (0.0, 0.5)
    assert changed.step == paused[-1].step
    lab.set_paused(False)
    resumed = _take(run, 3)[-1]
    assert not resumed.paused and resumed.step > changed.step
    run.close()


def test_layer_and_cursor_controls():
    lab = _lab("nice", 3)
    lab.set_layer(99)
    assert lab.view().layer == len(lab.flow.steps) - 1
    lab.set_layer(-4)
    view = lab.view()
    assert view.layer == 0 and view.jacobian is None
    with torch.no_grad():
        first = lab.flow.forward_layers(torch.from_numpy(lab.shown_points))[0][0].numpy()
    np.testing.assert_allclose(view.layer_points, first, atol=1e-6)
    lab.set_cursor((1.0, 1.0))
    assert lab.view().jacobian.point == (1.0, 1.0)
    lab.set_cursor(None)
    assert lab.view().jacobian is None


def test_controls_from_another_thread():
    lab = _lab()
    thread = threading.Thread(target=lambda: (lab.set_layer(1), lab.set_paused(True)))
    thread.start()
    thread.join()
    view = lab.view()
    assert view.layer == 1 and view.paused


def test_closing_the_run_leaves_the_lab_usable():
    lab = _lab()
    run = lab.run(max_steps=10_000, frame_seconds=0.0)
    _take(run, 3)
    run.close()
    step = lab.step
    view = lab.view()
    assert view.step == step and np.isfinite(view.density).all()
    more = lab.run(max_steps=step + 5, frame_seconds=0.0)
    for _ in more:
        pass
    assert lab.step == step + 5


def test_training_lowers_the_test_nll():
    lab = _lab(n=1000)
    before = lab.test_nll()
    for _ in range(200):
        lab.train_step()
    assert lab.test_nll() < before - 0.2


def test_density_view_matches_log_prob():
    lab = _lab()
    for _ in range(20):
        lab.train_step()
    view = lab.view()
    centres = torch.from_numpy(view.box.cell_centres(24))
    with torch.no_grad():
        expected = lab.flow.log_prob(centres).exp().numpy().reshape(24, 24)
    np.testing.assert_allclose(view.density, expected, rtol=1e-4, atol=1e-7)
    # row = y, column = x
    assert centres[1, 0] > centres[0, 0] and centres[24, 1] > centres[0, 1]


def test_bad_points_are_refused():
    with pytest.raises(DataError):
        FlowLab(np.zeros((1, 2), np.float32), "realnvp", 2)
    with pytest.raises(DataError):
        FlowLab(np.array([[0, 0], [np.nan, 1]], np.float32), "realnvp", 2)
    small = FlowLab(np.array([[0, 0], [1, 1]], np.float32), "realnvp", 2)
    assert small.test_points is None and small.view().test_nll is None


def test_glow_views_follow_the_training():
    """Views run without gradients, where actnorm and the 2x2 mixing are applied from cached
    matrices: the cache must follow every optimiser step."""
    lab = _lab("glow", 2)
    lab.view()  # fills the caches
    for _ in range(5):
        lab.train_step()
    view = lab.view()
    centres = torch.from_numpy(view.box.cell_centres(24))
    lab.flow.eval()
    with torch.enable_grad():  # the layers one by one, from their parameters
        expected = lab.flow.log_prob(centres).exp().detach().numpy().reshape(24, 24)
    np.testing.assert_allclose(view.density, expected, rtol=1e-4, atol=1e-7)
