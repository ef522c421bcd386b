"""Absurd options and layouts are refused before any work, in one line naming the file or the
option, exit code 2, nothing written: blend widths, fill values, pixel sizes that pile the
tiles onto one spot or scatter them, stray and overflowing positions, files listed twice,
scenes the input does not have. A stray tile that leaves the mosaic mostly empty is named."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from ngff_fuse.cli import main
from ngff_fuse.errors import InputError
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from ngff_fuse.testing.tile_files import write_manifest, write_tileconfig
from test_reader_ome_companion import write_multifile

TILE = (30, 40)  # (y, x) px of every tile below: the longest edge is 40


def refused(capsys, argv: list[str], out: Path) -> str:
    """Run the CLI; it must exit 2 with one line on stderr and leave no output behind."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert not out.exists()
    return lines[0]


def edit_manifest(path: Path, change) -> Path:
    data = json.loads(path.read_text())
    change(data["tiles"])
    path.write_text(json.dumps(data))
    return path


def plain_tiff_manifest(mosaic, folder: Path) -> Path:
    """Each 2-D tile as a plain TIFF of its own dtype, listed in a manifest in micrometres."""
    tiles = []
    for i, tile in enumerate(mosaic.tiles):
        tifffile.imwrite(folder / f"t{i}.tif", tile.data[0, 0, 0])
        tiles.append({"file": f"t{i}.tif", "x": tile.position[2], "y": tile.position[1]})
    path = folder / "tiles.json"
    path.write_text(json.dumps({"position_unit": "um", "pixel_size": mosaic.spacing[2], "tiles": tiles}))
    return path


@pytest.fixture
def manifest(tmp_path) -> Path:
    return write_manifest(synthetic_mosaic(grid=(2, 2), tile_shape=TILE), tmp_path / "in")


@pytest.mark.parametrize("width", ["nan", "inf", "-inf", "1e300", "0", "-2", "41"])
def test_absurd_blend_width(width, manifest, tmp_path, capsys):
    out = tmp_path / "out.ome.zarr"
    line = refused(capsys, ["convert", str(manifest), str(out), f"--blend-width={width}"], out)
    assert f"--blend-width {float(width):g}" in line and "at most 40 (the longest tile edge)" in line


@pytest.mark.parametrize("width", ["0.5", "40"])
def test_blend_width_up_to_the_tile_edge_fuses_every_pixel(width, tmp_path):
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=TILE, jitter=0)
    source = write_manifest(mosaic, tmp_path / "in")
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(source), str(out), "--blend-width", width, "--quiet"]) == 0
    first, stop = mosaic.truth_extent()
    assert np.array_equal(zarr.open_array(out / "0")[:], mosaic.truth[0, 0, 0, first[1]:stop[1], first[2]:stop[2]])


@pytest.mark.parametrize("dtype, fill, ok", [
    (np.uint16, "65535", True), (np.uint16, "65536", False), (np.uint16, "-1", False),
    (np.uint16, "0.5", False), (np.uint16, "nan", False), (np.uint16, "inf", False),
    (np.uint8, "255", True), (np.uint8, "256", False), (np.int16, "-32768", True),
    (np.int16, "-32769", False), (np.float32, "nan", True), (np.float32, "-inf", True),
    (np.float32, "-1e39", False), (np.float32, "1e-3", True), (np.float32, "1" + "0" * 400, False),
    (np.int64, str(-2**40), True), (np.int64, str(2**63), False), (np.uint16, "1e400", False),
])
def test_fill_must_be_a_value_the_dtype_holds(dtype, fill, ok, tmp_path, capsys):
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=TILE, dtype=dtype, jitter=3, seed=2)
    source = plain_tiff_manifest(mosaic, tmp_path)  # ImageJ and OME-TIFF hold no int64
    out = tmp_path / "out.ome.zarr"
    argv = ["convert", str(source), str(out), f"--fill={fill}", "--quiet"]
    if not ok:
        line = refused(capsys, argv, out)
        shown = fill if fill.lstrip("-").isdigit() else f"{float(fill):g}"
        assert f"--fill {shown}: the output is {np.dtype(dtype)}" in line
        return
    assert main(argv) == 0
    level0 = zarr.open_array(out / "0")[:]
    uncovered = level0[np.isnan(level0)] if np.isnan(float(fill)) else level0[level0 == np.dtype(dtype).type(fill)]
    assert uncovered.size > 0  # the jittered tiles leave corners uncovered: they hold the fill


@pytest.mark.parametrize("factor", [1000, 100])
def test_a_pixel_size_far_too_large_piles_the_tiles_and_is_refused(factor, manifest, tmp_path, capsys):
    out = tmp_path / "out.ome.zarr"
    line = refused(capsys, ["convert", str(manifest), str(out), "--pixel-size", str(0.65 * factor)], out)
    assert str(manifest) in line and "px wide: the pixel size" in line and "--pixel-size" in line


def test_a_file_whose_pixel_size_is_1000x_too_large_is_refused(tmp_path, capsys):
    mosaic = synthetic_mosaic(grid=(3, 3), tile_shape=TILE)
    source = write_ome_tiff(replace(mosaic, spacing=(1.0, 650.0, 650.0)), tmp_path / "tiles.ome.tif")
    out = tmp_path / "out.ome.zarr"
    line = refused(capsys, ["info", str(source)], out)
    assert str(source) in line and "the 9 tiles of tiles lie within" in line


def test_a_pixel_size_far_too_small_scatters_the_tiles_and_is_refused(manifest, tmp_path, capsys):
    out = tmp_path / "out.ome.zarr"
    line = refused(capsys, ["convert", str(manifest), str(out), "--pixel-size", "0.00065"], out)
    assert "every tile lies more than 3 tile widths from any other" in line


def test_one_stray_tile_is_named_and_a_far_stray_one_refused(tmp_path, capsys):
    mosaic = synthetic_mosaic(grid=(3, 4), tile_shape=TILE, spacing=(1.0, 0.5, 0.5))
    source = write_manifest(mosaic, tmp_path / "in")
    width = 4 * TILE[1] * 0.5  # about the mosaic's width, um

    def stray(distance):
        def move(tiles):
            tiles[5]["x"] += distance
        return move

    edit_manifest(source, stray(100 * width))  # the mosaic becomes ~100x larger
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(source), str(out)]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "tile_005.tif (tile_005" in warning[0] and "check their positions" in warning[0]
    assert main(["info", str(source), "--json", "--no-orientation-check"]) == 0
    assert any("tile_005.tif" in note for note in json.loads(capsys.readouterr().out)["scenes"][0]["notes"])
    edit_manifest(source, stray(1e6 * width))
    line = refused(capsys, ["convert", str(source), str(tmp_path / "far.ome.zarr")], tmp_path / "far.ome.zarr")
    assert "would cover only" in line and "tile_005.tif" in line


@pytest.mark.parametrize("position", [1e308, -1e308, 1e200])
@pytest.mark.parametrize("kind", ["manifest", "ome-tiff", "tileconfig"])
def test_a_position_beyond_any_stage_is_one_line(kind, position, tmp_path, capsys):
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=TILE)
    tiles = list(mosaic.tiles)
    tiles[2] = replace(tiles[2], position=(0.0, tiles[2].position[1], position),
                       pixel_offset=(0.0, tiles[2].pixel_offset[1], position))
    mosaic = replace(mosaic, tiles=tuple(tiles))
    folder = tmp_path / "in"
    folder.mkdir()
    source = {"manifest": lambda: write_manifest(mosaic, folder),
              "ome-tiff": lambda: write_ome_tiff(mosaic, folder / "tiles.ome.tif"),
              "tileconfig": lambda: write_tileconfig(mosaic, folder)}[kind]()
    out = tmp_path / "out.ome.zarr"
    line = refused(capsys, ["convert", str(source), str(out)], out)
    assert "beyond any stage; fix the tile's position" in line
    assert "tile_002.tif" in line or "series 2" in line


@pytest.mark.parametrize("spelling", ["tile_000.tif", "./tile_000.tif", "sub/../tile_000.tif"])
def test_a_tile_file_listed_twice_in_a_manifest(spelling, manifest, tmp_path, capsys):
    def twice(tiles):
        tiles[3]["file"] = spelling
    edit_manifest(manifest, twice)
    (manifest.parent / "sub").mkdir()
    out = tmp_path / "out.ome.zarr"
    line = refused(capsys, ["convert", str(manifest), str(out)], out)
    assert f"tiles[0] and tiles[3] both list {spelling}" in line and str(manifest) in line


def test_a_tile_file_listed_twice_in_a_tileconfiguration(tmp_path, capsys):
    config = write_tileconfig(synthetic_mosaic(grid=(2, 2), tile_shape=TILE), tmp_path / "in")
    text = config.read_text().replace("tile_003.tif; ;", "./tile_001.tif; 0;")
    config.write_text(text)
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines, 1) if line.startswith("tile_001.tif"))
    again = next(i for i, line in enumerate(lines, 1) if line.startswith("./tile_001.tif"))
    out = tmp_path / "out.ome.zarr"
    line = refused(capsys, ["convert", str(config), str(out)], out)
    assert f"line {again}: ./tile_001.tif series 0 is already listed on line {first}" in line


@pytest.mark.parametrize("kind", ["ome-tiff", "companion", "manifest", "tileconfig"])
def test_a_scene_the_input_does_not_have(kind, tmp_path, capsys):
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=TILE)
    folder = tmp_path / "in"
    folder.mkdir()
    source = {"ome-tiff": lambda: write_ome_tiff(mosaic, folder / "tiles.ome.tif"),
              "companion": lambda: write_multifile(mosaic, folder)[0],
              "manifest": lambda: write_manifest(mosaic, folder),
              "tileconfig": lambda: write_tileconfig(mosaic, folder)}[kind]()
    out = tmp_path / "out.ome.zarr"
    for scene in ("99", "1"):
        line = refused(capsys, ["convert", str(source), str(out), "--scene", scene], out)
        assert f"{source}: no scene {scene}; its scenes are 0 (" in line
    assert main(["convert", str(source), str(out), "--scene", "0", "--quiet"]) == 0


def test_an_ome_tiff_tile_at_1e308_is_not_an_unexpected_error(tmp_path, capsys):
    """The OME-TIFF reader's own path: PositionX as the file states it."""
    path = tmp_path / "far.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tif:
        for x in (0.0, 1e308):
            tif.write(np.zeros(TILE, np.uint16), metadata={
                "axes": "YX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5,
                "Plane": {"PositionX": [x], "PositionY": [0.0], "PositionXUnit": ["µm"],
                          "PositionYUnit": ["µm"]}})
    out = tmp_path / "out.ome.zarr"
    line = refused(capsys, ["convert", str(path), str(out)], out)
    assert f"{path} series 1: position" in line


def test_a_whole_fill_is_checked_exactly_against_64_bit_limits():
    from ngff_fuse.checks import check_fill
    from ngff_fuse.cli import build_parser

    fill = build_parser().parse_args(["convert", "a", "b", f"--fill={2**63 - 1}"]).fill
    assert fill == 2**63 - 1 and isinstance(fill, int)  # a float would round it to 2**63
    check_fill(fill, np.int64)
    check_fill(2**64 - 1, np.uint64)
    for too_far, dtype in ((2**63, np.int64), (-(2**63) - 1, np.int64), (2**64, np.uint64)):
        with pytest.raises(InputError, match=f"--fill {too_far}: the output is"):
            check_fill(too_far, dtype)


@pytest.mark.parametrize("count", [2, 3, 40, 700, 1500])
@pytest.mark.parametrize("dims", [2, 3])
def test_nearest_neighbours_are_the_k_d_trees(count, dims):
    """Up to _DIRECT_NEAREST tiles every pair is compared (no scipy import), beyond it a k-d
    tree: both give scipy's cKDTree distances (largest along any axis, in tile edges), for
    scattered, gridded and duplicated origins."""
    from scipy.spatial import cKDTree

    from ngff_fuse.checks import Arrangement

    rng = np.random.default_rng(count + dims)
    origins = rng.normal(0, 5000, (count, dims))
    origins[: count // 3, 0] = 0  # a column of tiles
    origins[-1] = origins[0]  # a tile stacked on another
    shapes = np.tile(rng.integers(256, 2048, dims).astype(float), (count, 1))
    found = Arrangement(origins, shapes).nearest()
    scaled = origins / np.median(shapes, axis=0)
    expected = cKDTree(scaled).query(scaled, k=2, p=np.inf)[0][:, 1]
    np.testing.assert_allclose(found, expected, rtol=1e-12, atol=1e-12)
