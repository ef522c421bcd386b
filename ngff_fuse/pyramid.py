"""Multiscale levels from level 0: downsampling methods as an Enum plus a dispatch table.

Level k+1 is level k reduced by 2 on y and x (and on z while z is not much coarser than
y/x), so each level is computed from the blocks of the level above in the same dask graph:
tiles are read once, for level 0 only.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

import dask.array as da
import numpy as np

from ngff_fuse.fuse.blend import cast_to


class Downsample(str, Enum):
    MEAN = "mean"  # anti-aliasing block average (default, intensities)
    NEAREST = "nearest"  # keep one pixel per block (labels, fastest)
    MAX = "max"  # keep bright sparse structures visible
    MIN = "min"


def _block_mean(block: np.ndarray, axis=None) -> np.ndarray:
    return np.mean(block, axis=axis, dtype=np.float64)


def _block_nearest(block: np.ndarray, axis=None) -> np.ndarray:
    axis = range(block.ndim) if axis is None else axis
    index = tuple(0 if a in axis else slice(None) for a in range(block.ndim))
    # coarsen hands in blocks reshaped as (n0, f0, n1, f1, ...): take the first of each group.
    return block[index]


_REDUCERS: dict[Downsample, Callable] = {
    Downsample.MEAN: _block_mean,
    Downsample.NEAREST: _block_nearest,
    Downsample.MAX: np.max,
    Downsample.MIN: np.min,
}


def level_factors(
    shape: dict[str, int], spacing: dict[str, float], chunk: int, levels: int | None
) -> list[dict[str, int]]:
    """Per level, the total downsampling factor of each spatial axis (level 0: all 1).

    Without `levels`, stop at the first level whose y and x fit in one chunk. z is halved only
    while its spacing is below 1.5x that of y/x, so anisotropic stacks become isotropic first.
    """
    factors = [{ax: 1 for ax in shape}]
    while True:
        current = factors[-1]
        sizes = {ax: -(-shape[ax] // current[ax]) for ax in shape}
        if levels is None and max(sizes.get("y", 1), sizes.get("x", 1)) <= chunk:
            break
        if levels is not None and len(factors) >= levels:
            break
        if levels is None and max(sizes.get("y", 1), sizes.get("x", 1)) <= 1:
            break
        step = {ax: 2 if ax in ("y", "x") and sizes[ax] > 1 else 1 for ax in shape}
        if "z" in shape and sizes["z"] > 1:
            xy = spacing["x"] * current["x"]
            if spacing["z"] * current["z"] < 1.5 * xy:
                step["z"] = 2
        factors.append({ax: current[ax] * step[ax] for ax in shape})
    return factors


def downsample(array: da.Array, dims: tuple[str, ...], step: dict[str, int], method: Downsample) -> da.Array:
    """Reduce `array` by `step` per named axis; edges are padded by repetition, never dropped."""
    axes = {dims.index(ax): f for ax, f in step.items() if f > 1}
    if not axes:
        return array
    pad = [(0, (-n) % axes.get(i, 1)) for i, n in enumerate(array.shape)]
    if any(after for _, after in pad):
        array = da.pad(array, pad, mode="edge")
    # coarsen needs every block to be a whole number of steps.
    array = array.rechunk({i: _multiple(array.chunks[i], f) for i, f in axes.items()})
    reduced = da.coarsen(_REDUCERS[method], array, axes, trim_excess=False)
    return reduced.map_blocks(_cast_block, array.dtype, dtype=array.dtype)


def _cast_block(block: np.ndarray, dtype) -> np.ndarray:
    return cast_to(block, dtype)


def _multiple(chunks: tuple[int, ...], factor: int) -> int:
    size = max(chunks)
    return max(factor, size - size % factor)


def build_pyramid(
    level0: da.Array,
    dims: tuple[str, ...],
    factors: list[dict[str, int]],
    method: Downsample | str = Downsample.MEAN,
) -> list[da.Array]:
    """All levels, each derived lazily from the previous one."""
    method = Downsample(method)
    levels = [level0]
    for previous, current in zip(factors, factors[1:]):
        step = {ax: current[ax] // previous[ax] for ax in current}
        levels.append(downsample(levels[-1], dims, step, method))
    return levels
