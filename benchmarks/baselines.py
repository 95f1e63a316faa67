"""Simple baselines on the test splits, in the units of the bundled models' metrics.

    python benchmarks/baselines.py [--quick]

See latentlab.data.baselines for what each baseline is. Fashion-MNIST is included when its
package is installed. ``--quick`` draws 1,000 training and
200 test faces instead of 10,000 and 1,000 (a smoke run: the faces' figures differ a little).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from latentlab.data import DataError, load_digits_split, synthfaces_split
from latentlab.data.baselines import categorical_nats, gaussian_nats, uniform_nats
from latentlab.data.fashion import load_fashion_split


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer faces, for a smoke run")
    args = parser.parse_args(argv)
    faces = (
        synthfaces_split(n_train=1000, n_validation=0, n_test=200)
        if args.quick
        else synthfaces_split()
    )
    splits = [load_digits_split(), faces]
    try:
        splits.append(load_fashion_split())
    except DataError as exc:
        print(f"Fashion-MNIST left out: {exc}")
    for split in splits:
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
