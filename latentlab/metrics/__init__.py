"""Sample-quality metrics for 28x28 grey images: a small classifier trained on real images
(the judge) and the scores computed from its outputs (FID- and inception-style).

Pure numpy and torch; benchmarks/sample_quality.py drives them on Fashion-MNIST.
"""

from __future__ import annotations

from latentlab.metrics.judge import (
    Judge,
    JudgeFileError,
    judge_outputs,
    load_judge,
    save_judge,
    train_judge,
    training_key,
)
from latentlab.metrics.scores import (
    GaussianFit,
    frechet_distance,
    gap_closed,
    gaussian_fit,
    inception_score,
)

__all__ = [
    "GaussianFit",
    "Judge",
    "JudgeFileError",
    "frechet_distance",
    "gap_closed",
    "gaussian_fit",
    "inception_score",
    "judge_outputs",
    "load_judge",
    "save_judge",
    "train_judge",
    "training_key",
]
