"""The tile model: tile_array's coordinates and xarray behaviour, TileSet's checks on its tiles."""

from __future__ import annotations

from dataclasses import replace

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from ngff_fuse import transforms
from ngff_fuse.errors import InputError
from ngff_fuse.model import Tile, TileSet, tile_array

SPACING = (2.0, 0.65, 0.65)


def _tile(origin, name, shape=(1, 2, 1, 16, 12), dtype=np.uint16) -> Tile:
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
    tiles = tuple(_tile((0.0, 0.0, 10.0 * i), f"t{i}", shape=(1, 2, 3, 16, 12)) for i in range(3))
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
    channels = (_tile((0, 0, 0), "a"), _tile((0, 0, 5), "b", shape=(1, 3, 1, 16, 12)))
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
        shape = (1, 1, *(int(n) for n in rng.integers((2, 1, 1), 30)))  # stacks, not planes
        data = tile_array(da.zeros(shape, dtype=np.uint8), SPACING, affine[:3, 3], f"t{i}")
        tiles.append(Tile(data, affine, f"t{i}", f"t{i}.tif"))
    low, high = TileSet(tuple(tiles), SPACING, ("z", "y", "x")).bounds()
    corners = np.concatenate([
        transforms.apply(t.affine, transforms.box_corners(t.spatial_shape)) for t in tiles
    ])
    assert np.array_equal(low, corners.min(axis=0)) and np.array_equal(high, corners.max(axis=0))


@pytest.mark.parametrize("spread", [0.4, 9.0, -9.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_2d_tiles_at_any_stage_z_share_one_plane_and_keep_their_z(spread, seed):
    rng = np.random.default_rng(seed)
    stage_z = -3.0 + spread * rng.permutation(np.linspace(0, 1, 5))  # any order, any sign
    tiles = tuple(_tile((z, 3.0 * i, 10.0 * i), f"t{i}") for i, z in enumerate(stage_z))
    tileset = TileSet(tiles, SPACING, ("c", "y", "x"))
    plane = float(np.median(stage_z))
    assert [t.origin[0] for t in tileset.tiles] == [plane] * 5
    assert [t.recorded_z for t in tileset.tiles] == stage_z.tolist()
    assert [t.data.z.values.tolist() for t in tileset.tiles] == [[plane]] * 5
    assert [t.origin[1:].tolist() for t in tileset.tiles] == [t.origin[1:].tolist() for t in tiles]
    assert sum("one plane" in note for note in tileset.notes) == 1
    again = replace(tileset, name="again")  # idempotent: no second move, no second note
    assert again.tiles == tileset.tiles and again.notes == tileset.notes
    assert [t.recorded_z for t in TileSet(again.tiles[::-1], SPACING, ("c", "y", "x")).tiles] == \
        stage_z[::-1].tolist()


def test_z_stacks_stay_where_the_stage_put_them():
    tiles = tuple(_tile((z, 0.0, 10.0 * i), f"t{i}", shape=(1, 2, 3, 16, 12))
                  for i, z in enumerate([0.0, 9.0, -4.0]))
    tileset = TileSet(tiles, SPACING, ("c", "z", "y", "x"))
    assert [t.origin[0] for t in tileset.tiles] == [0.0, 9.0, -4.0]
    assert all(t.stage_z is None for t in tileset.tiles) and not tileset.notes


def test_2d_tiles_and_z_stacks_do_not_mix():
    for dims in (("c", "y", "x"), ("c", "z", "y", "x")):
        mixed = (_tile((0, 0, 0), "flat"), _tile((0, 0, 10), "stack", shape=(1, 2, 5, 16, 12)))
        with pytest.raises(InputError, match=r"^flat\.tif: one z plane but stack\.tif has 5; 2-D "
                                             r"tiles and z-stacks cannot be fused"):
            TileSet(mixed, SPACING, dims)


def test_2d_tiles_at_the_same_place_but_another_z_are_named():
    tiles = (_tile((0.0, 0, 0), "a"), _tile((0.0, 0, 10), "b"), _tile((4.0, 0, 0), "c"))
    with pytest.raises(InputError, match=r"^c\.tif: same position as a\.tif .* at stage z 0 and 4; "
                                         r"2-D tiles share one plane"):
        TileSet(tiles, SPACING, ("c", "y", "x"))


@pytest.mark.parametrize("position", [1e308, -1e308, 1e200, 2e15])
def test_tileset_rejects_a_position_beyond_any_stage(position):
    tiles = (_tile((0, 0, 0), "a"), _tile((0, 0, position), "b"))
    with pytest.raises(InputError, match=r"^b\.tif: position .* pixels from 0, beyond any stage; fix"):
        TileSet(tiles, SPACING, ("c", "y", "x"))
