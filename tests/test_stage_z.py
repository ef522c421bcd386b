"""z of the tiles: 2-D tiles at any stage z land in one plane with every pixel, their z kept as
metadata; z-stacks of any depth are placed by their z; 2-D tiles and z-stacks never mix."""

from __future__ import annotations

import json
from dataclasses import replace

import dask.array as da
import numpy as np
import pytest
import zarr

from ngff_fuse import transforms
from ngff_fuse.cli import main
from ngff_fuse.fuse.core import fuse
from ngff_fuse.model import Tile, TileSet, tile_array
from ngff_fuse.readers import read_input
from ngff_fuse.testing import SyntheticMosaic, synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from ngff_fuse.testing.tile_files import write_imagej_tiff, write_manifest
from ngff_checks import multiscale

WRITERS = {
    "ome-tiff": lambda m, d: write_ome_tiff(m, d / "tiles.ome.tif"),
    "manifest": lambda m, d: write_manifest(m, d, kind="json"),
}


def at_stage_z(mosaic: SyntheticMosaic, spread: float, seed: int) -> tuple[SyntheticMosaic, list[float]]:
    """The mosaic's tiles in a random order, each at its own stage z spread over `spread` um
    around -2 (both signs), as autofocus leaves them."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(mosaic.tiles))
    z = (-2.0 + spread * (rng.permutation(len(order)) / (len(order) - 1) - 0.5)).round(3)
    tiles = tuple(replace(mosaic.tiles[i], position=(float(zi), *mosaic.tiles[i].position[1:]))
                  for i, zi in zip(order, z))
    return replace(mosaic, tiles=tiles), z.tolist()


@pytest.mark.parametrize("spread", [0.4, 9.0])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", WRITERS)
def test_2d_tiles_at_any_stage_z_are_all_fused_in_one_plane(kind, spread, seed, tmp_path, capsys):
    mosaic, stage_z = at_stage_z(
        synthetic_mosaic(grid=(2, 3), tile_shape=(30, 40), spacing=(1.0, 0.5, 0.5), seed=seed),
        spread, seed)
    source = WRITERS[kind](mosaic, tmp_path)
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(source), str(out), "--chunk", "32", "--fill", "0"]) == 0
    assert "fused into one plane" in capsys.readouterr().out

    level0 = zarr.open_array(out / "0", mode="r")[:]  # (y, x): one channel, 2-D
    offsets = np.array([t.pixel_offset[1:] for t in mosaic.tiles], dtype=int)
    first = offsets.min(axis=0)
    for tile, offset in zip(mosaic.tiles, offsets):  # every pixel of every tile, where it belongs
        low = offset - first
        placed = level0[low[0]:low[0] + 30, low[1]:low[1] + 40]
        assert np.array_equal(placed, tile.data[0, 0, 0])

    kept = multiscale(out)["metadata"]["stage_z"]
    assert kept["plane"] == pytest.approx(np.median(stage_z))
    assert [t["z"] for t in kept["tiles"]] == pytest.approx(stage_z)
    assert main(["info", str(source), "--json", "--no-orientation-check"]) == 0
    [scene] = json.loads(capsys.readouterr().out)["scenes"]
    assert [t["stage_z"] for t in scene["tile_positions"]] == pytest.approx(stage_z)
    assert main(["info", str(source), "--no-orientation-check"]) == 0
    assert "stage z" in capsys.readouterr().out


def test_kept_tiles_keep_their_stage_z_and_refuse_to_the_same_plane(tmp_path):
    mosaic, stage_z = at_stage_z(synthetic_mosaic(grid=(2, 2), tile_shape=(30, 40)), 9.0, 3)
    source = write_manifest(mosaic, tmp_path)
    store = tmp_path / "kept.ome.zarr"
    assert main(["convert", str(source), str(store), "--keep-tiles", "--quiet"]) == 0
    [tileset] = read_input(store)
    assert [t.recorded_z for t in tileset.tiles] == pytest.approx(stage_z)
    assert [t.origin[0] for t in tileset.tiles] == pytest.approx([np.median(stage_z)] * 4)
    refused = tmp_path / "again.ome.zarr"
    assert main(["fuse-store", str(store), str(refused), "--quiet"]) == 0
    assert np.array_equal(zarr.open_array(refused / "0")[:], zarr.open_array(store / "0")[:])


def test_a_manifest_mixing_2d_tiles_and_a_z_stack_is_refused(tmp_path, capsys):
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(30, 40))
    for first in (0, 2):  # the stack listed first or later: never truncated to one plane
        folder = tmp_path / str(first)
        source = write_manifest(mosaic, folder)
        stack = np.repeat(mosaic.tiles[first].data, 5, axis=2)
        write_imagej_tiff(folder / f"tile_{first:03d}.tif", stack, spacing=mosaic.spacing)
        out = folder / "out.ome.zarr"
        assert main(["convert", str(source), str(out)]) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and "2-D tiles and z-stacks cannot be fused" in error[0]
        assert "tif: one z plane but" in error[0] and f"tile_{first:03d}.tif has 5" in error[0]
        assert not out.exists()


def test_z_stacks_of_different_depths_are_placed_by_their_z():
    """Each stack covers its own z range: every voxel of every stack lands where it was cut."""
    spacing = (2.0, 0.5, 0.5)
    truth = synthetic_mosaic(grid=(1, 1, 1), tile_shape=(16, 50, 60), jitter=0).truth[0, 0]
    boxes = [  # (z, y, x) first voxel and shape: depths 3 to 16, starting anywhere in z
        ((0, 0, 0), (16, 30, 30)), ((5, 0, 25), (3, 30, 35)), ((2, 20, 0), (9, 30, 30)),
        ((11, 20, 25), (5, 30, 35)),
    ]
    rng = np.random.default_rng(4)
    tiles = []
    for i in rng.permutation(len(boxes)):
        first, shape = boxes[i]
        data = truth[tuple(slice(f, f + n) for f, n in zip(first, shape))][None, None]
        origin = tuple(-7.0 + f * s for f, s in zip(first, spacing))
        tiles.append(Tile(tile_array(da.from_array(data), spacing, origin, f"t{i}"),
                          transforms.placement(spacing, origin), f"t{i}", f"t{i}.tif"))
    tileset = TileSet(tuple(tiles), spacing, ("z", "y", "x"))
    for blend in ("feather", "mean", "first"):
        fused = fuse(tileset, blend=blend, chunk_size=(4, 16, 16))
        assert fused.dims == ("z", "y", "x") and fused.shape == truth.shape
        assert fused.z.values[0] == -7.0
        covered = np.zeros(truth.shape, dtype=bool)
        for first, shape in boxes:
            covered[tuple(slice(f, f + n) for f, n in zip(first, shape))] = True
        assert np.array_equal(fused.values[covered], truth[covered])
        assert np.all(fused.values[~covered] == 0)
