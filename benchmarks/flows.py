"""Flow speed on this machine: encode and decode time of the default Glow at batch 1 and 64,
and training throughput (forward + backward + Adam step) of each flow architecture.

    python benchmarks/flows.py [--model FILE] [--repeats 20] [--batch 64] [--quick]

Training throughput uses the bundled configurations (Glow 3x32x32 on faces, RealNVP and NICE
1x8x8 on digits) with random images on the level grid; data loading is not included.
``--quick`` times each once at batch 8 (a smoke run: the figures are rough).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from latentlab.modelfile import load_model
from latentlab.models import GenerativeModel
from latentlab.resources import bundled_models, default_model_path


def median_ms(fn, repeats: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def random_images(model: GenerativeModel, n: int) -> torch.Tensor:
    levels = torch.randint(0, model.levels, (n, *model.image_shape))
    return levels.float() / (model.levels - 1)


@torch.inference_mode()
def encode_decode(model: GenerativeModel, repeats: int, large_batch: int) -> None:
    for batch in (1, large_batch):
        x = random_images(model, batch)
        z = model.encode(x)
        enc = median_ms(lambda x=x: model.encode(x), repeats) / batch
        dec = median_ms(lambda z=z: model.decode(z), repeats) / batch
        print(f"  batch {batch:2d}: encode {enc:7.2f} ms/image   decode {dec:7.2f} ms/image")


def training_throughput(model: GenerativeModel, repeats: int, batch: int = 64) -> float:
    model = model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    x = random_images(model, batch)

    def step() -> None:
        loss = -model(x).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return batch / (median_ms(step, repeats) / 1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64, help="the larger batch size")
    parser.add_argument("--quick", action="store_true", help="one repeat at batch 8")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.batch = 1, 8
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    loaded = load_model(args.model)
    print(f"{loaded.name} ({loaded.model.family}, {'x'.join(map(str, loaded.model.image_shape))}):")
    encode_decode(loaded.model, args.repeats, args.batch)
    print(f"training throughput, batch {args.batch}:")
    for name, path in bundled_models().items():
        model = load_model(path).model
        if model.family in ("nice", "realnvp", "glow"):
            print(
                f"  {name:28s} {training_throughput(model, args.repeats, args.batch):8.0f} images/s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
