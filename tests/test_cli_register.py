"""Registration through the command line: convert --register, register --out, --positions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import zarr

from ngff_fuse.cli import main
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from ngff_checks import multiscale


@pytest.fixture(scope="module")
def shaky_stage(tmp_path_factory):
    """A 3 x 3 acquisition whose recorded stage positions are off by up to 8 px per tile."""
    mosaic = synthetic_mosaic(grid=(3, 3), tile_shape=(120, 140), overlap=0.2, jitter=0, seed=3)
    rng = np.random.default_rng(11)
    tiles = []
    for tile in mosaic.tiles:
        error = np.array([0.0, *rng.integers(-8, 9, size=2)])
        tiles.append(replace(tile, position=tuple(np.array(tile.position) + error * mosaic.spacing)))
    path = tmp_path_factory.mktemp("shaky") / "tiles.ome.tif"
    write_ome_tiff(replace(mosaic, tiles=tuple(tiles)), path)
    return mosaic, path


def _seam_error(mosaic, out) -> float:
    """Mean |fused - truth| over the covered pixels, the mosaic placed by its first tile."""
    level0 = zarr.open_array(out / "0", mode="r")[:].astype(float)
    start = np.array(mosaic.tiles[0].pixel_offset[1:], dtype=int)
    truth = mosaic.truth[0, 0, 0][start[0]:start[0] + level0.shape[0], start[1]:start[1] + level0.shape[1]]
    h, w = truth.shape
    covered = level0[:h, :w] > 0
    return float(np.abs(level0[:h, :w] - truth)[covered].mean())


def test_register_fixes_a_shaky_stage(shaky_stage, tmp_path):
    mosaic, path = shaky_stage
    stage, registered = tmp_path / "stage.ome.zarr", tmp_path / "registered.ome.zarr"
    assert main(["convert", str(path), str(stage), "--quiet"]) == 0
    assert main(["convert", str(path), str(registered), "--quiet", "--register",
                 "--qc-plot", str(tmp_path / "qc.png")]) == 0
    assert (tmp_path / "qc.png").stat().st_size > 10_000
    report = multiscale(registered)["metadata"]["registration"]
    # 12 edge neighbours, plus the diagonal ones whose corners overlap enough
    assert report["links"]["accepted"] == report["links"]["total"] >= 12
    # registered tiles fall back on each other: the mosaic matches the truth it was cut from
    # (up to where the whole mosaic sits, which the registration's gauge fixes)
    assert _seam_error(mosaic, stage) > 10 * max(_seam_error(mosaic, registered), 1.0)


@pytest.mark.parametrize("suffix", [".txt", ".json"])
def test_saved_positions_reproduce_the_registered_output(shaky_stage, tmp_path, suffix):
    _, path = shaky_stage
    positions = tmp_path / f"positions{suffix}"
    assert main(["register", str(path), "--out", str(positions), "--quiet"]) == 0
    direct, reused = tmp_path / "direct.ome.zarr", tmp_path / "reused.ome.zarr"
    assert main(["convert", str(path), str(direct), "--register", "--quiet"]) == 0
    assert main(["convert", str(path), str(reused), "--positions", str(positions), "--quiet"]) == 0
    a = zarr.open_array(direct / "0", mode="r")[:]
    b = zarr.open_array(reused / "0", mode="r")[:]
    assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_register_and_positions_are_exclusive(shaky_stage, tmp_path, capsys):
    _, path = shaky_stage
    argv = ["convert", str(path), str(tmp_path / "o.zarr"), "--register", "--positions", "p.json"]
    assert main(argv) == 2
    assert "pick one" in capsys.readouterr().err


def test_tiles_the_images_cannot_place_are_named_on_stderr_and_in_the_report(shared_dir, tmp_path, capsys):
    from ngff_fuse.testing.real_grid import convallaria, cut_grid

    image = convallaria(shared_dir / "realdata" / "czi-convallaria" / "mosaic_test.czi")
    mosaic = cut_grid(image, (3, 3), (122, 245), (4, 15), seed=1)
    rng = np.random.default_rng(1)
    tiles = tuple(  # the centre tile saw nothing (a constant field); stage off by +-20 px
        replace(tile, data=np.full_like(tile.data, 500) if i == 4 else tile.data,
                position=tuple(np.add(tile.position, (0, *rng.uniform(-20, 20, 2)))))
        for i, tile in enumerate(mosaic.tiles)
    )
    path = tmp_path / "tiles.ome.tif"
    write_ome_tiff(replace(mosaic, tiles=tiles), path)
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(path), str(out), "--register", "--quiet"]) == 0
    assert capsys.readouterr().err.strip().endswith(
        "warning: registration: 1 of 9 tiles have no accepted link and are placed by the stage "
        "model relative to their neighbours: tile 4")
    report = multiscale(out)["metadata"]["registration"]
    assert report["unlinked_tiles"] == ["tile 4"] and report["detached_groups"] == []
    assert main(["register", str(path), "--out", str(tmp_path / "p.json"), "--quiet"]) == 0
    assert "no accepted link and are placed by the stage model" in capsys.readouterr().err
