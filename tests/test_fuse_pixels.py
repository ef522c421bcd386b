"""Tile regions read straight from the sliced array, or through dask, give the same pixels."""

from __future__ import annotations

import threading

import dask.array as da
import numpy as np

from ngff_fuse.fuse.pixels import TilePixels, sliced_source


class CountingArray:
    """An array-like that records the regions asked of it."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.keys: list = []

    def __getitem__(self, key):
        self.keys.append(key)
        return self.data[key]


def tile(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4000, (1, 2, 3, 20, 24), dtype=np.uint16)


BOX = (slice(1, 3), slice(5, 17), slice(2, 21))


def test_from_array_sources_are_read_directly_and_only_the_region():
    data = tile()
    source = CountingArray(data)
    lazy = da.from_array(source, chunks=(1, 1, 1, 20, 24), inline_array=True)
    assert sliced_source(lazy) is source
    source.keys.clear()
    region = TilePixels((lazy,)).read(0, 0, 1, BOX)
    assert np.array_equal(region, data[0, 1][BOX])
    assert source.keys == [(0, 1, *BOX)]  # one read of just the region


def test_other_dask_arrays_are_read_through_dask():
    data = tile(1)
    lazies = [
        da.from_array(CountingArray(data), chunks=(1, 1, 1, 20, 24), inline_array=False),
        da.from_array(CountingArray(data), chunks=(1, 1, 1, 20, 24), inline_array=True,
                      lock=threading.Lock()),
        da.from_array(data, chunks=(1, 1, 1, 10, 24)).map_blocks(lambda b: b + 1) - 1,
        da.from_array(data, chunks=(1, 1, 1, 10, 24)),  # numpy blocks held in the graph
    ]
    for lazy in lazies:
        assert sliced_source(lazy) is None
        assert np.array_equal(TilePixels((lazy,)).read(0, 0, 1, BOX), data[0, 1][BOX])
