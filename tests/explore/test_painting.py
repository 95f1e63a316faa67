"""Autoregressive painting, headless: masks, pixels outside the mask kept, progress."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from helpers import run_to_end

from latentlab.explore.painting import MASK_PRESETS, Pace, PaintStep, mask_preset, paint
from latentlab.models.pixelrnn import PixelRNN, PixelRNNConfig


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return PixelRNN(PixelRNNConfig(hidden=8, layers=1)).eval()


def test_mask_presets():
    assert mask_preset("all", 8, 6).all() and not mask_preset("none", 8, 6).any()
    bottom = mask_preset("bottom half", 8, 6)
    assert not bottom[:4].any() and bottom[4:].all()
    right = mask_preset("right half", 8, 6)
    assert not right[:, :3].any() and right[:, 3:].all()
    centre = mask_preset("centre", 8, 8)
    assert centre.sum() == 16 and centre[2:6, 2:6].all()
    assert set(MASK_PRESETS) == {"all", "bottom half", "right half", "centre", "none"}
    with pytest.raises(ValueError, match="unknown mask"):
        mask_preset("left", 8, 8)


def test_paint_fills_only_the_mask_one_pixel_per_step(model):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 17, size=(1, 8, 8)).astype(np.float32) / 16
    mask = mask_preset("centre", 8, 8)
    steps = paint(model, image, mask, n=3, seed=5)
    frames = []
    while True:
        try:
            fraction, step = next(steps)
        except StopIteration as stop:
            result = stop.value
            break
        frame = step.images
        frames.append(frame)
        assert frame.shape == (3, 1, 8, 8)
        np.testing.assert_array_equal(
            frame[:, 0][:, ~mask], np.broadcast_to(image[0][~mask], (3, 48))
        )
    assert len(frames) == mask.sum() == 16 and fraction == 1.0
    np.testing.assert_array_equal(result[:, 0][:, ~mask], np.broadcast_to(image[0][~mask], (3, 48)))
    np.testing.assert_allclose(result * 16, np.round(result * 16), atol=1e-5)  # on the grid
    again = paint(model, image, mask, n=3, seed=5)
    while True:
        try:
            next(again)
        except StopIteration as stop:
            np.testing.assert_array_equal(stop.value, result)  # the same seed, the same result
            break


def test_paint_refuses_bad_input(model):
    with pytest.raises(ValueError, match="mask is empty"):
        next(paint(model, np.zeros((1, 8, 8), np.float32), np.zeros((8, 8), bool)))
    with pytest.raises(ValueError, match="expected an image 1x8x8"):
        next(paint(model, np.zeros((3, 8, 8), np.float32), np.ones((8, 8), bool)))


def test_each_step_carries_the_distribution_of_the_pixel_drawn(model):
    image = np.zeros((1, 8, 8), np.float32)
    mask = mask_preset("bottom half", 8, 8)
    yielded, result = run_to_end(paint(model, image, mask, n=2, seed=3))
    steps = [step for _, step in yielded]
    assert all(isinstance(step, PaintStep) for step in steps)
    assert [step.position for step in steps] == [(i, j) for i in range(4, 8) for j in range(8)]
    for step in steps:
        i, j = step.position
        assert step.probabilities.shape == (2, 1, model.levels)
        np.testing.assert_allclose(step.probabilities.sum(axis=2), 1.0, rtol=1e-9)
        assert (step.probabilities >= 0).all()
        painted = np.rint(step.images[:, :, i, j] * (model.levels - 1)).astype(int)
        np.testing.assert_array_equal(step.levels, painted)  # the level drawn is the one painted
    np.testing.assert_array_equal(steps[-1].images, result)


def test_the_distribution_is_the_models_conditional(model):
    """The first pixel of a blank image filled from scratch: p(x_0) is the softmax of the
    model's logits at (0, 0), which see nothing."""
    image = np.zeros((1, 8, 8), np.float32)
    _, step = next(paint(model, image, mask_preset("all", 8, 8), n=1))
    with torch.no_grad():
        expected = model(torch.zeros(1, 1, 8, 8))[0, 0, :, 0, 0].double().softmax(0).numpy()
    np.testing.assert_allclose(step.probabilities[0, 0], expected, rtol=1e-4, atol=1e-6)


def test_step_mode_paints_exactly_one_pixel_per_request(model):
    pace = Pace("step")
    steps = paint(model, np.zeros((1, 8, 8), np.float32), mask_preset("all", 8, 8), pace=pace)
    for _ in range(3):  # no request: it only yields None (waiting), drawing nothing
        assert next(steps) is None
    for drawn in (1, 2, 3):
        pace.step()
        fraction, step = next(steps)
        assert fraction == drawn / 64 and step.position == divmod(drawn - 1, 8)
        assert next(steps) is None  # and then waits for the next request
    pace.set_mode("fast")
    _, result = run_to_end(steps)
    assert result.shape == (4, 1, 8, 8)


def test_a_step_from_another_thread_wakes_the_waiting_painting():
    pace = Pace("step")
    threading.Timer(0.02, pace.step).start()
    assert pace.next_pixel(0.0, timeout_s=5.0)  # woken well before the timeout
    assert not pace.next_pixel(0.0, timeout_s=0.01)  # one request, one pixel


def test_slow_mode_waits_between_pixels():
    pace = Pace("slow", slow_s=0.2)
    assert pace.next_pixel(0.0)  # the first pixel at once
    assert not pace.next_pixel(0.0, timeout_s=0.05)
    pace.set_mode("fast")
    assert pace.next_pixel(0.0, timeout_s=0.05)
    with pytest.raises(ValueError, match="unknown pace"):
        pace.set_mode("warp")
