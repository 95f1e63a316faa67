"""Autoregressive painting, headless: masks, pixels outside the mask kept, progress."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentlab.explore.painting import MASK_PRESETS, mask_preset, paint
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
            fraction, frame = next(steps)
        except StopIteration as stop:
            result = stop.value
            break
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
