"""Axes a file stores backwards (a negative step): whatever the reader, the tile set holds them
in increasing physical order with a positive step, and every pixel stays where it was."""

from __future__ import annotations

import numpy as np
import pytest

from ngff_fuse import transforms
from ngff_fuse.describe import describe_tileset
from ngff_fuse.fuse.core import fuse
from ngff_fuse.model import Tile, TileSet, TileSource, tile_array
from ngff_fuse.readers.base import ReadOptions
from ngff_fuse.readers.pixel_size import decide_pixel_size
from ngff_fuse.testing import in_memory_tileset, synthetic_mosaic

AXES = ("z", "y", "x")


def _stored_backwards(mosaic, backwards: set[str], affine_only: bool = False) -> TileSet:
    """The mosaic as a file storing the `backwards` axes in decreasing order would hand it
    over: pixels reversed along them, a negative step, each tile's origin at its last plane."""
    flip = [ax in backwards for ax in AXES]
    spacing = tuple(-s if f else s for s, f in zip(mosaic.spacing, flip))
    tiles = []
    for i, tile in enumerate(mosaic.tiles):
        shape = tile.data.shape[2:]
        data = tile.data[(slice(None), slice(None),
                          *(slice(None, None, -1) if f else slice(None) for f in flip))]
        origin = tuple(p + (n - 1) * s if f else p
                       for p, n, s, f in zip(tile.position, shape, mosaic.spacing, flip))
        tiles.append(Tile(
            data=tile_array(data, spacing, origin, f"tile {i}", mosaic.channel_names),
            affine=transforms.placement(spacing, origin), name=f"tile {i}", source=TileSource(f"file tile {i}"),
        ))
    return TileSet(tiles=tuple(tiles), spacing=mosaic.spacing if affine_only else spacing,
                   dims=mosaic.dims, name="backwards", channel_names=mosaic.channel_names)


CASES = [
    ((2, 2), (30, 40), {"y"}),
    ((2, 2), (30, 40), {"x"}),
    ((2, 2), (30, 40), {"y", "x"}),
    ((1, 2, 2), (5, 30, 40), {"z"}),
    ((1, 2, 2), (5, 30, 40), {"z", "y"}),
    ((2, 2, 2), (4, 30, 40), {"z", "y", "x"}),
]


@pytest.mark.parametrize(("grid", "tile_shape", "backwards"), CASES,
                         ids=[f"{len(c[1])}d-{''.join(sorted(c[2]))}" for c in CASES])
def test_backward_axes_come_out_increasing_with_every_pixel_in_place(grid, tile_shape, backwards):
    mosaic = synthetic_mosaic(grid=grid, tile_shape=tile_shape, channels=2, seed=len(backwards),
                              origin=(-30.0, 250.0, -80.0))
    oracle = in_memory_tileset(mosaic)  # the same tiles, never reversed
    tileset = _stored_backwards(mosaic, backwards)
    assert tileset.spacing == pytest.approx(mosaic.spacing)
    assert any(note.startswith(", ".join(ax for ax in AXES if ax in backwards)) for note in tileset.notes)
    for tile, truth in zip(tileset.tiles, oracle.tiles):
        assert np.all(np.diagonal(tile.affine)[:3] > 0)
        assert tile.affine == pytest.approx(truth.affine)  # origin at the lowest plane
        assert np.array_equal(tile.data.values, truth.data.values)
        for ax in AXES:  # coordinates increase and agree with the affine
            assert tile.data.coords[ax].values == pytest.approx(truth.data.coords[ax].values)
    described = describe_tileset(tileset)
    assert described["mosaic"] == describe_tileset(oracle)["mosaic"]
    assert all(n > 0 for n in described["mosaic"]["shape"].values())
    fused = fuse(tileset, blend="mean", chunk_size=(2, 16, 16)).values
    assert np.array_equal(fused, fuse(oracle, blend="mean", chunk_size=(2, 16, 16)).values)


def test_a_tile_whose_affine_alone_points_backwards_is_reversed_too():
    """A reader may give the true (positive) pixel size and mirror tiles in their affine."""
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(30, 40), seed=5)
    tileset = _stored_backwards(mosaic, {"y"}, affine_only=True)
    oracle = in_memory_tileset(mosaic)
    for tile, truth in zip(tileset.tiles, oracle.tiles):
        assert tile.affine == pytest.approx(truth.affine)
        assert np.array_equal(tile.data.values, truth.data.values)


def test_reversal_is_lazy_and_done_once():
    mosaic = synthetic_mosaic(grid=(1, 2, 2), tile_shape=(3, 20, 24), seed=6)
    tileset = _stored_backwards(mosaic, {"z"})
    assert all(hasattr(tile.data.data, "dask") for tile in tileset.tiles)
    from dataclasses import replace

    again = replace(tileset, name="copy")  # __post_init__ runs again: nothing left to reverse
    assert [t.affine.tolist() for t in again.tiles] == [t.affine.tolist() for t in tileset.tiles]
    assert again.notes == tileset.notes


def test_pixel_size_option_keeps_the_direction_the_file_stores():
    """--pixel-size gives sizes; a z stored top-down stays top-down, or it would be mirrored."""
    given = ReadOptions(pixel_size=(2.0, 0.4, 0.4)).pixel_size
    spacing = decide_pixel_size((-6.2, 0.5, 0.5), given, has_depth=True, where="f", source="m").spacing
    assert spacing == (-2.0, 0.4, 0.4)
    spacing = decide_pixel_size((None, None, None), given, has_depth=True, where="f", source="m").spacing
    assert spacing == (2.0, 0.4, 0.4)
