"""PixelRNN sampling speed: the cached sampler (recurrent state carried, one step per pixel)
against the naive one (a full forward pass for every pixel), side by side.

    python benchmarks/pixelrnn.py [--batch 16] [--threads 1] [--naive-pixels 56] [--quick]

Untrained models with the bundled digits architecture (hidden 64, 2 Row LSTM layers), seeded:
8x8 with 17 levels (digits) and 28x28 with 256 levels (MNIST). Both samplers draw the same
pixels from the same seed. The naive sampler costs the same full pass for every pixel, so at
28x28 it is timed on the first --naive-pixels pixels only and its whole-image time is that
per-pixel cost times 784, labelled as extrapolated. ``--quick`` is a smoke run: batch 2, the
naive sampler timed on 4 pixels at 28x28.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from latentlab.models.pixelrnn import PixelRNN, PixelRNNConfig

SHAPES = [(8, 17), (28, 256)]  # (side, levels)


def ms_per_pixel(
    model: PixelRNN, naive: bool, batch: int, pixels: int, seed: int
) -> tuple[float, torch.Tensor]:
    """Milliseconds per pixel position over the first ``pixels`` positions of a sample of
    ``batch`` images, and the images at that point."""
    blank = torch.zeros(batch, *model.image_shape)
    fill = model.fill_pixels_naive if naive else model.fill_pixels
    steps = fill(
        blank, torch.ones_like(blank, dtype=torch.bool), 1.0, torch.Generator().manual_seed(seed)
    )
    start = time.perf_counter()
    for _ in range(pixels):
        frame = next(steps)
    return 1000 * (time.perf_counter() - start) / pixels, frame


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=16, help="images per sample batch")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--naive-pixels",
        type=int,
        default=56,
        help="pixels the naive sampler is timed on at 28x28 (all at 8x8)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="batch 2, naive timed on 4 pixels")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.naive_pixels = 2, 4
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {args.batch}, "
        f"seed {args.seed}; times are per batch of {args.batch} images"
    )
    print(
        f"{'image':>8} {'levels':>6} {'cached ms/batch':>16} {'naive ms/batch':>16} "
        f"{'speed-up':>9}  same draws  note"
    )
    with torch.inference_mode():
        for side, levels in SHAPES:
            torch.manual_seed(args.seed)
            model = PixelRNN(PixelRNNConfig(height=side, width=side, levels=levels)).eval()
            total = side * side
            subset = total if side <= 8 else min(args.naive_pixels, total)
            ms_per_pixel(model, False, args.batch, 4, args.seed)  # warm up
            cached, _ = ms_per_pixel(model, False, args.batch, total, args.seed)
            cached_subset, frame = ms_per_pixel(model, False, args.batch, subset, args.seed)
            naive, naive_frame = ms_per_pixel(model, True, args.batch, subset, args.seed)
            note = (
                "both timed on every pixel"
                if subset == total
                else f"naive timed on {subset} of {total} pixels, whole image extrapolated "
                f"({naive:.1f} ms/pixel x {total}); speed-up per pixel on those {subset}"
            )
            print(
                f"{side:>3}x{side:<4} {levels:>6} {cached * total:>16.1f} "
                f"{naive * total:>16.1f} {naive / cached_subset:>8.1f}x  "
                f"{'yes' if torch.equal(frame, naive_frame) else 'NO':>10}  {note}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
