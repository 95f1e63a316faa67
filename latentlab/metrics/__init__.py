"""Sample-quality metrics: a small CNN trained on real images (the judge) and the scores
computed from its outputs (FID- and inception-style); precision and recall; the pixel-kernel
MMD (latentlab.metrics.mmd).

Pure numpy and torch; benchmarks/sample_quality.py drives them on Fashion-MNIST,
benchmarks/faces_samples.py on the synthetic faces.
"""

from __future__ import annotations

from latentlab.metrics.judge import (
    Judge,
    JudgeFileError,
    cached_judge,
    judge_outputs,
    load_judge,
    save_judge,
    train_judge,
    training_key,
)
from latentlab.metrics.manifold import precision_recall
from latentlab.metrics.scores import (
    GaussianFit,
    frechet_distance,
    gap_closed,
    gaussian_fit,
    gaussian_pixels,
    inception_score,
)

__all__ = [
    "GaussianFit",
    "Judge",
    "JudgeFileError",
    "cached_judge",
    "frechet_distance",
    "gap_closed",
    "gaussian_fit",
    "gaussian_pixels",
    "inception_score",
    "judge_outputs",
    "load_judge",
    "precision_recall",
    "save_judge",
    "train_judge",
    "training_key",
]
