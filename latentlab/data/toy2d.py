"""2-D toy data for the lab: point clouds small enough to see a whole density, and the user's
own points as CSV files (``x,y`` rows).

The shapes are the usual benchmarks of density estimation in the plane (two moons, rings, a
ring of Gaussians, a checkerboard, a spiral), drawn with numpy alone from a seed, all lying
roughly within [-4, 4]^2 so that one view box fits them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from latentlab.data.dataset import DataError
from latentlab.fileio import ReadError, atomic_write_bytes, read_bounded
from latentlab.untrusted import short_repr

__all__ = [
    "MAX_CSV_BYTES",
    "MAX_POINTS",
    "MAX_VALUE",
    "TOY_DATASETS",
    "load_points_csv",
    "make_toy",
    "save_points_csv",
]

TOY_DATASETS: dict[str, str] = {
    "moons": "Two moons",
    "rings": "Concentric rings",
    "gaussians": "8 Gaussians",
    "checkerboard": "Checkerboard",
    "spiral": "Spiral",
}

MAX_CSV_BYTES = 4 * 2**20  # 100,000 rows of two full-precision floats fit in under 4 MiB
MAX_POINTS = 100_000
MAX_VALUE = 1e6  # |coordinate|: beyond this a point is a typo, and squares overflow float32


def _moons(n: int, rng: np.random.Generator) -> np.ndarray:
    """Two interleaved half circles of radius 1 (the upper one centred at 0, the lower at
    (1, 0.5)), Gaussian noise 0.1, then centred and scaled by 1.6."""
    upper = rng.random(n) < 0.5
    t = rng.uniform(0, math.pi, n)
    x = np.where(upper, np.cos(t), 1 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    points = np.stack([x, y], 1) + rng.normal(0, 0.1, (n, 2))
    return 1.6 * (points - [0.5, 0.25])


def _rings(n: int, rng: np.random.Generator) -> np.ndarray:
    """Three circles of radii 1, 2, 3, points shared in proportion to their circumference."""
    radius = rng.choice([1.0, 2.0, 3.0], n, p=[1 / 6, 2 / 6, 3 / 6])
    angle = rng.uniform(0, 2 * math.pi, n)
    r = radius + rng.normal(0, 0.08, n)
    return np.stack([r * np.cos(angle), r * np.sin(angle)], 1)


def _gaussians(n: int, rng: np.random.Generator) -> np.ndarray:
    """Eight Gaussians of std 0.2 with their means evenly spaced on a circle of radius 2.5."""
    angle = rng.integers(0, 8, n) * (2 * math.pi / 8)
    means = 2.5 * np.stack([np.cos(angle), np.sin(angle)], 1)
    return means + rng.normal(0, 0.2, (n, 2))


def _checkerboard(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform on the black squares of a 4x4 board of squares of side 1.75 centred at 0."""
    column = rng.integers(0, 4, n)
    row = 2 * rng.integers(0, 2, n) + (column % 2)  # black where row + column is even
    cell = np.stack([column, row], 1) + rng.random((n, 2))
    return 1.75 * (cell - 2)


def _spiral(n: int, rng: np.random.Generator) -> np.ndarray:
    """Two arms of an Archimedean spiral r = a * theta, one turned by pi from the other,
    uniform along the arm length (theta ~ sqrt(U)), noise 0.1."""
    theta = np.sqrt(rng.random(n)) * 3 * math.pi
    arm = np.where(rng.random(n) < 0.5, 0.0, math.pi)
    r = theta * (3.5 / (3 * math.pi))
    points = np.stack([r * np.cos(theta + arm), r * np.sin(theta + arm)], 1)
    return points + rng.normal(0, 0.1, (n, 2))


_MAKERS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "moons": _moons,
    "rings": _rings,
    "gaussians": _gaussians,
    "checkerboard": _checkerboard,
    "spiral": _spiral,
}


def make_toy(name: str, n: int, seed: int = 0) -> np.ndarray:
    """``n`` points of the toy data set ``name`` (a key of :data:`TOY_DATASETS`): float32
    (n, 2), the same for the same seed."""
    if name not in _MAKERS:
        raise ValueError(f"unknown toy data set {name!r}; known: {', '.join(TOY_DATASETS)}")
    if not 0 <= n <= MAX_POINTS:
        raise ValueError(f"n must be between 0 and {MAX_POINTS:,}, not {n}")
    return _MAKERS[name](n, np.random.default_rng(seed)).astype(np.float32)


def _fail(path: Path, why: str, line: int | None = None) -> DataError:
    where = f"{path.name}, line {line}" if line is not None else path.name
    return DataError(f"{where}: {why}")


def _looks_like_header(fields: list[str]) -> bool:
    return any(c.isalpha() for f in fields for c in f) and not any(
        f.strip().lower().lstrip("+-") in ("nan", "inf", "infinity") for f in fields
    )


def load_points_csv(path: str | Path) -> np.ndarray:
    """The points of a CSV file of ``x,y`` rows as float32 (n, 2).

    The file is untrusted: at most :data:`MAX_CSV_BYTES` are read; an optional header on the
    first line is skipped; every other non-blank line must hold exactly two finite numbers of
    magnitude at most :data:`MAX_VALUE`; 2 to :data:`MAX_POINTS` points. Anything else raises
    :class:`DataError` naming the file and the line.
    """
    path = Path(path)
    try:
        raw = read_bounded(path, MAX_CSV_BYTES, "a CSV file of points")
    except ReadError as exc:
        raise _fail(path, str(exc)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _fail(path, "not a text file (it is not valid UTF-8)") from None
    rows: list[tuple[float, float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(",")
        if not rows and number == 1 and _looks_like_header(fields):
            continue
        if len(fields) != 2:
            raise _fail(
                path, f"expected 2 comma-separated values (x,y), found {len(fields)}", number
            )
        try:
            x, y = float(fields[0]), float(fields[1])
        except ValueError:
            raise _fail(path, f"not a number: {short_repr(line.strip())}", number) from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise _fail(path, "the values must be finite numbers (no NaN or infinity)", number)
        if abs(x) > MAX_VALUE or abs(y) > MAX_VALUE:
            raise _fail(path, f"a value is larger than {MAX_VALUE:g} in magnitude", number)
        if len(rows) == MAX_POINTS:
            raise _fail(path, f"more than {MAX_POINTS:,} points", number)
        rows.append((x, y))
    if len(rows) < 2:
        raise _fail(path, f"at least 2 points are needed, the file has {len(rows)}")
    return np.asarray(rows, dtype=np.float32)


def save_points_csv(path: str | Path, points: np.ndarray) -> None:
    """Write ``points`` (n, 2) as CSV with the header ``x,y``, atomically; float32 values
    written with 9 significant digits read back exactly."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 2 or not np.isfinite(points).all():
        raise ValueError(f"points must be a finite (n, 2) array, not shaped {points.shape}")
    lines = ["x,y", *(f"{x:.9g},{y:.9g}" for x, y in points.tolist())]
    atomic_write_bytes(Path(path), ("\n".join(lines) + "\n").encode("ascii"))
