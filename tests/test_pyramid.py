"""Every pyramid level, built in the same pass as level 0, against a whole-image numpy oracle."""

from __future__ import annotations

from itertools import product

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr
from dask.callbacks import Callback

from ngff_fuse.pyramid import Downsample, level_factors, plan_pyramid
from ngff_fuse.writer import WriteOptions, write_ngff

# (dims, shape, spacing (z, y, x), write options): even blocks reduce on their own; an odd
# chunk or z chunk on a reduced axis makes a step straddle two blocks.
GEOMETRIES = {
    "2d-even": (("c", "y", "x"), (2, 150, 203), (1.0, 0.5, 0.5), dict(ngff="0.5", chunk=32, shard=64)),
    "2d-odd-chunk": (("y", "x"), (150, 203), (1.0, 0.5, 0.5), dict(ngff="0.4", chunk=33)),
    "3d-odd-z": (("z", "y", "x"), (13, 70, 90), (0.4, 0.5, 0.5), dict(ngff="0.4", chunk=16, chunk_z=3)),
    "3d-even-z": (("t", "z", "y", "x"), (2, 13, 70, 90), (0.4, 0.5, 0.5), dict(ngff="0.5", chunk=16, chunk_z=4)),
    "3d-z-held": (("z", "y", "x"), (9, 80, 64), (1.2, 0.5, 0.5), dict(ngff="0.5", chunk=16, chunk_z=2)),
}


def _mosaic(dims, shape, spacing, seed=0) -> xr.DataArray:
    data = np.random.default_rng(seed).integers(0, 65535, shape, dtype=np.uint16)
    coords = {ax: np.arange(n) * dict(zip("zyx", spacing))[ax] for ax, n in zip(dims, shape) if ax in "zyx"}
    return xr.DataArray(data, dims=dims, name="m", coords=coords,
                        attrs={"spacing": spacing, "units": "micrometer"})


def _oracle(level: np.ndarray, step: tuple[int, ...], method: Downsample) -> np.ndarray:
    """Whole level: pad by edge repetition to whole steps, then reduce each step."""
    padded = np.pad(level, [(0, (-n) % f) for n, f in zip(level.shape, step)], mode="edge")
    groups = padded.reshape([x for n, f in zip(padded.shape, step) for x in (n // f, f)])
    axes = tuple(range(1, groups.ndim, 2))
    if method is Downsample.MEAN:
        return np.rint(groups.mean(axis=axes)).astype(level.dtype)
    if method is Downsample.NEAREST:
        return groups[tuple(0 if i in axes else slice(None) for i in range(groups.ndim))]
    return (groups.max if method is Downsample.MAX else groups.min)(axis=axes)


@pytest.mark.parametrize("method", list(Downsample), ids=[m.value for m in Downsample])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=list(GEOMETRIES))
def test_every_level_matches_the_oracle(geometry, method, tmp_path):
    dims, shape, spacing, options = GEOMETRIES[geometry]
    mosaic = _mosaic(dims, shape, spacing)
    out = tmp_path / "out.ome.zarr"
    shapes = write_ngff(mosaic, out, WriteOptions(downsample=method, **options))
    group = zarr.open_group(out, mode="r")
    spatial = {ax: n for ax, n in zip(dims, shape) if ax in "zyx"}
    factors = level_factors(spatial, dict(zip("zyx", spacing)), options["chunk"], None)
    assert len(shapes) == len(factors) > 2
    expected = mosaic.values
    assert np.array_equal(group["0"][:], expected)
    for k, (low, high) in enumerate(zip(factors, factors[1:]), start=1):
        step = tuple(high.get(ax, 1) // low.get(ax, 1) for ax in dims)
        expected = _oracle(expected, step, method)
        assert group[str(k)].shape == expected.shape == shapes[k]
        assert np.array_equal(group[str(k)][:], expected), (k, step)


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=list(GEOMETRIES))
def test_each_block_is_made_from_whole_blocks_below_used_once(geometry):
    dims, shape, spacing, options = GEOMETRIES[geometry]
    write = WriteOptions(**options)
    spatial = {ax: n for ax, n in zip(dims, shape) if ax in "zyx"}
    factors = level_factors(spatial, dict(zip("zyx", spacing)), write.chunk, None)
    edges = {"t": 1, "c": 1, "z": write.z_chunk(spatial.get("z", 1)), "y": write.block_edge(),
             "x": write.block_edge()}
    pyramid = plan_pyramid(shape, dims, factors, tuple(edges[ax] for ax in dims))
    for k in range(1, len(factors)):
        used = []
        for index in product(*map(range, pyramid.blocks(k))):
            sources = pyramid.sources(k, index)
            for axis, (region, blocks, f) in enumerate(zip(pyramid.region(k, index), sources,
                                                              pyramid.steps[k - 1])):
                below = [pyramid.region(k - 1, (0,) * axis + (b,) + (0,) * (len(dims) - axis - 1))[axis]
                         for b in blocks]
                # the blocks below are contiguous and cover exactly the pixels this block reduces
                assert below[0].start == region.start * f
                assert below[-1].stop == min(region.stop * f, pyramid.shapes[k - 1][axis])
                assert all(a.stop == b.start for a, b in zip(below, below[1:]))
            used += list(product(*sources))
        assert sorted(used) == list(product(*map(range, pyramid.blocks(k - 1))))


class _HeldBytes(Callback):
    """Largest total size of the results the scheduler holds at once."""

    def __init__(self) -> None:
        super().__init__()
        self.peak = 0

    def _posttask(self, key, result, dsk, state, worker_id) -> None:
        self.peak = max(self.peak, sum(getattr(v, "nbytes", 0) for v in state["cache"].values()))


@pytest.mark.parametrize("blocks", [8, 32])
def test_memory_held_grows_with_levels_not_blocks(blocks, tmp_path):
    """A level-0 block is freed once written and each level waits for at most 3 reduced
    siblings (3/4 of a block): one block plus 3/4 of one per upper level, for 64 or 1024 blocks."""
    block_bytes = 64 * 64 * 2
    data = da.random.default_rng(1).integers(0, 65535, (blocks * 64, blocks * 64), dtype=np.uint16, chunks=64)
    mosaic = xr.DataArray(data, dims=("y", "x"), coords={ax: np.arange(blocks * 64.0) for ax in "yx"})
    with dask.config.set(scheduler="synchronous"), _HeldBytes() as held:
        shapes = write_ngff(mosaic, tmp_path / "out.ome.zarr", WriteOptions(ngff="0.4", chunk=64))
    assert len(shapes) == 1 + int(np.log2(blocks))
    assert held.peak <= block_bytes * (1 + 0.75 * (len(shapes) - 1)), held.peak / block_bytes


@pytest.mark.parametrize("dtype", [np.uint64, np.int64])
@pytest.mark.parametrize("step", [(2, 2), (2, 2, 2)], ids=["yx", "zyx"])
def test_64_bit_means_are_exact_and_never_overflow(dtype, step):
    """No float64 holds every 64-bit integer, and no wider integer exists: the mean of four
    (or eight) uint64 max is uint64 max, and every block's mean is the exact one, rounded half
    to even (Python's round of the exact fraction), with odd edges padded by repetition."""
    from fractions import Fraction

    from ngff_fuse.pyramid import reduce_block

    info = np.iinfo(dtype)
    rng = np.random.default_rng(7)
    shape = (5, 7) if len(step) == 2 else (3, 5, 7)
    extremes = np.array([info.min, info.min + 1, 2**53 + 1, 2**62 + 3, info.max - 1, info.max], dtype=dtype)
    block = extremes[rng.integers(0, len(extremes), shape)]
    block[:2, :2] = info.max  # whole steps of the largest and of the smallest value
    block[-1, -2:] = info.min
    reduced = reduce_block(block, step, Downsample.MEAN)
    assert reduced.dtype == block.dtype and reduced.flat[0] == info.max
    padded = np.pad(block, [(0, (-n) % f) for n, f in zip(shape, step)], mode="edge")
    for index in np.ndindex(*reduced.shape):
        group = padded[tuple(slice(i * f, (i + 1) * f) for i, f in zip(index, step))]
        exact = Fraction(sum(int(v) for v in group.ravel()), group.size)
        assert int(reduced[index]) == round(exact), (index, group.ravel().tolist())


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32])
@pytest.mark.parametrize("step", [(1, 2), (2, 2), (2, 2, 2)], ids=["x", "yx", "zyx"])
def test_integer_means_round_half_to_even_exactly(dtype, step):
    """Means of integers up to 32 bits, taken in integers: every block's is the exact mean
    rounded half to even (Python's round of the fraction), the extremes included, and ties
    (a remainder of exactly half) both ways."""
    from fractions import Fraction

    from ngff_fuse.pyramid import reduce_block

    info = np.iinfo(dtype)
    rng = np.random.default_rng(3)
    shape = (9, 11) if len(step) == 2 else (5, 9, 11)
    values = np.array([info.min, info.min + 1, -1 if info.min else 2, 0, 1, 2, 3, info.max - 1, info.max])
    block = values[rng.integers(0, len(values), shape)].astype(dtype)
    block[:2, :2] = info.max
    reduced = reduce_block(block, step, Downsample.MEAN)
    assert reduced.dtype == block.dtype
    padded = np.pad(block, [(0, (-n) % f) for n, f in zip(shape, step)], mode="edge")
    ties = 0
    for index in np.ndindex(*reduced.shape):
        group = padded[tuple(slice(i * f, (i + 1) * f) for i, f in zip(index, step))]
        exact = Fraction(sum(int(v) for v in group.ravel()), group.size)
        ties += exact.denominator == 2
        assert int(reduced[index]) == round(exact), (index, group.ravel().tolist())
    assert ties  # the rounding of halves was exercised
