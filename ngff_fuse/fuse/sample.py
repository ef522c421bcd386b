"""Map one tile into one output chunk: slicing for integer offsets, linear interpolation for
sub-pixel offsets, and scipy's map_coordinates for tiles that really rotate, skew or scale.

Every sampler reads only the tile region the chunk needs, through `read(box)` where `box` is
a tuple of three slices (z, y, x) into the tile, and returns `(box_in_chunk, values, scores,
mask)` (`scores`: the log edge weight of each pixel, None for blends without one), or None when the tile does not reach the chunk. `translated_piece`
gives a translated tile's values as a `Piece` instead, for `paste.py`, which only blends
where tiles overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ngff_fuse.fuse.blend import EdgeWeighting, score_dtype
from ngff_fuse.fuse.plan import TilePlacement

ReadRegion = Callable[[tuple[slice, slice, slice]], np.ndarray]
_EPS = 1e-6


def _axis_samples(start: int, stop: int, offset: float, length: int):
    """For output pixels [start, stop) along one axis: which of them the tile covers (their
    centres sample it at s = g - offset in [-1/2, length - 1/2)), and those s, as
    (first, last+1, s) or None."""
    first = max(start, int(np.ceil(offset - 0.5 - _EPS)))
    last = min(stop, int(np.ceil(offset + length - 0.5 - _EPS)))
    if last <= first:
        return None
    return first, last, np.arange(first, last) - offset


@dataclass(frozen=True)
class Piece:
    """One translated tile's pixels over the part of a chunk it covers."""

    box: tuple[slice, slice, slice]  # where the piece lies in the chunk
    values: np.ndarray  # shape of box: the tile's own pixels when `exact`, else interpolated acc
    coords: tuple[np.ndarray, np.ndarray, np.ndarray]  # tile pixel coordinate sampled, per axis
    exact: bool  # integer offset: `values` are the tile's pixels as read (never write to them)
    pixel_dtype: np.dtype  # of the tile's pixels

    def scores(self, shape: tuple[int, int, int], weighting: EdgeWeighting) -> list[np.ndarray]:
        """The edge score along each axis; a pixel's score is the sum of its three."""
        return weighting.axis_scores(self.coords, shape)


def edge_scores(scores: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    """Per-axis scores summed over the box (the log of the product of per-axis weights)."""
    z, y, x = (s.astype(dtype, copy=False) for s in scores)
    return z[:, None, None] + y[None, :, None] + x[None, None, :]


def translated_piece(
    placement: TilePlacement,
    chunk_start: np.ndarray,
    chunk_stop: np.ndarray,
    read: ReadRegion,
    acc: np.dtype,
) -> Piece | None:
    """Pure translation: output pixel g shows tile pixel s = g - offset on every axis.

    Integer offsets need no arithmetic at all, so their pixels come back as read."""
    axes = []
    for a in range(3):
        found = _axis_samples(chunk_start[a], chunk_stop[a], placement.offset[a], placement.shape[a])
        if found is None:
            return None
        axes.append(found)
    # Tile region to read: the integer pixels around the sampled coordinates.
    region = []
    for (first, last, s), n in zip(axes, placement.shape):
        lo = int(np.floor(s[0] + _EPS))
        hi = min(int(np.ceil(s[-1] - _EPS)), n - 1) + 1
        region.append(slice(min(max(lo, 0), n - 1), hi))
    box = tuple(slice(first - c, last - c) for (first, last, _), c in zip(axes, chunk_start))
    coords = tuple(s for _, _, s in axes)
    local = [s - r.start for s, r in zip(coords, region)]
    values = read(tuple(region))
    if all(_is_integer(c) for c in local):
        return Piece(box, values, coords, exact=True, pixel_dtype=values.dtype)
    pixel_dtype = values.dtype
    for a, c in enumerate(local):
        values = _resample_axis(values, a, c, acc)
    return Piece(box, values.astype(acc, copy=False), coords, exact=False, pixel_dtype=pixel_dtype)


def sample_translation(
    placement: TilePlacement,
    chunk_start: np.ndarray,
    chunk_stop: np.ndarray,
    read: ReadRegion,
    acc: np.dtype,
    weighting: EdgeWeighting | None,
):
    """A translated tile as `core.blend_chunk` wants it: float values of its own and, when
    weighting, the edge score of every pixel."""
    piece = translated_piece(placement, chunk_start, chunk_stop, read, acc)
    if piece is None:
        return None
    values = piece.values.astype(acc) if piece.exact else piece.values
    scores = None if weighting is None else edge_scores(piece.scores(placement.shape, weighting), score_dtype(acc))
    return piece.box, values, scores, None


def _is_integer(coords: np.ndarray) -> bool:
    return bool(np.all(np.abs(coords - np.floor(coords + _EPS)) < _EPS))


def _resample_axis(values: np.ndarray, axis: int, coords: np.ndarray, acc: np.dtype) -> np.ndarray:
    """Linear interpolation along one axis at region-relative `coords`, in `acc`, holding the
    edge value up to half a pixel beyond it; `values` as they are when the coordinates are
    integer.

    Each sample is lower + (upper - lower) * frac with lower = values[base], upper =
    values[base + 1], all as `acc`. Where `base` counts up by one (everywhere but the held
    edges) lower and upper are views, not gathered copies, and the arithmetic runs in place.
    Integer pixels are converted to `acc` first: ufuncs converting on the fly ran ~2x slower.
    """
    if _is_integer(coords):
        return values  # the region is exactly the needed run of pixels
    values = values.astype(acc, copy=False)
    n = values.shape[axis]
    coords = np.clip(coords, 0, n - 1)
    base = np.clip(np.floor(coords).astype(np.int64), 0, max(n - 2, 0))
    upper = np.minimum(base + 1, n - 1)
    frac = (coords - base).astype(acc)
    out_shape = list(values.shape)
    out_shape[axis] = len(base)
    out = np.empty(out_shape, dtype=acc)
    runs = np.split(np.arange(len(base)), np.flatnonzero((np.diff(base) != 1) | (np.diff(upper) != 1)) + 1)
    for run in runs:
        low, high, count = int(base[run[0]]), int(upper[run[0]]), len(run)
        lower_part = _along(values, axis, slice(low, low + count))
        target = _along(out, axis, slice(run[0], run[0] + count))
        np.subtract(_along(values, axis, slice(high, high + count)), lower_part, out=target)
        np.multiply(target, _along_axis(frac[run], axis), out=target)
        np.add(lower_part, target, out=target)
    return out


def _along(array: np.ndarray, axis: int, index: slice) -> np.ndarray:
    key = [slice(None)] * array.ndim
    key[axis] = index
    return array[tuple(key)]


def _along_axis(vector: np.ndarray, axis: int) -> np.ndarray:
    shape = [1, 1, 1]
    shape[axis] = -1
    return vector.reshape(shape)


def sample_affine(
    placement: TilePlacement,
    chunk_start: np.ndarray,
    chunk_stop: np.ndarray,
    read: ReadRegion,
    acc: np.dtype,
    weighting: EdgeWeighting | None,
):
    """General affine: linear interpolation at tile_from_grid @ g for every chunk pixel g."""
    # scipy.ndimage takes ~0.4 s to import: only mosaics with rotated or scaled tiles need it
    from scipy import ndimage

    low = np.maximum(chunk_start, placement.low)
    high = np.minimum(chunk_stop, placement.stop)
    if np.any(high <= low):
        return None
    tile_from_grid = np.linalg.inv(placement.grid_from_tile)
    grids = np.meshgrid(*[np.arange(lo, hi) for lo, hi in zip(low, high)], indexing="ij")
    points = np.stack(grids, axis=-1).astype(np.float64)
    coords = points @ tile_from_grid[:3, :3].T + tile_from_grid[:3, 3]
    shape = np.asarray(placement.shape)
    mask = np.all((coords >= -0.5 - _EPS) & (coords < shape - 0.5 - _EPS), axis=-1)
    if not mask.any():
        return None
    inside = np.clip(coords[mask], 0, shape - 1)
    region_lo = np.floor(inside.min(axis=0)).astype(int)
    region_hi = np.minimum(np.ceil(inside.max(axis=0)).astype(int) + 1, shape)
    # scipy interpolates in float64 at most: a long double accumulator gets float64 samples
    work = acc if acc.itemsize <= 8 else np.dtype(np.float64)
    region = read(tuple(slice(lo, hi) for lo, hi in zip(region_lo, region_hi))).astype(work)
    values = ndimage.map_coordinates(
        region, np.moveaxis(coords - region_lo, -1, 0), order=1, mode="nearest", output=work
    ).astype(acc, copy=False)
    scores = None
    if weighting is not None:
        scores = sum(weighting.axis_scores([coords[..., a] for a in range(3)], placement.shape)).astype(
            score_dtype(acc))
        scores[~mask] = -np.inf
    box_in_chunk = tuple(slice(lo - c, hi - c) for lo, hi, c in zip(low, high, chunk_start))
    return box_in_chunk, values, scores, mask
