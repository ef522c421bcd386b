"""Pure geometry: the output grid, where each tile lands on it, which tiles touch which chunk.

Grid pixel index g and tile pixel index p (both (z, y, x)) relate through
    g = grid_from_tile @ p,   grid_from_tile = inv(grid.affine) @ tile.affine,
so for a pure translation g = p + offset, and output pixel g samples the tile at g - offset.

A pixel is an area: tile pixel p covers [p - 1/2, p + 1/2) on each axis, so a tile reaches the
output pixels whose centres sample it at s in [-1/2, n - 1/2); within half a pixel beyond the
outermost pixel centres the edge value holds. Integer offsets are unaffected; a tile at a
fractional offset covers exactly the output pixels that its footprint mostly covers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ngff_fuse import transforms
from ngff_fuse.boxes import meeting_pairs
from ngff_fuse.errors import InputError
from ngff_fuse.model import MAX_POSITION_PX, OutputGrid, TileSet

_EPS = 1e-6  # grid pixels: positions closer than this to an integer count as integer


@dataclass(frozen=True)
class TilePlacement:
    """Where one tile lands on the output grid."""

    index: int  # position of the tile in the TileSet
    shape: tuple[int, int, int]
    grid_from_tile: np.ndarray
    offset: np.ndarray | None  # grid px; set when the placement is a pure translation
    low: np.ndarray  # first grid pixel (z, y, x) the tile reaches
    stop: np.ndarray  # one past the last grid pixel it reaches


@dataclass(frozen=True)
class FusionPlan:
    grid: OutputGrid
    chunks: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # dask chunks (z, y, x)
    placements: tuple[TilePlacement, ...]
    tiles_by_chunk: dict[tuple[int, int, int], tuple[int, ...]]
    blend_width: tuple[float, float, float]  # feather / linear width in tile pixels (z, y, x)


def output_grid(tileset: TileSet) -> OutputGrid:
    """The grid at the tiles' pixel size whose first pixel is the mosaic's lowest corner."""
    low, high = tileset.bounds()
    spacing = np.asarray(tileset.spacing, dtype=float)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise InputError(f"{tileset.name}: tile positions are not finite numbers; fix them")
    # every grid pixel whose centre lies inside some tile's footprint (up to half a pixel
    # beyond the outermost tile pixel centre, exclusive)
    with np.errstate(over="ignore"):
        extent = np.floor((high - low) / spacing + 0.5 - _EPS)
    if not np.all(extent < MAX_POSITION_PX):  # cast to int64 beyond it wraps to negative sizes
        raise InputError(f"{tileset.name}: the tiles span {np.max(extent):.3g} pixels; check the "
                         "tile positions, their unit and the pixel size")
    shape = extent.astype(np.int64) + 1
    if not tileset.is_3d:
        shape[0] = 1
    return OutputGrid(
        origin=tuple(float(v) for v in low),
        spacing=tuple(float(v) for v in spacing),
        shape=tuple(int(n) for n in shape),
    )


def place(tileset: TileSet, grid: OutputGrid) -> tuple[TilePlacement, ...]:
    grid_inverse = transforms.invert(grid.affine)
    placements = []
    for index, tile in enumerate(tileset.tiles):
        matrix = grid_inverse @ tile.affine
        corners = transforms.apply(matrix, transforms.box_corners(tile.spatial_shape, margin=0.5))
        low = np.ceil(corners.min(axis=0) - _EPS).astype(np.int64)
        stop = np.ceil(corners.max(axis=0) - _EPS).astype(np.int64)
        offset = matrix[:3, 3].copy() if transforms.is_translation(matrix, 1e-9) else None
        placements.append(
            TilePlacement(index, tile.spatial_shape, matrix, offset, np.maximum(low, 0), stop)
        )
    return tuple(placements)


def regular_chunks(length: int, size: int) -> tuple[int, ...]:
    size = max(1, min(size, length))
    full, rest = divmod(length, size)
    return (size,) * full + ((rest,) if rest else ())


def index_chunks(
    placements: tuple[TilePlacement, ...], chunk_size: tuple[int, int, int]
) -> dict[tuple[int, int, int], tuple[int, ...]]:
    """Chunk index -> the tiles whose footprint touches it, in tile order.

    Work is proportional to the chunks each tile covers, never chunks x tiles.
    """
    found: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    size = np.asarray(chunk_size)
    for p in placements:
        first = p.low // size
        last = (p.stop - 1) // size
        if np.any(last < first):
            continue
        for key in np.ndindex(*(last - first + 1)):
            found[tuple(int(v) for v in first + key)].append(p.index)
    return {key: tuple(v) for key, v in found.items()}


#: Default blend width (px): BigStitcher's, and where ghosting of misplaced tiles and seams of
#: tiles that differ in brightness balance on real tiles (benchmarks/bench_blend_width.py).
DEFAULT_BLEND_WIDTH = 40.0


def seam_widths(placements: tuple[TilePlacement, ...]) -> tuple[float, float, float]:
    """Typical overlap (grid px) across the seams on each axis: the default blend width there
    is DEFAULT_BLEND_WIDTH, or the overlap where it is narrower (0: no seams on that axis).

    A pair of neighbours overlaps along every axis; the seam runs across the axis where the
    overlap is smallest relative to the tiles, so that axis gets the pair's overlap length.
    """
    low = np.array([p.low for p in placements], dtype=np.int64).reshape(-1, 3)
    stop = np.array([p.stop for p in placements], dtype=np.int64).reshape(-1, 3)
    a, b = meeting_pairs(low, stop)
    overlap = np.minimum(stop[a], stop[b]) - np.maximum(low[a], low[b])
    extent = np.minimum(stop[a] - low[a], stop[b] - low[b])
    split = (extent > 1) & (overlap < extent)
    seams = split.any(axis=1)
    ratios = np.where(split, overlap / np.maximum(extent, 1), np.inf)[seams]
    axis = np.argmin(ratios, axis=1)
    lengths = overlap[seams][np.arange(len(axis)), axis]
    return tuple(min(DEFAULT_BLEND_WIDTH, float(np.median(lengths[axis == k]))) if np.any(axis == k) else 0.0
                 for k in range(3))


def check_blend_width(width: float | None, tileset: TileSet) -> None:
    """A blend width (px) is finite, > 0 and at most the longest tile edge: wider ones blend
    nothing more and gave weights that vanish in float arithmetic (1e300 gave an all-fill
    mosaic), NaN gives no weights at all. None: the default, see `seam_widths`."""
    if width is None:
        return
    longest = max(max(tile.spatial_shape) for tile in tileset.tiles)
    if not 0 < width <= longest:
        raise InputError(f"--blend-width {width:g}: give the width of the cross-fade in pixels, above 0 "
                         f"and at most {longest} (the longest tile edge)")


def plan_fusion(
    tileset: TileSet,
    chunk_size: tuple[int, int, int],
    grid: OutputGrid | None = None,
    blend_width: float | None = None,
) -> FusionPlan:
    """Everything the chunk kernel needs, computed once, before any pixel is read."""
    check_blend_width(blend_width, tileset)
    grid = grid or output_grid(tileset)
    placements = place(tileset, grid)
    chunk_size = tuple(max(1, min(c, n)) for c, n in zip(chunk_size, grid.shape))
    tiles_by_chunk = index_chunks(placements, chunk_size)
    widths = seam_widths(placements) if blend_width is None else (
        (blend_width if tileset.is_3d else 0.0), blend_width, blend_width
    )
    return FusionPlan(
        grid=grid,
        chunks=tuple(regular_chunks(n, c) for n, c in zip(grid.shape, chunk_size)),
        placements=placements,
        tiles_by_chunk=tiles_by_chunk,
        blend_width=widths,
    )


def output_size_bytes(grid: OutputGrid, tileset: TileSet) -> int:
    return math.prod(grid.shape) * tileset.n_channels * tileset.n_timepoints * tileset.dtype.itemsize
