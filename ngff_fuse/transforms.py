"""Pure affine maths on 4x4 homogeneous matrices over the spatial axes (z, y, x)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Affine = np.ndarray  # (4, 4) float64, maps (z, y, x, 1) column vectors


def translation(offset: Sequence[float]) -> Affine:
    matrix = np.eye(4)
    matrix[:3, 3] = offset
    return matrix


def scaling(factors: Sequence[float]) -> Affine:
    return np.diag([*map(float, factors), 1.0])


def placement(spacing: Sequence[float], origin: Sequence[float]) -> Affine:
    """Pixel index -> physical: scale by the pixel size, then move to the stage position."""
    return translation(origin) @ scaling(spacing)


def invert(matrix: Affine) -> Affine:
    return np.linalg.inv(matrix)


def apply(matrix: Affine, points: np.ndarray) -> np.ndarray:
    """Map points of shape (..., 3) through the affine."""
    points = np.asarray(points, dtype=float)
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def is_translation(matrix: Affine, atol: float = 1e-9) -> bool:
    """True when the linear part is the identity (after the caller removed the pixel scale)."""
    return bool(np.allclose(matrix[:3, :3], np.eye(3), atol=atol))


def box_corners(shape: Sequence[int], margin: float = 0.0) -> np.ndarray:
    """The 8 corners of a (z, y, x) box of pixel centres, shape (8, 3); `margin` 0.5 gives the
    corners of the pixels' area instead."""
    last = [max(n - 1, 0) for n in shape]
    grid = np.meshgrid(*[[-margin, n + margin] for n in last], indexing="ij")
    return np.stack([g.ravel() for g in grid], axis=-1).astype(float)
