"""Samples of the synthetic-face models beside held-out faces: the Glow at several temperatures
and the DCGAN, scored in the feature space of a judge trained on real faces, and on pixels.

    python benchmarks/faces_samples.py [MODEL.safetensors ...] [--samples 1000]
        [--temperatures 0.5,0.7,0.85,1] [--seed 0] [--judge-epochs 5] [--no-cache]
        [--grid DIR] [--quick]

The judge (latentlab.metrics.judge) is a small CNN trained, seeded, on the 10,000 training faces
of latentlab.data.synthfaces, never on a model's samples, to predict each face's nine attributes
(smiling, glasses, hair colour, ...); its held-out correlation per attribute is printed. It is
kept in the cache folder as benchmarks/sample_quality.py keeps its judge. Each row draws
--samples faces, scored against the test faces (drawn from a seed that training never used):

- FID: the Frechet distance between Gaussian fits of the judge's features (its penultimate
  layer) of the samples and of the test faces; lower is better. "gap closed" places it between
  the baseline's (0) and real faces' (1).
- precision and recall (latentlab.metrics.manifold) in the same features: the share of samples
  that fall among real faces (fidelity), and of real faces that fall among the samples
  (variety). A flow at a temperature below 1 gives up variety for fidelity.
- MMD²: the pixel-kernel MMD² that selects and scores the DCGAN (latentlab.metrics.mmd), on raw
  pixels, which rewards blur: look at the grids too (--grid DIR: a PNG of 64 faces per row).

Rows: "real" is as many training faces (what a perfect sampler gets); "baseline" samples an
independent Gaussian per pixel fitted on the training faces, clipped to [0, 1]; then each model
given (by default every bundled model of 3x32x32 faces), sampled as the app samples
(latentlab.explore.ops.sample), a flow at each --temperatures value and any other model at its
own. --quick is a smoke run: the judge trained 1 epoch on 1,000 faces, 100 faces per row,
T = 0.7 only, no cache; its figures are rough.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from latentlab.data.images import save_png
from latentlab.data.synthfaces import ATTRIBUTES, synthfaces_split
from latentlab.explore import ops
from latentlab.explore.images import image_grid
from latentlab.metrics import (
    cached_judge,
    frechet_distance,
    gap_closed,
    gaussian_fit,
    gaussian_pixels,
    judge_outputs,
    precision_recall,
)
from latentlab.metrics.mmd import median_distance, mmd2
from latentlab.modelfile import LoadedModel, load_model, read_metadata
from latentlab.resources import bundled_models

IMAGE_SHAPE = (3, 32, 32)
FLOWS = ("nice", "realnvp", "glow")
TEST_FACES = 1000  # the test split's size
QUICK_TRAIN, QUICK_SAMPLES = 1000, 100
GRID_IMAGES, GRID_COLUMNS, GRID_ZOOM = 64, 8, 2


def choose_models(files: list[Path]) -> list[LoadedModel]:
    """The given model files, or the bundled models of 3x32x32 images."""
    paths = files or [
        path
        for path in bundled_models().values()
        if tuple(read_metadata(path)["image"][k] for k in ("channels", "height", "width"))
        == IMAGE_SHAPE
    ]
    models = [load_model(p) for p in paths]
    for loaded in models:
        if loaded.model.image_shape != IMAGE_SHAPE:
            raise SystemExit(f"{loaded.name}: its images are not 3x32x32")
    return models


def attributes(dataset_attributes: dict[str, np.ndarray]) -> np.ndarray:
    """The faces' attributes as values ``N, 9``, in ``ATTRIBUTES`` order."""
    return np.stack([dataset_attributes[name] for name in ATTRIBUTES], axis=1)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="*", type=Path, help="model files of 3x32x32 faces")
    parser.add_argument("--samples", type=int, default=TEST_FACES, help="faces per row")
    parser.add_argument(
        "--temperatures", default="0.5,0.7,0.85,1", help="a flow's sampling temperatures"
    )
    parser.add_argument("--seed", type=int, default=0, help="judge training and samples")
    parser.add_argument("--judge-epochs", type=int, default=5, help="the judge's training epochs")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor keep the judge")
    parser.add_argument("--grid", type=Path, metavar="DIR", help="write a PNG grid per row")
    parser.add_argument("--quick", action="store_true", help="a smoke run (rough figures)")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.temperatures = QUICK_SAMPLES, "0.7"
        args.judge_epochs, args.no_cache = 1, True
    if not 4 <= args.samples <= TEST_FACES:
        parser.error(f"--samples must be in 4..{TEST_FACES}")
    try:
        args.temperatures = [float(t) for t in args.temperatures.split(",")]
    except ValueError:
        parser.error("--temperatures takes numbers separated by commas")
    if not all(t > 0 for t in args.temperatures):
        parser.error("--temperatures must be positive")
    return args


def draw(
    models: list[LoadedModel], n: int, temperatures: list[float], seed: int
) -> Iterator[tuple[str, np.ndarray, float]]:
    """(name, faces, seconds) per row of the models."""
    for loaded in models:
        flow = loaded.model.family in FLOWS
        for t in temperatures if flow else [loaded.model.default_temperature]:
            start = time.perf_counter()
            _, images = ops.sample(loaded.model, n, t, seed)
            seconds = time.perf_counter() - start
            name = f"{loaded.name} T={t:g}" if flow else loaded.name
            yield name, np.nan_to_num(images, nan=0.0, posinf=1.0, neginf=0.0), seconds


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    models = choose_models(args.models)
    n = args.samples
    split = synthfaces_split(n_train=QUICK_TRAIN if args.quick else 10_000, n_validation=1)
    train, test = split.train.as_float(), split.test.as_float()[:n]
    judge, how = cached_judge(
        train, attributes(split.train.attributes), args.judge_epochs, args.seed, not args.no_cache
    )
    test_features, predicted = judge_outputs(judge, test)
    truth = attributes(split.test.attributes)[:n]
    r = [np.corrcoef(predicted[:, i], truth[:, i])[0, 1] for i in range(len(ATTRIBUTES))]
    print(f"judge: {how}; held-out correlation per attribute {min(r):.2f} to {max(r):.2f}")
    reference = gaussian_fit(test_features)
    real_faces = torch.from_numpy(test)
    scale = median_distance(real_faces)
    rows = [
        ("real (training faces)", train[:n], None),
        (
            "baseline (pixel Gaussians)",
            gaussian_pixels(split.train.images, split.train.levels, n, args.seed),
            None,
        ),
        *draw(models, n, args.temperatures, args.seed),
    ]
    scores = []
    for _, images, _ in rows:
        features = judge_outputs(judge, images)[0]
        fid = frechet_distance(gaussian_fit(features), reference)
        fidelity = precision_recall(torch.from_numpy(test_features), torch.from_numpy(features))
        scores.append((fid, *fidelity, mmd2(torch.from_numpy(images), real_faces, scale)))
    real, baseline = scores[0][0], scores[1][0]
    width = max(len(name) for name, _, _ in rows)
    print(f"{n} faces per row against {n} held-out faces")
    print(
        f"{'sampler':{width}s} {'sample s':>8s} {'FID':>7s} {'gap closed':>10s} "
        f"{'precision':>9s} {'recall':>6s} {'MMD²':>7s}"
    )
    for (name, images, seconds), (fid, precision, recall, pixels) in zip(rows, scores, strict=True):
        s = "-" if seconds is None else f"{seconds:.1f}"
        closed = gap_closed(fid, real, baseline)
        print(
            f"{name:{width}s} {s:>8s} {fid:7.2f} {closed:10.3f} {precision:9.3f} {recall:6.3f} "
            f"{pixels:7.4f}"
        )
        if args.grid:
            grid = image_grid(images[:GRID_IMAGES], GRID_COLUMNS)
            file = args.grid / f"{name.split(' (')[0].replace(' ', '_')}.png"
            args.grid.mkdir(parents=True, exist_ok=True)
            save_png(file, grid.repeat(GRID_ZOOM, axis=0).repeat(GRID_ZOOM, axis=1))
    print(
        "FID and MMD²: lower is better; gap closed: 1 as real faces, 0 as the baseline; "
        "precision and recall: 0 to 1, higher is better"
    )
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
