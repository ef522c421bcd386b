"""Zeiss CZI: real ZEN files placed by their stage positions, and synthetic round trips."""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import zarr

from ngff_fuse.cli import main
from ngff_fuse.errors import InputError
from ngff_fuse.fuse.core import fuse
from ngff_fuse.readers import read_input, reader_for
from ngff_fuse.readers.base import ReadOptions
from ngff_fuse.readers.czi import CziReader, CziTile, czi_channels, place_tiles
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.czi import write_czi_mosaic
from ngff_checks import multiscale

CONVALLARIA = "czi-convallaria/mosaic_test.czi"
TILEREGION = "czi-zen-simulated/1_tileregion.czi"
S3 = "czi-zen-simulated/S3_1Pos_2Mosaic_T1_Z1_CH1.czi"
S3_TZC = "czi-zen-simulated/S3_1Pos_2Mosaic_T2Z3_CH2_sm.czi"


def real(shared_dir, name):
    return shared_dir / "realdata" / name


def libczi_plane(path, **index) -> np.ndarray:
    """An independent read of one subblock, through aicspylibczi."""
    from aicspylibczi import CziFile

    return CziFile(str(path)).read_image(**index)[0].squeeze()


# ---- real files -------------------------------------------------------------------------


def test_convallaria_first_pixel_is_derived_from_the_stage_centres(shared_dir, tmp_path):
    path = real(shared_dir, CONVALLARIA)
    assert reader_for(path).name == "czi"
    (tiles,) = read_input(path)
    px = 1.0833333333333333  # Scaling Distance X/Y: 1.0833333333333333E-06 m
    assert tiles.spacing[1:] == (px, px) and tiles.notes == ()
    # M0's centre pixel (index 462, 312 of a 924 x 624 tile) sits at its stage centre
    # (58989.111, 34482.815) um, so its first pixel is 462 and 312 pixels before that:
    # x0 = 58989.111 - 462 * px = 58488.611, y0 = 34482.815 - 312 * px = 34144.815.
    # M1 shares M0's y and lies further right, so M0's first pixel is the mosaic's.
    first = (34482.815 - 312 * px, 58989.111 - 462 * px)
    assert tiles.tiles[0].origin[1:] == pytest.approx(first, abs=1e-6)
    assert tiles.tiles[1].origin[1:] == pytest.approx((first[0], 59890.011 - 462 * px), abs=1e-6)
    mosaic = fuse(tiles, chunk_size=(1, 256, 256))
    # The stage puts M1 831.6 px right of M0 (its pixel box says 832): M1's last pixel
    # covers [1754.1, 1755.1), so grid column 1755 (centre inside it) is the last: 1756 columns.
    assert mosaic.shape == (624, 1756)
    assert (float(mosaic.y[0]), float(mosaic.x[0])) == pytest.approx(first, abs=1e-6)
    out = tmp_path / "convallaria.ome.zarr"
    assert main(["convert", str(path), str(out), "--quiet"]) == 0
    transforms = multiscale(out)["datasets"][0]["coordinateTransformations"]
    assert transforms[1]["translation"][-2:] == pytest.approx(first, abs=1e-6)
    assert zarr.open_array(out / "0", mode="r").shape[-2:] == (624, 1756)


def test_convallaria_overlap_content_against_the_stage_placement(shared_dir):
    path = real(shared_dir, CONVALLARIA)
    (tiles,) = read_input(path)
    a, b = (t.data.data[0, 0, 0].compute().astype(float) for t in tiles.tiles)
    for m, pixels in enumerate((a, b)):  # pixels as aicspylibczi decodes them
        assert np.array_equal(pixels, libczi_plane(path, M=m))
    shift = (tiles.tiles[1].origin - tiles.tiles[0].origin) / np.array(tiles.spacing)
    assert shift == pytest.approx((0, 0, 831.6), abs=1e-3)
    # The 92 overlap columns of M0 against M1 resampled at the stage placement (x - 831.6).
    cols = np.arange(832, 924)
    s = cols - shift[2]
    low = np.floor(s).astype(int)
    frac = s - low
    resampled = b[:, low] * (1 - frac) + b[:, low + 1] * frac
    placed = np.corrcoef(a[:, cols].ravel(), resampled.ravel())[0, 1]
    assert placed == pytest.approx(0.148, abs=0.005)

    def match(dy: int, dx: int) -> float:  # M1 pixel (y, x) shown by M0 pixel (y + dy, x + dx)
        rows = slice(max(dy, 0), 624 + min(dy, 0)), slice(max(-dy, 0), 624 + min(-dy, 0))
        return np.corrcoef(a[rows[0], dx:].ravel(), b[rows[1], : 924 - dx].ravel())[0, 1]

    best, dy, dx = max((match(dy, dx), dy, dx) for dy in range(-5, 6) for dx in range(822, 842))
    # The content itself matches 6.6 px left of and 2 px above the stage placement: the two
    # tiles do show the same tissue, the stage positions are that far off.
    assert best > 0.96 and (dy, dx) == (-2, 825)


def test_tile_region_keeps_its_hole_and_its_pixel_boxes(shared_dir):
    path = real(shared_dir, TILEREGION)
    (tiles,) = read_input(path)
    assert len(tiles.tiles) == 7 and tiles.spacing[1:] == (0.4, 0.4) and tiles.notes == ()
    boxes = [(118583, 88865), (118943, 88865), (119303, 88865), (119663, 88865),
             (119663, 89135), (119303, 89135), (118943, 89135)]  # x, y of each M tile
    # M0: stage centre (47513.178, 35606.098) um, its centre pixel 200, 150 px from the first
    assert tiles.tiles[0].origin[1:] == pytest.approx((35606.098 - 60, 47513.178 - 80), abs=1e-6)
    for tile, (x, y) in zip(tiles.tiles, boxes):
        offset = (tile.origin - tiles.tiles[0].origin)[1:] / 0.4
        assert offset == pytest.approx((y - 88865, x - 118583), abs=1e-6)
    fill = 65535
    mosaic = fuse(tiles, blend="mean", fill=fill, chunk_size=(1, 128, 128)).values
    assert mosaic.shape == (570, 1480)
    assert (mosaic[300:, :360] == fill).all()  # below M0, left of M6: the missing tile
    assert (mosaic[:300, :] != fill).all() and (mosaic[:, 360:] != fill).all()
    for tile, (x, y) in zip(tiles.tiles, boxes):
        top, left = y - 88865, x - 118583
        inner = (slice(30, 270), slice(40, 360))  # away from every overlap
        shown = mosaic[top:top + 300, left:left + 400][inner]
        assert np.array_equal(shown, tile.data.data[0, 0, 0].compute()[inner])


def test_scenes_with_missing_and_broken_stage_positions(shared_dir):
    path = real(shared_dir, S3)
    scenes = read_input(path)
    assert [(s.name, len(s.tiles)) for s in scenes] == [("TR1", 10), ("P1", 1), ("TR2", 17)]
    tr1, p1, tr2 = scenes
    notes = {s.name: " ".join(s.notes) for s in scenes}
    # TR2: M3, M11-M14 lack StageX, M13-M16 lack StageY; placed by their boxes, lined up
    assert "stage X missing for M3, M11, M12, M13 and M14" in notes["TR2"]
    assert "stage Y missing for M13, M14, M15 and M16" in notes["TR2"]
    assert "pixel boxes" in tr2.position_source
    m0, m13 = tr2.tiles[0], tr2.tiles[13]
    box_shift = np.array([450 - 277, 581 - 293])  # (y, x) between their pixel boxes
    assert np.abs((m13.origin - m0.origin)[1:] / 1.6 - box_shift).max() < 1
    # TR1: five stage X values contradict the boxes by up to 57 px (e.g. M3 repeats M2's)
    assert "stage X of M3, M4, M5, M6 and M7 disagrees with the pixel boxes" in notes["TR1"]
    assert (tr1.tiles[3].origin - tr1.tiles[2].origin)[2] == pytest.approx((318 - 261) * 1.6, abs=1.6)
    assert "no stage X in this scene" in notes["P1"]
    assert p1.tiles[0].origin[1] == pytest.approx(13122.058 - 32 * 1.6, abs=1e-6)
    for scene in scenes:
        assert all(t.data.shape == (1, 1, 1, 64, 64) for t in scene.tiles)
        assert scene.dims == ("y", "x") and scene.channel_names == ("DAPI",)


def test_scene_selection_and_5d_tiles(shared_dir):
    path = real(shared_dir, S3_TZC)
    (tr2,) = read_input(path, ReadOptions(scenes=(2,)))
    assert tr2.name == "TR2" and len(tr2.tiles) == 17
    assert [s.name for s in read_input(path, ReadOptions(scenes=(0, 2)))] == ["TR1", "TR2"]
    with pytest.raises(InputError, match=r"no scene 3; its scenes are 0 \(TR1\), 1 \(P1\), 2 \(TR2\)"):
        read_input(path, ReadOptions(scenes=(3,)))
    assert tr2.dims == ("t", "c", "z", "y", "x") and tr2.spacing == (1.0, 1.6, 1.6)
    assert tr2.channel_names == ("DAPI", "EGFP") and tr2.channel_colors == ("00A1FF", "00FF5B")
    assert all(t.data.shape == (2, 2, 3, 64, 64) for t in tr2.tiles)
    assert all(t.origin[0] == -1.0 for t in tr2.tiles)  # FocusPosition of each Z=0 plane
    # every (t, c, z) plane is the subblock with those indices
    tile = tr2.tiles[5].data.data
    for t, c, z in [(0, 0, 0), (1, 1, 2), (0, 1, 1), (1, 0, 2)]:
        assert np.array_equal(tile[t, c, z].compute(), libczi_plane(path, S=2, M=5, T=t, C=c, Z=z, H=0))
    mosaic = fuse(tr2, squeeze=False, chunk_size=(2, 64, 64))
    assert mosaic.shape[:3] == (2, 2, 3) and mosaic.dims == ("t", "c", "z", "y", "x")


# ---- reading costs and errors -----------------------------------------------------------


def test_reading_metadata_reads_no_pixels_and_regions_read_their_rows(shared_dir, monkeypatch):
    path = real(shared_dir, CONVALLARIA)
    import aicspylibczi

    def refuse(*args, **kwargs):
        raise AssertionError("pixels read while placing tiles")

    monkeypatch.setattr("ngff_fuse.readers.czi_file.read_region", refuse)
    monkeypatch.setattr(aicspylibczi.CziFile, "read_image", refuse)
    (tiles,) = read_input(path)
    monkeypatch.undo()
    reads = []
    real_pread = os.pread

    def counting(fd, size, offset):
        reads.append(size)
        return real_pread(fd, size, offset)

    monkeypatch.setattr(os, "pread", counting)
    region = tiles.tiles[1].data.data[0, 0, 0, 100:110, 200:260].compute()
    assert np.array_equal(region, libczi_plane(path, M=1)[100:110, 200:260])
    assert reads == [16, 10 * 924 * 2]  # the subblock's sizes, then its 10 rows


def test_truncated_or_foreign_czi_is_one_clear_line(shared_dir, tmp_path, capsys):
    data = real(shared_dir, CONVALLARIA).read_bytes()
    for keep in (100, len(data) // 2, len(data) - 1000):
        broken = tmp_path / f"cut{keep}.czi"
        broken.write_bytes(data[:keep])
        with pytest.raises(InputError) as err:
            read_input(broken)
        assert str(broken) in str(err.value) and "\n" not in str(err.value)
        assert main(["info", str(broken)]) == 2
        printed = capsys.readouterr().err.strip()
        assert len(printed.splitlines()) == 1 and str(broken) in printed
    foreign = tmp_path / "notes.czi"
    foreign.write_text("not a czi")
    with pytest.raises(InputError, match="notes.czi"):
        read_input(foreign)


def test_missing_plugin_still_claims_czi_and_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "slide.czi"
    path.write_bytes(b"ZISRAWFILE")
    monkeypatch.setitem(sys.modules, "bioio_czi", None)  # import now fails
    reader = CziReader()
    assert reader.can_open(path)
    with pytest.raises(InputError) as err:
        reader.read(path, ReadOptions())
    assert str(err.value) == f"{path}: reading CZI needs bioio-czi: pip install 'ngff-fuse[czi]'"


# ---- synthetic CZI files ----------------------------------------------------------------


@pytest.mark.parametrize("case", ["3d-timelapse", "zstd", "rgb"])
def test_round_trip_gives_back_positions_and_pixels(case, tmp_path):
    options = {
        "3d-timelapse": dict(tile_shape=(3, 40, 50), channels=2, timepoints=2),
        "zstd": dict(tile_shape=(48, 56), channels=1),
        "rgb": dict(tile_shape=(48, 56), channels=3, dtype=np.uint8),
    }[case]
    mosaic = synthetic_mosaic(grid=(2, 3), seed=3, **options)
    path = write_czi_mosaic(
        mosaic, tmp_path / f"{case}.czi",
        compression="zstd1:ExplicitLevel=2" if case == "zstd" else None, rgb=case == "rgb",
    )
    (tiles,) = read_input(path)
    # no stage positions from pylibCZIrw: the pixel boxes x pixel size place the tiles
    assert "no stage positions" in tiles.notes[0] and "pixel boxes" in tiles.position_source
    expected = np.array([np.array(t.pixel_offset) * mosaic.spacing for t in mosaic.tiles])
    got = np.array([t.origin for t in tiles.tiles])
    assert got[:, 1:] == pytest.approx(expected[:, 1:], abs=1e-9)
    assert tiles.dims == mosaic.dims and tiles.spacing[1:] == mosaic.spacing[1:]
    if case == "rgb":
        assert tiles.channel_names == ("R", "G", "B")
    else:
        assert tiles.channel_names == mosaic.channel_names
        assert tiles.channel_colors == ("00FF00", "FF0000")[: len(mosaic.channel_names)]
    fused = fuse(tiles, blend="mean", chunk_size=(2, 32, 32), squeeze=False).values
    first, stop = mosaic.truth_extent()
    truth = mosaic.truth[(slice(None), slice(None), *(slice(a, b) for a, b in zip(first, stop)))]
    covered = fused > 0
    assert fused.shape == truth.shape and covered.mean() > 0.9
    assert np.array_equal(fused[covered], truth[covered])


# ---- the mapping on its own -------------------------------------------------------------


def _tile(m, x, y, stage_x, stage_y, focus=np.nan, size=(100, 80)):
    return CziTile(m, (x, y, *size), (stage_x, stage_y), focus, {})


def test_placement_rules():
    spacing = (1.0, 0.5, 0.5)
    nan = np.nan
    # Boxes 90 px apart; stage centres 45.2 um = 90.4 px apart, 1000 um from the box frame.
    tiles = [_tile(0, 0, 0, 1025.0, 2020.0), _tile(1, 90, 0, 1070.2, 2020.0),
             _tile(2, 180, 0, nan, 2020.0), _tile(3, 270, 0, 1190.2, 2020.0)]
    placed = place_tiles(tiles, spacing, depth=1)
    x = placed.origins[:, 2]
    # stage wins where present (centre pixel 50 px = 25 um after the first pixel) ...
    assert x[:2] == pytest.approx([1000.0, 1045.2])
    # ... M2 has no stage X: its box (90 um) shifted by the median stage-box offset (1000.1)
    assert x[2] == pytest.approx(90.0 + 1000.1)
    # ... M3's stage X is 60 px off its box: broken, so its box is used
    assert x[3] == pytest.approx(135.0 + 1000.1)
    assert placed.origins[:, 1] == pytest.approx([2000.0] * 4)
    assert placed.notes == (
        "stage X missing for M2: placed by their pixel boxes, lined up with the tiles that have it",
        "stage X of M3 disagrees with the pixel boxes by more than a tenth of a tile (up to 60 px): "
        "placed by their pixel boxes",
    )
    none = place_tiles([_tile(0, 10, 20, nan, nan), _tile(1, 100, 20, nan, nan)], spacing, depth=1)
    assert none.origins[:, 1:].tolist() == [[10.0, 5.0], [10.0, 50.0]]
    assert "no stage positions" in none.notes[0]
    stacks = place_tiles([_tile(0, 0, 0, 25.0, 20.0, focus=-3.5)], spacing, depth=5)
    assert stacks.origins[0, 0] == -3.5 and "FocusPosition" in stacks.source


def test_channel_names_and_colours_from_the_document():
    meta = ET.fromstring(
        "<ImageDocument><Metadata><Information><Image><Dimensions><Channels>"
        '<Channel Id="Channel:0" Name="DAPI"><EmissionWavelength>465</EmissionWavelength></Channel>'
        '<Channel Id="Channel:1" Name="mCherry"><EmissionWavelength>610</EmissionWavelength></Channel>'
        '<Channel Id="Channel:2"><Color>#FF123456</Color></Channel>'
        "</Channels></Dimensions></Image></Information>"
        '<DisplaySetting><Channels><Channel Id="Channel:1" Name="mCherry"><Color>#FFFF0000</Color>'
        "</Channel></Channels></DisplaySetting></Metadata></ImageDocument>"
    )
    names, colors = czi_channels(meta, [0, 1, 2])
    assert names == ["DAPI", "mCherry", None]
    # display colour first, then the channel's own, then one from the emission wavelength
    assert colors == ["0080FF", "FF0000", "123456"]
