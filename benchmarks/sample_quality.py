"""Sample quality of Fashion-MNIST samplers, scored by a small classifier of the real images.

    python benchmarks/sample_quality.py [MODEL.safetensors ...] [--samples 500] [--seed 0]
        [--temperature T] [--judge-epochs 5] [--no-cache] [--grid DIR] [--quick]

The judge (latentlab.metrics.judge) is a small CNN trained, seeded, on the 55,000 Fashion-MNIST
training images only, never on a model's samples; its test accuracy is printed. Each sampler
draws --samples images, which are scored against the reference set, the test images that are
not held out (below):

- FID: the Frechet distance between Gaussian fits of the judge's features (its penultimate
  layer) of the samples and of the reference; lower is better.
- IS: exp(E_x KL(p(y|x) || p(y))) with the judge's class probabilities; from 1 (every image
  looks alike) to 10 (each image clearly one class, the classes balanced).
- gap closed: 1 - (FID - FID_real) / (FID_baseline - FID_real): 1 is as good as real images,
  0 as good as the baseline, below 0 worse than the baseline.

The rows: "real" is --samples test images held out from the reference (the floor: what
comparing a finite set costs); "baseline" samples an independent Gaussian per pixel, its mean
and variance fitted on the training images, clipped to [0, 1] (the ceiling); then each model
file given, or by default every bundled model of 1x28x28 images, sampled as the app samples
(latentlab.explore.ops.sample) at its default temperature or at --temperature. PixelRNN draws
pixel by pixel and can take minutes for 500 images: lower --samples for a quick look.

The trained judge is kept in $XDG_CACHE_HOME/latentlab (~/.cache/latentlab) as
judge-<key>.safetensors, the key naming the training data, epochs, seed and judge version, so a
second run skips training; --no-cache neither reads nor writes it. --grid DIR writes a PNG of 64
samples per sampler. --quick is a smoke run: the judge trained 1 epoch on 2,000 training
images, 200 samples, no cache; its figures are rough.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from latentlab.data.fashion import load_fashion_split
from latentlab.data.images import save_png
from latentlab.explore import ops
from latentlab.explore.images import image_grid
from latentlab.metrics import (
    GaussianFit,
    cached_judge,
    frechet_distance,
    gap_closed,
    gaussian_fit,
    gaussian_pixels,
    inception_score,
    judge_outputs,
)
from latentlab.modelfile import LoadedModel, ModelFileError, load_model, read_metadata
from latentlab.resources import bundled_models

IMAGE_SHAPE = (1, 28, 28)
QUICK_TRAIN_IMAGES = 2_000
QUICK_SAMPLES = 100
MAX_SAMPLES = 5_000  # at most half the test set is held out, so the reference keeps 5,000
GRID_IMAGES, GRID_COLUMNS, GRID_ZOOM = 64, 8, 2


@dataclass
class Row:
    name: str
    temperature: float | None  # models only
    seconds: float | None  # time to draw the samples (models only)
    fid: float
    inception: float


def hold_out(n_test: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``n`` test images chosen at random, and of the other test images."""
    order = np.random.default_rng(seed).permutation(n_test)
    return order[:n], order[n:]


def choose_models(files: list[Path]) -> list[LoadedModel]:
    """The given model files (each must hold 1x28x28 images; ValueError says which does not)
    or, with none given, the bundled models of 1x28x28 images."""
    if files:
        models = [load_model(f) for f in files]
        for loaded in models:
            if loaded.model.image_shape != IMAGE_SHAPE:
                shape = "x".join(map(str, loaded.model.image_shape))
                raise ValueError(f"{loaded.name}: its images are {shape}, not 1x28x28")
        return models
    chosen = []
    for path in bundled_models().values():
        image = read_metadata(path)["image"]
        if (image["channels"], image["height"], image["width"]) == IMAGE_SHAPE:
            chosen.append(load_model(path))
    return chosen


def draw(loaded: LoadedModel, n: int, temperature: float, seed: int) -> np.ndarray:
    """``n`` samples of a model as the app draws them, float ``N,1,28,28`` in [0, 1]."""
    _, images = ops.sample(loaded.model, n, temperature, seed)
    bad = int((~np.isfinite(images)).sum())
    if bad:
        print(f"note: {loaded.name}: {bad} non-finite sample value(s) scored as 0")
    return np.nan_to_num(images, nan=0.0, posinf=1.0, neginf=0.0)


def score(
    name: str,
    features: np.ndarray,
    probabilities: np.ndarray,
    reference: GaussianFit,
    temperature: float | None = None,
    seconds: float | None = None,
) -> Row:
    fid = frechet_distance(gaussian_fit(features), reference)
    return Row(name, temperature, seconds, fid, inception_score(probabilities))


def write_grid(folder: Path, name: str, images: np.ndarray) -> None:
    grid = image_grid(images[:GRID_IMAGES], GRID_COLUMNS)
    save_png(folder / f"{name}.png", grid.repeat(GRID_ZOOM, axis=0).repeat(GRID_ZOOM, axis=1))


def print_table(rows: list[Row]) -> None:
    """One line per row; ``rows`` start with the real and the baseline rows."""
    real, baseline = rows[0].fid, rows[1].fid
    width = max(len("sampler"), *(len(r.name) for r in rows))
    columns = f"{'T':>5s} {'sample s':>8s} {'FID':>9s} {'IS':>6s} {'gap closed':>10s}"
    print(f"{'sampler':{width}s} {columns}")
    for r in rows:
        t = "-" if r.temperature is None else f"{r.temperature:.2f}"
        s = "-" if r.seconds is None else f"{r.seconds:.1f}"
        closed = gap_closed(r.fid, real, baseline)
        print(
            f"{r.name:{width}s} {t:>5s} {s:>8s} {r.fid:9.2f} {r.inception:6.2f} "
            f"{'n/a' if math.isnan(closed) else f'{closed:.3f}':>10s}"
        )
    print(
        "T: sampling temperature; FID: lower is better; IS: 1 to 10, higher is better; gap "
        "closed: 1 as real images, 0 as the baseline"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="*", type=Path, help="model files of 1x28x28 images")
    parser.add_argument("--samples", type=int, default=500, help="samples per sampler")
    parser.add_argument("--seed", type=int, default=0, help="judge training, hold-out, samples")
    parser.add_argument(
        "--temperature", type=float, help="sampling temperature (default: each model's own)"
    )
    parser.add_argument("--judge-epochs", type=int, default=5, help="the judge's training epochs")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor keep the judge")
    parser.add_argument("--grid", type=Path, metavar="DIR", help="write a PNG grid per sampler")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: tiny judge, 200 samples, no cache"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.judge_epochs, args.no_cache = QUICK_SAMPLES, 1, True
    if not 2 <= args.samples <= MAX_SAMPLES:
        parser.error(f"--samples must be in 2..{MAX_SAMPLES}")
    if args.judge_epochs < 1:
        parser.error("--judge-epochs must be at least 1")
    if args.temperature is not None and not args.temperature > 0:
        parser.error("--temperature must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    try:
        models = choose_models(args.models)
    except (ModelFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    split = load_fashion_split()
    train = split.train.subset(slice(0, QUICK_TRAIN_IMAGES)) if args.quick else split.train
    judge, how = cached_judge(
        train.as_float(), train.labels, args.judge_epochs, args.seed, not args.no_cache
    )
    test_images = split.test.as_float()
    features, probabilities = judge_outputs(judge, test_images)
    accuracy = float((probabilities.argmax(axis=1) == split.test.labels).mean())
    print(f"judge: {how}; test accuracy {accuracy:.1%} on {len(split.test):,} images")
    held, rest = hold_out(len(split.test), args.samples, args.seed)
    print(
        f"{args.samples} samples per sampler (seed {args.seed}), scored against the other "
        f"{len(rest):,} test images"
    )
    reference = gaussian_fit(features[rest])
    rows = [score("real (held-out test images)", features[held], probabilities[held], reference)]
    samples = {"real": test_images[held]}
    samples["baseline"] = gaussian_pixels(
        split.train.images, split.train.levels, args.samples, args.seed
    )
    outputs = judge_outputs(judge, samples["baseline"])
    rows.append(score("baseline (Gaussian pixels)", *outputs, reference))
    for loaded in models:
        temperature = args.temperature or loaded.model.default_temperature
        start = time.perf_counter()
        samples[loaded.name] = draw(loaded, args.samples, temperature, args.seed)
        seconds = time.perf_counter() - start
        outputs = judge_outputs(judge, samples[loaded.name])
        rows.append(score(loaded.name, *outputs, reference, temperature, seconds))
    print_table(rows)
    if not models:
        print("no bundled 28x28 sampler was found (give model files on the command line)")
    if args.grid:
        args.grid.mkdir(parents=True, exist_ok=True)
        for name, images in samples.items():
            write_grid(args.grid, name, images)
        print(f"grids of {GRID_IMAGES} samples written to {args.grid}")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
