"""Samples of the synthetic-face models beside held-out faces: the Glow at several temperatures
and the DCGAN, scored by the same pixel-kernel MMD² that selects and scores the DCGAN.

    python benchmarks/faces_samples.py [MODEL.safetensors ...] [--samples 1000]
        [--temperatures 0.5,0.7,0.85,1] [--seed 0] [--grid DIR] [--quick]

The reference is the test split of the synthetic faces (latentlab.data.synthfaces), drawn
from a seed that training never used; the kernel width is the median distance between its
faces. Rows: "real" is as many training faces (the floor: what a perfect sampler gets);
"baseline" samples an independent Gaussian per pixel fitted on the training faces, clipped to
[0, 1]; then each model given (by default every bundled model of 3x32x32 faces), sampled as
the app samples (latentlab.explore.ops.sample), a flow at each --temperatures value and any
other model at its own. "gap closed" is 1 - (MMD² - real) / (baseline - real). --grid DIR
writes a PNG of 64 samples per row, to look at. Pixel MMD² sees colours, layout and blur,
not whether a mouth is drawn right: look at the grids too. --quick is a smoke run: 100 faces
per row, T = 0.7 only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from latentlab.data.images import save_png
from latentlab.data.synthfaces import synthfaces_split
from latentlab.explore import ops
from latentlab.explore.images import image_grid
from latentlab.metrics import gap_closed
from latentlab.metrics.mmd import median_distance, mmd2
from latentlab.modelfile import LoadedModel, load_model, read_metadata
from latentlab.resources import bundled_models

IMAGE_SHAPE = (3, 32, 32)
FLOWS = ("nice", "realnvp", "glow")
TEST_FACES = 1000  # the test split's size
QUICK_SAMPLES = 100
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


def gaussian_pixels(train: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` samples of independent per-pixel Gaussians fitted on ``train`` (float in [0, 1])."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    noise = np.random.default_rng(seed).standard_normal((n, *mean.shape))
    return np.clip(mean + std * noise, 0, 1).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="*", type=Path, help="model files of 3x32x32 faces")
    parser.add_argument("--samples", type=int, default=1000, help="samples per row (<= 1000)")
    parser.add_argument(
        "--temperatures", default="0.5,0.7,0.85,1", help="a flow's sampling temperatures"
    )
    parser.add_argument("--seed", type=int, default=0, help="the samples' seed")
    parser.add_argument("--grid", type=Path, metavar="DIR", help="write a PNG grid per row")
    parser.add_argument("--quick", action="store_true", help="a smoke run (rough figures)")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.temperatures = QUICK_SAMPLES, "0.7"
    temperatures = [float(t) for t in args.temperatures.split(",")]
    n = max(2, min(args.samples, TEST_FACES))
    split = synthfaces_split(n_train=n, n_validation=1, n_test=n)
    test, train = split.test.as_float(), split.train.as_float()
    scale = median_distance(torch.from_numpy(test))
    rows: list[tuple[str, np.ndarray, float | None]] = [
        ("real (training faces)", train, None),
        ("baseline (pixel Gaussians)", gaussian_pixels(train, n, args.seed), None),
    ]
    for loaded in choose_models(args.models):
        flow = loaded.model.family in FLOWS
        for t in temperatures if flow else [None]:
            start = time.perf_counter()
            _, images = ops.sample(loaded.model, n, 1.0 if t is None else t, args.seed)
            seconds = time.perf_counter() - start
            name = loaded.name if t is None else f"{loaded.name} T={t:g}"
            rows.append((name, np.nan_to_num(images, nan=0.0, posinf=1.0, neginf=0.0), seconds))
    reference = torch.from_numpy(test)
    scores = [mmd2(torch.from_numpy(images), reference, scale) for _, images, _ in rows]
    real, baseline = scores[0], scores[1]
    width = max(len(name) for name, _, _ in rows)
    print(f"{n} samples per row against {n} held-out faces; kernel width {scale:.2f}")
    print(f"{'sampler':{width}s} {'sample s':>8s} {'MMD²':>8s} {'gap closed':>10s}")
    for (name, images, seconds), value in zip(rows, scores, strict=True):
        s = "-" if seconds is None else f"{seconds:.1f}"
        closed = gap_closed(value, real, baseline)
        print(f"{name:{width}s} {s:>8s} {value:8.4f} {closed:10.3f}")
        if args.grid:
            grid = image_grid(images[:GRID_IMAGES], GRID_COLUMNS)
            file = args.grid / f"{name.replace(' ', '_').replace('(', '').replace(')', '')}.png"
            args.grid.mkdir(parents=True, exist_ok=True)
            save_png(file, grid.repeat(GRID_ZOOM, axis=0).repeat(GRID_ZOOM, axis=1))
    print("MMD²: lower is better (0 for the same distribution); gap closed: 1 as real faces")
    return 0


if __name__ == "__main__":
    sys.exit(main())
