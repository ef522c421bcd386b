"""Lazy multiscale fusion for viewers: every level fused straight from the tiles on its own
coarser grid, from every f-th pixel of each tile, never by downsampling level 0.

A viewer showing the whole mosaic asks for its coarsest level only; fusing that level from
strided tile reads touches 1/f^2 of the tile pixels (fewer still where a reader reads strided
rows only), where downsampling level 0 would fuse every full-resolution pixel first.

Level k's pixel i sits at origin + i * f * spacing (f: the level's step on that axis), the
physical point of level-0 pixel i * f: where napari draws a level whose shape is 1/f of level
0's (it relates levels by their shapes, with no per-level translation). So a level is the
nearest-neighbour subsample of level 0 wherever one tile covers the pixel: each tile is read
from the pixel that lands on a grid point (`_first_sample`), so the strided tile sits at a
whole-pixel offset and is pasted, not resampled. The levels are those `convert` writes
(`pyramid.level_factors`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import dask.array as da
import numpy as np
import xarray as xr

from ngff_fuse import transforms
from ngff_fuse._axes import SPATIAL
from ngff_fuse.fuse.blend import BlendMode
from ngff_fuse.fuse.core import as_dataarray, fuse_plan
from ngff_fuse.fuse.pixels import sliced_source
from ngff_fuse.fuse.plan import FusionPlan, output_grid, plan_fusion
from ngff_fuse.model import OutputGrid, Tile, TileSet, tile_array
from ngff_fuse.pyramid import level_factors
from ngff_fuse.readers.raster_reads import index_ranges
from ngff_fuse.writer import WriteOptions


@dataclass(frozen=True)
class LazyLevel:
    """One level: the lazy (t, c, z, y, x) pixels, its fusion plan, and its step from level 0."""

    data: da.Array
    plan: FusionPlan  # its grid, and where each strided tile lands on it
    step: tuple[int, int, int]  # (z, y, x)


class StridedView:
    """`source[:, :, oz::fz, oy::fy, ox::fx]` of a 5-D array-like, as an array-like whose
    indexing asks the source for the strided region only (a lazy reader then reads just those
    planes and rows; dask's own strided slicing reads whole source blocks first)."""

    def __init__(self, source, first: tuple[int, int, int], step: tuple[int, int, int]) -> None:
        self.source = source
        self.first = first
        self.step = step
        self.dtype = np.dtype(source.dtype)
        self.ndim = 5
        self.shape = (*source.shape[:2], *(
            -(-(n - o) // f) for n, o, f in zip(source.shape[2:], first, step)
        ))

    def __getitem__(self, key) -> np.ndarray:
        ranges, squeeze = index_ranges(key, self.shape)
        outer = tuple(slice(r.start, r.stop, r.step) for r in ranges[:2])
        spatial = tuple(
            slice(o + f * r.start, o + f * r.start + f * r.step * len(r), f * r.step)
            for r, o, f in zip(ranges[2:], self.first, self.step)
        )
        region = np.asarray(self.source[outer + spatial])
        return region.squeeze(axis=tuple(squeeze)) if squeeze else region


def _first_sample(tile: Tile, grid: OutputGrid, step: tuple[int, int, int]) -> tuple[int, int, int]:
    """The first tile pixel, per axis, that falls on a point of the level's grid: for a tile at
    offset d (level-0 pixels) the pixels p with p + d a multiple of f. A rotated tile, or one
    too small to reach a grid point, starts at its first pixel and is resampled by fusion."""
    matrix = transforms.invert(grid.affine) @ tile.affine
    if not transforms.is_translation(matrix, 1e-9):
        return (0, 0, 0)
    offset = matrix[:3, 3]
    return tuple(min(round(float(-d)) % f, n - 1) for d, f, n in zip(offset, step, tile.spatial_shape))


def _strided_data(tile: Tile, first: tuple[int, int, int], step: tuple[int, int, int]) -> da.Array:
    data = tile.data.data
    source = sliced_source(data)
    if source is None:  # not a plain reader array: dask slices it (reading whole blocks)
        return data[(slice(None), slice(None), *(slice(o, None, f) for o, f in zip(first, step)))]
    view = StridedView(source, first, step)
    return da.from_array(view, chunks=(1, 1, 1, *view.shape[3:]), inline_array=True,
                         meta=np.empty((0,) * 5, dtype=view.dtype))


def strided_tileset(tileset: TileSet, grid0: OutputGrid, step: tuple[int, int, int]) -> TileSet:
    """The tile set read at every `step`-th pixel (z, y, x): each tile's pixels from its
    `_first_sample` on, its affine stretched by the step, its pixels where they were. z is read
    whole where striding would leave a z-stack tile one plane (a `TileSet` refuses planes among
    stacks); fusion then samples its planes on the coarser grid."""
    if step == (1, 1, 1):
        return tileset
    firsts = [_first_sample(tile, grid0, step) for tile in tileset.tiles]
    if tileset.is_3d and any(-(-(t.spatial_shape[0] - o[0]) // step[0]) < 2 for t, o in zip(tileset.tiles, firsts)):
        step = (1, *step[1:])
        firsts = [(0, *o[1:]) for o in firsts]
    tiles = []
    for tile, first in zip(tileset.tiles, firsts):
        affine = tile.affine @ transforms.translation(first) @ transforms.scaling(step)
        data = _strided_data(tile, first, step)
        names = tuple(str(c) for c in tile.data.coords["c"].values) if "c" in tile.data.coords else None
        tiles.append(replace(tile, affine=affine, data=tile_array(
            data, np.asarray(tileset.spacing) * step, affine[:3, 3], tile.name, names)))
    spacing = tuple(float(s * f) for s, f in zip(tileset.spacing, step))
    return replace(tileset, tiles=tuple(tiles), spacing=spacing)


def level_grid(grid0: OutputGrid, step: tuple[int, int, int]) -> OutputGrid:
    """Level-0's grid at every `step`-th pixel: same first pixel, `step` times the spacing."""
    return OutputGrid(origin=grid0.origin,
                      spacing=tuple(s * f for s, f in zip(grid0.spacing, step)),
                      shape=tuple(-(-n // f) for n, f in zip(grid0.shape, step)))


def level_steps(tileset: TileSet, grid0: OutputGrid, chunk: int, levels: int | None) -> list[tuple[int, int, int]]:
    """The (z, y, x) step of every level `convert --chunk chunk --levels levels` would write."""
    axes = [i for i, ax in enumerate(SPATIAL) if ax in tileset.dims]
    shape = {SPATIAL[i]: grid0.shape[i] for i in axes}
    spacing = {SPATIAL[i]: grid0.spacing[i] for i in axes}
    return [tuple(f.get(ax, 1) for ax in SPATIAL) for f in level_factors(shape, spacing, chunk, levels)]


def lazy_levels(
    tileset: TileSet,
    blend: BlendMode | str = BlendMode.FEATHER,
    options: WriteOptions | None = None,
) -> list[LazyLevel]:
    """Every level of the pyramid `convert` would write for `tileset`, each fused lazily from
    strided tile reads on its own grid (see the module docstring)."""
    options = options or WriteOptions()
    grid0 = output_grid(tileset)
    edge = options.chunk
    levels = []
    for step in level_steps(tileset, grid0, options.chunk, options.levels):
        grid = level_grid(grid0, step)
        strided = strided_tileset(tileset, grid0, step)
        chunk = (options.z_chunk(grid.shape[0]), edge, edge)
        plan = plan_fusion(strided, chunk, grid=grid)
        levels.append(LazyLevel(fuse_plan(strided, plan, blend, options.fill), plan, step))
    return levels


def level_mosaic(level: LazyLevel, tileset: TileSet) -> xr.DataArray:
    """The level as `fuse` gives a mosaic: the source's axes, physical coordinates, channel
    names and colours."""
    return as_dataarray(level.data, tileset, level.plan, squeeze=True)
