"""A cheap preview of a slow decoder while the map's point moves: the image at the last full
decode plus the decoder's slopes along the map's two axes times the distance moved,
x(z) ~ x(z0) + S (z - z0), a first-order (linear) approximation that costs a few array
operations instead of a decode. The slopes are forward differences over ``STEP`` along each
axis, two more decodes computed once per full decode. Exact at z0; the further the point
moves from z0, the more the preview departs from the true image, until the next full decode
lands and becomes the new z0."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the app's window imports this module before torch has loaded
    from latentlab.models import GenerativeModel

__all__ = ["STEP", "LinearPreview", "along_axes", "linearise"]

STEP = 0.25  # latent units: a quarter of the prior's standard deviation
_IN_PLANE_TOLERANCE = 1e-6  # of the distance moved: a move off the plane gets no preview


@dataclass(frozen=True)
class LinearPreview:
    """The image ``image`` (``C,H,W``) decoded at ``z`` (``D``), and its ``slopes``
    (``K,C,H,W``) along the orthonormal ``axes`` (``K,D``)."""

    z: np.ndarray
    image: np.ndarray
    axes: np.ndarray
    slopes: np.ndarray

    def at(self, z: np.ndarray) -> np.ndarray | None:
        """The preview at ``z``, in [0, 1]; None if ``z - self.z`` leaves the span of the
        axes (an attribute slider moved, another plane was chosen): it cannot be previewed."""
        moved = np.asarray(z, dtype=np.float64) - self.z
        if not along_axes(moved, self.axes):
            return None
        along = self.axes @ moved
        image = self.image + np.tensordot(along.astype(np.float32), self.slopes, axes=1)
        return np.clip(image, 0.0, 1.0, out=image)


def along_axes(moved: np.ndarray, axes: np.ndarray) -> bool:
    """Whether the move ``moved`` (``D``) lies in the span of the orthonormal ``axes``
    (``K,D``): a move of the map's point, rather than of a slider or to another latent."""
    off = moved - (axes @ moved) @ axes
    return bool(np.linalg.norm(off) <= _IN_PLANE_TOLERANCE * (1.0 + float(np.linalg.norm(moved))))


def linearise(
    model: GenerativeModel, z: np.ndarray, image: np.ndarray, axes: np.ndarray
) -> LinearPreview:
    """The :class:`LinearPreview` at ``z``, given its decoded ``image`` and ``axes`` (``K,D``,
    orthonormal): ``K`` more decodes, one batch."""
    from latentlab.explore import ops  # torch: loaded by now, since a model exists

    z, axes = np.asarray(z, dtype=np.float64), np.asarray(axes, dtype=np.float64)
    stepped = ops.decode(model, z[None] + STEP * axes)
    slopes = (stepped - image[None]) / np.float32(STEP)
    return LinearPreview(z, image, axes, slopes.astype(np.float32))
