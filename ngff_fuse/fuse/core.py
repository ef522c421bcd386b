"""fuse(tileset) -> a lazy mosaic: one dask task per output chunk, no files written here.

The graph holds one node with the tiles and one task per output chunk (t, c, z, y, x); each
task gets the placements of only the tiles that touch its chunk, reads just the tile regions
it needs, and blends them. Task count grows with output chunks, never chunks x tiles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dask.array as da
import numpy as np
import xarray as xr
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from ngff_fuse._axes import AXES, SPATIAL
from ngff_fuse.fuse.blend import (
    BlendMode,
    accumulator_dtype,
    edge_weighting,
    new_fuser,
    relative_weights,
    score_dtype,
)
from ngff_fuse.fuse.paste import paste_chunk
from ngff_fuse.fuse.pixels import TilePixels
from ngff_fuse.fuse.plan import FusionPlan, TilePlacement, plan_fusion
from ngff_fuse.fuse.sample import sample_affine, sample_translation
from ngff_fuse.model import OutputGrid, TileSet
from ngff_fuse.stage_clock import CLOCK


@dataclass(frozen=True)
class ChunkTask:
    """Everything one output chunk needs besides the tile pixels."""

    t: int
    c: int
    start: tuple[int, int, int]
    stop: tuple[int, int, int]
    placements: tuple[TilePlacement, ...]
    blend: BlendMode
    widths: tuple[float, float, float]
    fill: float
    dtype: np.dtype


#: A per-tile transform of the pixels a task reads: (tile index, channel, box, values) ->
#: float values (e.g. `illumination.Correction`); the fusers round and clip them as any floats.
TileTransform = Callable[[int, int, tuple[slice, slice, slice], np.ndarray], np.ndarray]


def fuse_chunk(pixels: TilePixels, task: ChunkTask, transform: TileTransform | None = None) -> np.ndarray:
    """Fuse one output chunk; returns shape (1, 1, z, y, x)."""
    def read_tile(index: int, box: tuple[slice, slice, slice]) -> np.ndarray:
        with CLOCK.timing("reading"):
            values = pixels.read(index, task.t, task.c, box)
        return values if transform is None else transform(index, task.c, box, values)

    with CLOCK.timing("fusing"):
        if all(p.offset is not None for p in task.placements):
            return paste_chunk(task, read_tile)[None, None]
        return blend_chunk(task, read_tile)[None, None]


def blend_chunk(task: ChunkTask, read_tile) -> np.ndarray:
    """The general path: every tile, translated or not, runs through the fuser over the whole
    chunk. Chunks of translated tiles only take `paste_chunk`, which gives the same bytes."""
    start, stop = np.asarray(task.start), np.asarray(task.stop)
    shape = tuple(int(n) for n in stop - start)
    acc = accumulator_dtype(task.dtype)
    weighting = edge_weighting(task.blend, task.widths)
    samples = []
    for placement in task.placements:
        def read(box, index=placement.index):
            return read_tile(index, box)

        sampler = sample_translation if placement.offset is not None else sample_affine
        sampled = sampler(placement, start, stop, read, acc, weighting)
        if sampled is not None:
            samples.append(sampled)
    fuser = new_fuser(task.blend, shape, task.dtype)
    if weighting is None:
        for sampled in samples:
            fuser.add(*sampled)
        return fuser.result(task.fill, task.dtype)
    best = np.full(shape, -np.inf, dtype=score_dtype(acc))
    for box, _, scores, _ in samples:
        np.maximum(best[box], scores, out=best[box])
    for box, values, scores, mask in samples:
        fuser.add(box, values, relative_weights(scores, best[box], acc), mask)
    return fuser.result(task.fill, task.dtype)


def chunk_tasks(tileset: TileSet, plan: FusionPlan, blend: BlendMode, fill: float):
    """Every output chunk's block index (t, c, z, y, x) and its task, in block order."""
    bounds = [np.concatenate([[0], np.cumsum(c)]) for c in plan.chunks]
    for t in range(tileset.n_timepoints):
        for c in range(tileset.n_channels):
            for key in np.ndindex(*(len(c_) for c_ in plan.chunks)):
                yield (t, c, *key), ChunkTask(
                    t=t, c=c,
                    start=tuple(int(bounds[a][key[a]]) for a in range(3)),
                    stop=tuple(int(bounds[a][key[a] + 1]) for a in range(3)),
                    placements=tuple(plan.placements[i] for i in plan.tiles_by_chunk.get(key, ())),
                    blend=blend, widths=plan.blend_width, fill=fill, dtype=tileset.dtype,
                )


def fuse_plan(
    tileset: TileSet, plan: FusionPlan, blend: BlendMode | str = BlendMode.FEATHER, fill: float = 0,
    transform: TileTransform | None = None,
) -> da.Array:
    """The lazy 5-D (t, c, z, y, x) mosaic for a plan; `transform` applied to every tile region
    read, in the task that reads it (shipped to each worker once, like the tiles)."""
    blend = BlendMode(blend)
    dtype = tileset.dtype
    token = tokenize(plan.grid, plan.chunks, plan.blend_width, blend, fill,
                     [tile.data.data for tile in tileset.tiles],
                     [p.grid_from_tile for p in plan.placements], transform)
    name = f"ngff-fuse-{token}"
    pixels_key = f"ngff-fuse-tiles-{token}"
    graph: dict = {pixels_key: TilePixels(tuple(t.data.data for t in tileset.tiles),
                                          tuple(str(t.source) for t in tileset.tiles))}
    transform_key = f"ngff-fuse-transform-{token}"
    if transform is not None:
        graph[transform_key] = transform
    for key, task in chunk_tasks(tileset, plan, blend, fill):
        graph[(name, *key)] = (fuse_chunk, pixels_key, task) if transform is None else \
            (fuse_chunk, pixels_key, task, transform_key)
    layer = HighLevelGraph.from_collections(name, graph, dependencies=())
    chunks = ((1,) * tileset.n_timepoints, (1,) * tileset.n_channels, *plan.chunks)
    return da.Array(layer, name, chunks, dtype=dtype)


def fuse(
    tileset: TileSet,
    blend: BlendMode | str = BlendMode.FEATHER,
    chunk_size: tuple[int, int, int] = (1, 1024, 1024),
    fill: float = 0,
    blend_width: float | None = None,
    squeeze: bool = True,
    grid: OutputGrid | None = None,
    transform: TileTransform | None = None,
) -> xr.DataArray:
    """Fuse a tile set into one lazy mosaic with physical coordinates (um).

    `squeeze` drops the axes the source does not have, so a 2-D single-channel input gives a
    (y, x) mosaic; with `squeeze=False` the result is always (t, c, z, y, x). `grid`: the
    output pixel grid, by default `plan.output_grid` (the tiles' extent at their pixel size).
    `transform` changes each tile region as it is read (illumination correction, see
    `fuse_plan`).
    """
    plan = plan_fusion(tileset, chunk_size, grid=grid, blend_width=blend_width)
    return as_dataarray(fuse_plan(tileset, plan, blend, fill, transform), tileset, plan, squeeze)


def as_dataarray(data: da.Array, tileset: TileSet, plan: FusionPlan, squeeze: bool) -> xr.DataArray:
    grid = plan.grid
    coords = {
        ax: grid.origin[i] + grid.spacing[i] * np.arange(grid.shape[i]) for i, ax in enumerate(SPATIAL)
    }
    coords["c"] = list(tileset.channel_names)
    # each channel's display colour travels with the mosaic, for write_ngff
    coords["color"] = ("c", np.array(list(tileset.channel_colors), dtype=object))
    mosaic = xr.DataArray(
        data, dims=AXES, coords=coords, name=tileset.name,
        attrs={"units": tileset.unit or "pixel", "spacing": grid.spacing},
    )
    if squeeze:
        mosaic = mosaic.isel({ax: 0 for ax in AXES if ax not in tileset.dims})
    return mosaic
