"""Multiscale levels from level 0: downsampling methods as an Enum plus a dispatch table.

Level k+1 is level k reduced by 2 on y and x (and on z while z is not much coarser than
y/x). `Pyramid` says which blocks of level k make each block of level k+1, so the writer
builds every level in the same pass as level 0 (see `ngff_fuse.pyramid_writer`): tiles are read once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from itertools import product

import numpy as np

from ngff_fuse.errors import InputError
from ngff_fuse.fuse.blend import accumulator_dtype, cast_to


class Downsample(str, Enum):
    MEAN = "mean"  # anti-aliasing block average (default, intensities)
    NEAREST = "nearest"  # keep one pixel per block (labels, fastest)
    MAX = "max"  # keep bright sparse structures visible
    MIN = "min"


# Each reducer gets the members of every group as equally shaped strided views of one block
# (one view per offset within a step) and returns a new array of the output dtype: it never
# returns a view, which would keep the whole block alive where it is handed up.
Reducer = Callable[[list[np.ndarray], np.dtype], np.ndarray]


def _mean(members: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    """The exact mean, rounded half to even. Integers up to 32 bits are summed in a wide integer
    type: as exact as a float64 sum, and several times faster than np.mean over a reshaped
    block; 64-bit integers, which no wider type holds, by `_mean_int64`; floats in their
    `accumulator_dtype`, where a sum of maxima does not overflow."""
    if dtype.kind in "ui" and dtype.itemsize <= 4:
        wide = np.int64 if dtype.itemsize == 4 else np.int32 if dtype.kind == "i" else np.uint32
        total = members[0].astype(wide)
        for member in members[1:]:
            total += member
        return _divided(total, len(members), dtype)
    if dtype.kind in "ui":
        return _mean_int64(members)
    return cast_to(np.mean(np.stack(members), axis=0, dtype=accumulator_dtype(dtype)), dtype)


def _divided(total: np.ndarray, n: int, dtype: np.dtype) -> np.ndarray:
    """`total / n` rounded half to even, as `dtype`. For n a power of two (every pyramid step
    is 1 or 2 per axis) in integers, in place: q = total >> s, and adding n/2 - 1 plus q's
    lowest bit before the shift rounds up exactly the remainders above n/2 and, at n/2, the
    odd q (a 2 x 2 mean of uint16 ~2x faster than through float64; the same pixels)."""
    shift = n.bit_length() - 1
    if n != 1 << shift:
        return cast_to(total / n, dtype)
    if shift:
        odd = total >> shift
        odd &= 1
        total += odd
        total += (n >> 1) - 1
        total >>= shift
    return total.astype(dtype)


def _mean_int64(members: list[np.ndarray]) -> np.ndarray:
    """The mean of n 64-bit integers, rounded half to even, in their own type and exactly: each
    v is split into v // n and v % n, so the quotients sum to at most the largest value and the
    remainders (each below n) add up without overflow."""
    n = len(members)
    quotient, remainder = np.divmod(members[0], n)
    for member in members[1:]:
        q, r = np.divmod(member, n)
        quotient += q
        remainder += r
    carry, left = np.divmod(remainder, n)  # mean = quotient + carry + left / n, 0 <= left < n
    quotient += carry
    quotient += (2 * left > n) | ((2 * left == n) & (quotient % 2 == 1))
    return quotient


def _nearest(members: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    return members[0].copy()  # the first pixel of each group


def _fold(ufunc: np.ufunc) -> Reducer:
    def reduce(members: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
        result = ufunc(members[0], members[1])
        for member in members[2:]:
            ufunc(result, member, out=result)
        return result

    return reduce


_REDUCERS: dict[Downsample, Reducer] = {
    Downsample.MEAN: _mean,
    Downsample.NEAREST: _nearest,
    Downsample.MAX: _fold(np.maximum),
    Downsample.MIN: _fold(np.minimum),
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
        if all(f == 1 for f in step.values()):  # nothing left to halve: more levels would repeat
            raise InputError(f"--levels {levels}: the mosaic is down to one pixel after "
                             f"{len(factors)} levels; give --levels {len(factors)} or fewer")
        factors.append({ax: current[ax] * step[ax] for ax in shape})
    return factors


def reduce_block(block: np.ndarray, step: tuple[int, ...], method: Downsample) -> np.ndarray:
    """Level k+1 pixels from a piece of level k that starts on a whole step: the last, partial
    step of an axis is padded by repeating its edge pixel, never dropped."""
    if all(f == 1 for f in step):
        return block
    pad = [(0, (-n) % f) for n, f in zip(block.shape, step)]
    if any(after for _, after in pad):
        block = np.pad(block, pad, mode="edge")
    members = [block[tuple(slice(o, None, f) for o, f in zip(offset, step))]
               for offset in product(*(range(f) for f in step))]
    return _REDUCERS[method](members, block.dtype)


@dataclass(frozen=True)
class Pyramid:
    """Every level's shape and write-block grid, and how each level is made from the one
    below it: a block of level k+1 covers whole blocks of level k (the block edge is the same
    on every level, so 2 x 2 of them on y/x where the step is 2, and 1 where it is 1).

    Each block is reduced where it is written, so the tiles are read once, for level 0, and a
    level-k block is handed up as soon as it is written. Where the grid is `local` (every block
    but the last starts and ends on a whole step) a block hands up its own reduced pixels, 1/4
    of its size on y/x; otherwise (an odd --chunk or z chunk on a reduced axis) a step straddles
    two blocks, so it hands up its pixels and the parent reduces them together.
    """

    shapes: tuple[tuple[int, ...], ...]
    grids: tuple[tuple[tuple[int, ...], ...], ...]  # per level, dask-style chunks per axis
    steps: tuple[tuple[int, ...], ...]  # steps[k]: level k -> k+1 factor per axis
    method: Downsample

    def blocks(self, level: int) -> tuple[int, ...]:
        return tuple(len(c) for c in self.grids[level])

    def index(self, level: int, flat: int) -> tuple[int, ...]:
        """Block index per axis from its position in C order (how blocks are numbered)."""
        return tuple(int(i) for i in np.unravel_index(flat, self.blocks(level)))

    def flat(self, level: int, index: tuple[int, ...]) -> int:
        return int(np.ravel_multi_index(index, self.blocks(level)))

    def region(self, level: int, index: tuple[int, ...]) -> tuple[slice, ...]:
        # every block has the edge of the first, except the last, clipped to the level
        return tuple(slice(c[0] * i, min(c[0] * (i + 1), n))
                     for c, i, n in zip(self.grids[level], index, self.shapes[level]))

    def local(self, level: int) -> bool:
        """True when each block of `level` reduces to level+1 on its own."""
        return all(f == 1 or len(c) == 1 or c[0] % f == 0
                   for f, c in zip(self.steps[level], self.grids[level]))

    def sources(self, level: int, index: tuple[int, ...]) -> tuple[range, ...]:
        """Per axis, the blocks of level-1 that block `index` of `level` is made from."""
        ranges = []
        for region, below, f, n in zip(self.region(level, index), self.grids[level - 1],
                                       self.steps[level - 1], self.shapes[level - 1]):
            edge = below[0]  # level-1 pixels [start * f, stop * f) in blocks of `edge`
            ranges.append(range(region.start * f // edge, -(-min(region.stop * f, n) // edge)))
        return tuple(ranges)

    def reduce(self, level: int, block: np.ndarray) -> np.ndarray:
        return reduce_block(block, self.steps[level], self.method)


def plan_pyramid(
    shape: tuple[int, ...],
    dims: tuple[str, ...],
    factors: list[dict[str, int]],
    block: tuple[int, ...],
    method: Downsample | str = Downsample.MEAN,
) -> Pyramid:
    """The levels `factors` asks for (see `level_factors`), written in blocks of `block`."""
    # imported here: the CLI's parser imports `Downsample`, and must not wait for dask
    from dask.array.core import normalize_chunks

    shapes = tuple(tuple(-(-n // f.get(ax, 1)) for ax, n in zip(dims, shape)) for f in factors)
    grids = tuple(normalize_chunks(tuple(max(1, min(b, n)) for b, n in zip(block, s)), s) for s in shapes)
    steps = tuple(tuple(high.get(ax, 1) // low.get(ax, 1) for ax in dims)
                  for low, high in zip(factors, factors[1:]))
    return Pyramid(shapes, grids, steps, Downsample(method))
