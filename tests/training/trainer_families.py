"""The trainers the shared tests run, each on its smoke preset."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType

from training import dcgan, flow, gmm, pixelrnn, vae


@dataclasses.dataclass(frozen=True)
class Family:
    module: ModuleType
    args: tuple[str, ...]  # what selects the family
    reference: tuple[int, int] | None  # the reference set's latents on digits, if any


FAMILIES = {
    "vae": Family(vae, (), (64, 2)),
    "nice": Family(flow, ("--arch", "nice"), (64, 64)),
    "realnvp": Family(flow, ("--arch", "realnvp"), (64, 64)),
    "glow": Family(flow, ("--arch", "glow"), (64, 64)),
    "gmm": Family(gmm, (), (64, 3 + 64)),  # one-hot component + whitened residual
    "pixelrnn": Family(pixelrnn, (), None),
    "dcgan": Family(dcgan, (), (32, 16)),  # sampled latents
}
GRADIENT = [name for name in FAMILIES if name != "gmm"]  # EM has no epochs or checkpoints


def smoke_args(family: str, out: Path, *extra: str) -> list[str]:
    args = FAMILIES[family].args
    return [*args, "--preset", "smoke", "--threads", "1", "--out", str(out), *extra]


def train(family: str, out: Path, *extra: str) -> int:
    return FAMILIES[family].module.main(smoke_args(family, out, *extra))
