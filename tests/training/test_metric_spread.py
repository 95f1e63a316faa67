"""The likelihood trainers log how their test bits/dim spread over the test images: the mean
is the published metric, and one image far outside what the model learned can move it."""

from __future__ import annotations

import math

import pytest
import torch

from training.common import Run, evaluate_bits_per_dim


class GivenScores:
    """A model whose images' bits/dim are their first pixel's value."""

    image_shape = (1, 2, 2)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return -x[:, 0, 0, 0] * 4 * math.log(2)


def test_the_spread_is_logged_with_the_worst_image(capsys):
    images = torch.tensor([1.0, 2.0, 3.0, 100.0]).reshape(4, 1, 1, 1).expand(4, 1, 2, 2)
    mean = evaluate_bits_per_dim(Run(torch.device("cpu")), GivenScores(), images)
    assert mean == pytest.approx((1.0 + 2.0 + 3.0 + 100.0) / 4)
    err = capsys.readouterr().err
    # the 99th percentile interpolates between the two largest: 3 + 0.97 * 97
    line = "median 2.500, 99th percentile 97.090, worst 100.000 (test image 3)"
    assert f"test bits/dim per image: {line}" in err, err
