"""Yokogawa CellVoyager measurements: .mlf records, field positions (Y up), wells as scenes, real data."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from ngff_fuse import fuse
from ngff_fuse.cli import main
from ngff_fuse.errors import InputError
from ngff_fuse.readers import ReadOptions, read_input, reader_for
from ngff_fuse.model import PlateWell
from ngff_fuse.readers.base import well_position
from ngff_fuse.readers.cellvoyager import MEASUREMENT_DATA, MEASUREMENT_DETAIL
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.cellvoyager import channel_labels, stage_xy, write_cellvoyager

REAL = "realdata/cellvoyager-cv8000/CV8000-Minimal-DataSet-2C-3W-4S-FP2-stack_20230918_135839/CV8000-Minimal-DataSet-2C-3W-4S-FP2-stack"


def _mosaic(seed: int = 0, **kwargs):
    options = dict(grid=(2, 3), tile_shape=(3, 36, 44), channels=2, timepoints=2, overlap=0.12,
                   jitter=2.0, origin=(-4.0, 1234.5, -2500.25), seed=seed)
    return synthetic_mosaic(**{**options, **kwargs})


def _assert_fuses_to_truth(tileset, mosaic) -> None:
    fused = fuse(tileset, blend="mean", chunk_size=(2, 32, 32), squeeze=False).values
    truth, covered = mosaic.covered_truth()
    assert fused.shape == truth.shape and covered.mean() > 0.9
    assert np.array_equal(fused[..., covered], truth[..., covered])


@pytest.mark.parametrize("top_down", [False, True])
@pytest.mark.parametrize("shape", [dict(), dict(grid=(3, 2), tile_shape=(40, 30), channels=1, timepoints=1,
                                                origin=(0.0, -800.0, 300.0))])
def test_each_well_fuses_to_its_truth_with_fields_at_their_stage_positions(tmp_path, top_down, shape):
    wells = {"C07": _mosaic(1, **shape), "B11": _mosaic(2, **shape)}
    root = write_cellvoyager(wells, tmp_path / "m", top_down=top_down)
    tilesets = read_input(root)
    assert [ts.name for ts in tilesets] == ["Plate_B11", "Plate_C07"]  # plate order
    for tileset, well in zip(tilesets, ("B11", "C07")):
        mosaic = wells[well]
        _assert_fuses_to_truth(tileset, mosaic)
        depth = mosaic.truth.shape[2]
        assert tileset.spacing == pytest.approx(mosaic.spacing if depth > 1 else (1.0, *mosaic.spacing[1:]))
        truth = np.array([tile.position for tile in mosaic.tiles])
        origins = np.array([tile.origin for tile in tileset.tiles])
        assert origins - origins[0] == pytest.approx(truth - truth[0], abs=1e-9)
        assert origins[:, 1:] == pytest.approx(truth[:, 1:], abs=0.05)  # X/Y in 0.1 um steps
        channels = mosaic.truth.shape[1]
        assert tileset.channel_names == channel_labels(channels)
        assert tileset.channel_colors == ("002FFF", "00FFA1")[:channels]
        if top_down and mosaic.truth.shape[2] > 1:
            assert any("ZIndex 1 is the top plane" in note for note in tileset.notes)


def test_the_field_centre_is_the_recorded_position_with_y_up_the_plate(tmp_path):
    mosaic = _mosaic(3, channels=1, timepoints=1)
    root = write_cellvoyager({"A01": mosaic}, tmp_path / "m")
    tileset = read_input(root)[0]
    for index, tile in enumerate(tileset.tiles):
        x, y = stage_xy(mosaic, index)
        centre = np.array(tile.origin[1:]) + (np.array(tile.spatial_shape[1:]) - 1) / 2 * 0.65
        tolerance = 1e-9 if index == 0 else 0.65 / 2  # the others on whole pixels from the first
        assert centre == pytest.approx((-y, x), abs=tolerance)


def test_every_input_form_opens_the_measurement_and_scenes_pick_wells(tmp_path):
    wells = {"A02": _mosaic(1, channels=1, timepoints=1), "H12": _mosaic(2, channels=1, timepoints=1)}
    root = write_cellvoyager(wells, tmp_path / "m")
    for path in (root, root / MEASUREMENT_DATA, root / MEASUREMENT_DETAIL):
        assert reader_for(path).name == "cellvoyager"
        assert [ts.name for ts in read_input(path)] == ["Plate_A02", "Plate_H12"]
    assert [ts.name for ts in read_input(root, ReadOptions(scenes=(1,)))] == ["Plate_H12"]
    with pytest.raises(InputError, match=r"no scene 2; its scenes are 0 \(Plate_A02\), 1 \(Plate_H12\)"):
        read_input(root, ReadOptions(scenes=(2,)))


def test_failed_images_stay_empty_and_are_named(tmp_path):
    mosaic = _mosaic(4)
    root = write_cellvoyager({"D04": mosaic}, tmp_path / "m", failed=[("D04", 2, 1, 2, 3)])
    tileset = read_input(root)[0]
    assert any("1 image(s) recorded as errors (ERR) are empty (0): field 2 Ch 2 t 1 z 3" in n
               for n in tileset.notes)
    assert not tileset.tiles[1].data[0, 1, 2].values.any()
    assert np.array_equal(tileset.tiles[1].data[0, 0, 2].values, mosaic.tiles[1].data[0, 0, 2])


def test_without_a_measurement_setting_channels_are_named_by_ch(tmp_path):
    root = write_cellvoyager({"A01": _mosaic(5)}, tmp_path / "m", setting=False)
    tileset = read_input(root)[0]
    assert tileset.channel_names == ("Ch 1", "Ch 2")
    assert tileset.channel_colors == (None, None)


def test_pixel_size_option_overrides_the_measurement_detail(tmp_path):
    mosaic = _mosaic(6, channels=1, timepoints=1)
    root = write_cellvoyager({"A01": mosaic}, tmp_path / "m")
    tileset = read_input(root, ReadOptions(pixel_size=(1.0, 0.5, 0.5)))[0]
    assert tileset.spacing == (1.0, 0.5, 0.5)


def test_bad_measurements_fail_with_one_line_naming_the_problem(tmp_path, capsys):
    def refused(root: Path) -> str:
        assert main(["convert", str(root), str(tmp_path / f"{root.name}.zarr")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err
        return err

    mosaic = _mosaic(7, channels=2, timepoints=1)
    missing = write_cellvoyager({"A01": mosaic}, tmp_path / "missing")
    victim = sorted(missing.glob("*.tif"))[3]
    victim.unlink()
    assert re.search(rf"{victim.name}: listed in MeasurementData.mlf but missing; .*copy it again",
                     refused(missing))

    binned = write_cellvoyager({"A01": mosaic}, tmp_path / "binned", pixel_sizes=[0.65, 1.3])
    assert "pixel sizes differ (0.65 x 0.65, 1.3 x 1.3 um" in refused(binned)

    broken = write_cellvoyager({"A01": mosaic}, tmp_path / "broken")
    (broken / MEASUREMENT_DATA).write_text((broken / MEASUREMENT_DATA).read_text()[:300])
    assert "MeasurementData.mlf: not well-formed XML" in refused(broken)


def test_well_names_follow_the_plate_rows():
    named = [PlateWell("p", r, c, 32, 48).name for r, c in ((0, 0), (3, 7), (15, 23), (26, 2), (31, 47))]
    assert named == ["A01", "D08", "P24", "AA03", "AF48"]
    assert [well_position(n) for n in named] == [(0, 0), (3, 7), (15, 23), (26, 2), (31, 47)]
    assert well_position("b3") == (1, 2) and well_position("B00") is None and well_position("3B") is None


def _real(shared_dir: Path) -> Path:
    return shared_dir / REAL


def test_real_cv8000_wells_fields_channels_and_planes(shared_dir):
    root = _real(shared_dir)
    tilesets = read_input(root)
    assert [ts.name for ts in tilesets] == [f"CV8000-Minimal-DataSet-2C-3W-4S-FP2-stack_{w}"
                                           for w in ("D08", "E03", "F08")]
    mlf = (root / MEASUREMENT_DATA).read_text(encoding="utf-8")
    # an independent reading of the records: (row, column, field) -> (X, Y)
    positions = {
        (int(m["row"]), int(m["col"]), int(m["field"])): (float(m["x"]), float(m["y"]))
        for m in re.finditer(r'bts:Column="(?P<col>\d+)" bts:Row="(?P<row>\d+)".*?bts:FieldIndex='
                             r'"(?P<field>\d+)".*?bts:X="(?P<x>[-\d.]+)" bts:Y="(?P<y>[-\d.]+)"', mlf)
    }
    for tileset, (row, column) in zip(tilesets, ((4, 8), (5, 3), (6, 8))):
        assert tileset.spacing == (3.0, 0.325, 0.325)  # stage Z 0, 3, 6, 9 um; the .mrf's 0.325 um
        assert tileset.channel_names == ("405 nm BP445/45", "488 nm BP525/50")
        assert tileset.channel_colors == ("002FFF", "00FFA1")
        assert [t.data.shape for t in tileset.tiles] == [(1, 2, 4, 2000, 2000)] * 4
        for field, tile in enumerate(tileset.tiles, start=1):
            x, y = positions[(row, column, field)]
            centre = np.array(tile.origin[1:]) + 999.5 * 0.325
            assert centre == pytest.approx((-y, x), abs=0.325 / 2)
        # fields 1 2 / 3 4 abut: X and Y step 649.9 um, 0.3 px short of a 2000 px field
        origins = np.array([tile.origin[1:] for tile in tileset.tiles])
        assert (origins - origins[0]) / 0.325 == pytest.approx(np.array([[0, 0], [0, 2000], [2000, 0], [2000, 2000]]))
        assert any("rounded to whole pixels (at most 0.31 px)" in n for n in tileset.notes)


def test_real_cv8000_converts_to_a_store_per_well(shared_dir, tmp_path, capsys):
    root = tmp_path / "copy"
    shutil.copytree(_real(shared_dir), root)
    out = tmp_path / "plate.zarr"
    assert main(["convert", str(root), str(out), "--scene", "1", "--quiet"]) == 0, capsys.readouterr().err
    assert main(["validate", str(out)]) == 0, capsys.readouterr()
