"""Simple baselines on the test splits, in the units of the bundled models' metrics.

    python benchmarks/baselines.py

See latentlab.data.baselines for what each baseline is.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from latentlab.data import load_digits_split, synthfaces_split
from latentlab.data.baselines import categorical_nats, gaussian_nats, uniform_nats


def main() -> int:
    for split in (load_digits_split(), synthfaces_split()):
        dims = int(np.prod(split.train.image_shape))
        rows = [
            ("uniform", uniform_nats(split.test)),
            ("independent pixels, categorical", categorical_nats(split.train, split.test)),
            ("independent pixels, Gaussian", gaussian_nats(split.train, split.test)),
        ]
        print(
            f"{split.name} (test split, {len(split.test)} images of "
            f"{'x'.join(map(str, split.train.image_shape))}, {split.train.levels} levels)"
        )
        for name, nats in rows:
            print(
                f"  {name:34s} {nats:9.2f} nats/image  {nats / (dims * math.log(2)):.3f} bits/dim"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
