"""The tile model: tile_array's coordinates and xarray behaviour, TileSet's checks on its tiles."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from ngff_fuse import transforms
from ngff_fuse.errors import InputError
from ngff_fuse.model import Tile, TileSet, tile_array

SPACING = (2.0, 0.65, 0.65)


def _tile(origin, name, shape=(1, 2, 3, 16, 12), dtype=np.uint16) -> Tile:
    data = da.zeros(shape, dtype=dtype, chunks=(1, 1, 1, *shape[3:]))
    return Tile(tile_array(data, SPACING, origin, name), transforms.placement(SPACING, origin),
                name, f"{name}.tif")


def test_tile_array_coordinates_are_physical_and_indexed():
    pixels = np.arange(2 * 3 * 4 * 5 * 6, dtype=np.uint16).reshape(2, 3, 4, 5, 6)
    tile = tile_array(pixels, SPACING, (1.5, -520.3, 1000.1), "t0", ("DAPI", "GFP", "Cy5"))
    assert tile.dims == ("t", "c", "z", "y", "x") and tile.name == "t0"
    assert tile.attrs == {"units": "micrometer"}
    assert np.array_equal(tile.x.values, 1000.1 + 0.65 * np.arange(6))
    assert np.array_equal(tile.y.values, -520.3 + 0.65 * np.arange(5))
    assert np.array_equal(tile.z.values, 1.5 + 2.0 * np.arange(4))
    assert tile.c.values.tolist() == ["DAPI", "GFP", "Cy5"] and tile.c.dtype.kind == "U"
    xr.testing._assert_internal_invariants(tile, check_default_indexes=True)
    # label selection works as on any DataArray, and reads the right pixels
    picked = tile.sel(c="GFP", y=-520.3 + 0.65 * 2, x=slice(1000.5, 1002.0)).values
    assert np.array_equal(picked, pixels[:, 1, :, 2, 1:3])
    moved = tile.assign_coords(x=tile.coords["x"] + 1.0)
    assert np.array_equal(moved.x.values, 1001.1 + 0.65 * np.arange(6))
    with pytest.raises(ValueError, match="2 channel names for 3 channels"):
        tile_array(pixels, SPACING, (0, 0, 0), "t0", ("a", "b"))


def test_tileset_accepts_distinct_tiles_and_names_channels():
    tiles = tuple(_tile((0.0, 0.0, 10.0 * i), f"t{i}") for i in range(3))
    tileset = TileSet(tiles, SPACING, ("c", "z", "y", "x"))
    assert tileset.channel_names == ("Channel 0", "Channel 1")
    assert tileset.dtype == np.uint16 and tileset.n_timepoints == 1


def test_tileset_rejects_a_repeated_position_naming_both_tiles():
    tiles = (_tile((0, 0, 0), "a"), _tile((0, 0, 10), "b"), _tile((0, 0, 20), "c"),
             _tile((0, 0, 10 + 1e-9), "d"))
    with pytest.raises(InputError, match=r"^d\.tif: same position as b\.tif \(\[0\.0, 0\.0, 10"):
        TileSet(tiles, SPACING, ("y", "x"))
    signed = (_tile((0, 0, 0.0), "a"), _tile((0, 0, -0.0), "b"))
    with pytest.raises(InputError, match=r"^b\.tif: same position as a\.tif"):
        TileSet(signed, SPACING, ("y", "x"))


def test_tileset_rejects_a_position_that_is_not_finite():
    tiles = (_tile((0, 0, 0), "a"), _tile((0, np.nan, 5), "b"))
    with pytest.raises(InputError, match=r"^b\.tif: position \[0\.0, nan, 5\.0\] is not a finite"):
        TileSet(tiles, SPACING, ("y", "x"))


def test_tileset_rejects_tiles_with_another_dtype_or_other_channels():
    mixed = (_tile((0, 0, 0), "a"), _tile((0, 0, 5), "b"), _tile((0, 0, 9), "c", dtype=np.uint8))
    with pytest.raises(InputError, match=r"^c\.tif: dtype uint8 differs from uint16 of a\.tif"):
        TileSet(mixed, SPACING, ("y", "x"))
    channels = (_tile((0, 0, 0), "a"), _tile((0, 0, 5), "b", shape=(1, 3, 3, 16, 12)))
    with pytest.raises(InputError, match=r"^b\.tif: 3 channels x 1 timepoints differ from 2 x 1"):
        TileSet(channels, SPACING, ("y", "x"))
    with pytest.raises(InputError, match="no tiles found"):
        TileSet((), SPACING, ("y", "x"))


def test_tileset_bounds_cover_every_tiles_pixel_centres():
    rng = np.random.default_rng(5)
    tiles = []
    for i in range(12):
        affine = transforms.placement(SPACING, rng.uniform(-500, 500, 3))
        affine[:3, :3] = affine[:3, :3] @ np.linalg.qr(rng.normal(size=(3, 3)))[0]  # rotated
        shape = (1, 1, *(int(n) for n in rng.integers(1, 30, 3)))
        data = tile_array(da.zeros(shape, dtype=np.uint8), SPACING, affine[:3, 3], f"t{i}")
        tiles.append(Tile(data, affine, f"t{i}", f"t{i}.tif"))
    low, high = TileSet(tuple(tiles), SPACING, ("z", "y", "x")).bounds()
    corners = np.concatenate([
        transforms.apply(t.affine, transforms.box_corners(t.spatial_shape)) for t in tiles
    ])
    assert np.array_equal(low, corners.min(axis=0)) and np.array_equal(high, corners.max(axis=0))
