"""Plates as NGFF HCS: wells fused in their row/column groups, plate and well metadata, --well,
--no-hcs, validate, info and preview of plates, and a killed plate conversion resumed."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
import zarr
from PIL import Image as PILImage

from ngff_fuse import fuse
from ngff_fuse.cli import main
from ngff_fuse.fuse.plan import output_grid
from ngff_fuse.readers import ReadOptions, read_input
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.cellvoyager import write_cellvoyager
from ngff_fuse.testing.imagexpress import write_imagexpress
from ngff_fuse.validate import validate_store
from test_resume import run_cli

OPTIONS = ("--chunk", "32", "--quiet")
# three wells, out of plate order; C05's sites lie otherwise (1 x 3), so its mosaic differs in shape
WELLS = {"C05": dict(grid=(1, 3), tile_shape=(30, 36), seed=5, origin=(0.0, 900.0, -40.0)),
         "A02": dict(grid=(2, 2), tile_shape=(30, 36), seed=2, origin=(0.0, -310.0, -50.5)),
         "B11": dict(grid=(2, 2), tile_shape=(30, 36), seed=3, origin=(0.0, 20.0, 70.0))}


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    wells = {w: synthetic_mosaic(channels=2, spacing=(1.0, 0.5, 0.5), **p) for w, p in WELLS.items()}
    return write_imagexpress(wells, tmp_path_factory.mktemp("plate") / "plate", projection=False)


def ome(path) -> dict:
    attrs = dict(zarr.open_group(path, mode="r").attrs)
    return attrs.get("ome", attrs)


@pytest.mark.parametrize("ngff", ["0.4", "0.5", "0.6"])
def test_wells_are_fused_into_their_row_and_column_of_an_hcs_plate(export, tmp_path, ngff):
    out = tmp_path / "plate.ome.zarr"
    assert main(["convert", str(export), str(out), "--ngff", ngff, *OPTIONS]) == 0
    plate = ome(out)["plate"]
    # the smallest standard plate holding row C and column 11: 96 wells, 8 x 12
    assert [r["name"] for r in plate["rows"]] == list("ABCDEFGH")
    assert [c["name"] for c in plate["columns"]] == [str(i) for i in range(1, 13)]
    assert plate["wells"] == [{"path": "A/2", "rowIndex": 0, "columnIndex": 1},
                              {"path": "B/11", "rowIndex": 1, "columnIndex": 10},
                              {"path": "C/5", "rowIndex": 2, "columnIndex": 4}]
    assert plate["name"] == "Plate" and plate["field_count"] == 1
    tilesets = read_input(export)
    shapes = [output_grid(ts).shape[1:] for ts in tilesets]
    common = tuple(np.max(shapes, axis=0))
    assert len(set(shapes)) > 1  # the wells differ (layout, stage jitter), the plate's images do not
    for tileset, well in zip(tilesets, ("A/2", "B/11", "C/5")):
        assert ome(out / well)["well"]["images"] == [{"path": "0", "acquisition": 0}]
        level0 = zarr.open_array(out / well / "0" / "0", mode="r")[:]
        alone = fuse(tileset).values  # the well fused by itself: the same pixels, then fill
        assert level0.shape == (2, *common)
        assert np.array_equal(level0[:, :alone.shape[1], :alone.shape[2]], alone)
        assert not level0[:, alone.shape[1]:].any() and not level0[:, :, alone.shape[2]:].any()
        multiscale = ome(out / well / "0")["multiscales"][0]
        first = multiscale["datasets"][0]["coordinateTransformations"]
        if ngff != "0.6":
            assert first[1]["translation"][1:] == pytest.approx(list(output_grid(tileset).origin[1:]))
    report = validate_store(out)
    assert report.ok, report.failed
    assert "plate wells at their row and column" in report.passed


def test_no_hcs_keeps_the_list_of_images(export, tmp_path):
    out = tmp_path / "images.ome.zarr"
    assert main(["convert", str(export), str(out), "--no-hcs", *OPTIONS]) == 0
    assert "bioformats2raw.layout" in ome(out)
    assert [ome(out / str(i))["multiscales"][0]["name"] for i in range(3)] == [
        "Plate_A02", "Plate_B11", "Plate_C05"]


def test_well_picks_wells_by_name_and_refuses_one_the_plate_lacks(export, tmp_path, capsys):
    assert [ts.name for ts in read_input(export, ReadOptions(wells=("c5", "A02")))] == ["Plate_A02", "Plate_C05"]
    out = tmp_path / "two.ome.zarr"
    assert main(["convert", str(export), str(out), "--well", "B11", "--well", "C05", *OPTIONS]) == 0
    assert [w["path"] for w in ome(out)["plate"]["wells"]] == ["B/11", "C/5"]
    for bad, says in (("D01", "no well D01 in this plate; its wells are A02, B11, C05; pick with --well"),
                      ("11B", "--well 11B: not a well name")):
        assert main(["convert", str(export), str(tmp_path / f"{bad}.zarr"), "--well", bad, *OPTIONS]) == 2
        err = capsys.readouterr().err.strip()
        assert says in err and len(err.splitlines()) == 1


def test_overwrite_replaces_a_plate_it_wrote_but_not_one_holding_something_else(export, tmp_path, capsys):
    out = tmp_path / "plate.ome.zarr"
    assert main(["convert", str(export), str(out), *OPTIONS]) == 0
    assert main(["convert", str(export), str(out), "--well", "A02", "--overwrite", *OPTIONS]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["A"]  # rows B and C are gone
    (out / "A" / "notes.txt").write_text("mine")
    assert main(["convert", str(export), str(out), "--overwrite", *OPTIONS]) == 2
    assert "holds A/notes.txt, which ngff-fuse did not write" in capsys.readouterr().err
    assert (out / "A" / "notes.txt").read_text() == "mine"


def test_cellvoyager_wells_become_a_plate_of_its_size(tmp_path):
    wells = {"B03": synthetic_mosaic(grid=(2, 2), tile_shape=(30, 36), seed=1),
             "G12": synthetic_mosaic(grid=(2, 2), tile_shape=(30, 36), seed=2)}
    root = write_cellvoyager(wells, tmp_path / "cv")
    out = tmp_path / "cv.ome.zarr"
    assert main(["convert", str(root), str(out), *OPTIONS]) == 0
    plate = ome(out)["plate"]
    assert (len(plate["rows"]), len(plate["columns"])) == (8, 12)  # the .mrf's RowCount, ColumnCount
    assert [w["path"] for w in plate["wells"]] == ["B/3", "G/12"]
    assert validate_store(out).ok


def test_validate_catches_plate_metadata_that_contradicts_the_wells(export, tmp_path):
    out = tmp_path / "plate.ome.zarr"
    assert main(["convert", str(export), str(out), "--ngff", "0.4", *OPTIONS]) == 0
    group = zarr.open_group(out, mode="r+")
    attrs = dict(group.attrs)
    attrs["plate"] = {**attrs["plate"], "field_count": 1,
                      "wells": [{**attrs["plate"]["wells"][0], "columnIndex": 3}, *attrs["plate"]["wells"][1:]]}
    group.attrs.put(attrs)
    well = zarr.open_group(out / "B" / "11", mode="r+")
    well.attrs.put({"well": {"images": [{"path": "0", "acquisition": 7}], "version": "0.4"}})
    failed = " | ".join(validate_store(out).failed)
    assert "plate wells at their row and column: A/2 (rowIndex 0, columnIndex 3: A/4)" in failed
    assert "not in the plate's acquisitions: B/11/0 (7)" in failed


def test_info_lists_the_wells_and_where_each_image_goes(export, capsys):
    assert main(["info", str(export), "--json", "--no-orientation-check"]) == 0
    scenes = json.loads(capsys.readouterr().out)["scenes"]
    assert [(s["well"]["well"], s["well"]["field"], s["well"]["path"]) for s in scenes] == [
        ("A02", 0, "A/2/0"), ("B11", 0, "B/11/0"), ("C05", 0, "C/5/0")]
    assert main(["info", str(export), "--no-orientation-check"]) == 0
    text = capsys.readouterr().out
    assert "plate Plate, 3 well(s): A02, B11, C05; 3 image(s), at most 1 field(s) per well" in text


def test_preview_of_a_plate_draws_each_well_in_its_cell(export, tmp_path):
    out = tmp_path / "plate.ome.zarr"
    assert main(["convert", str(export), str(out), *OPTIONS]) == 0
    png = tmp_path / "plate.png"
    assert main(["preview", str(out), str(png), "--size", "600", "--quiet"]) == 0
    picture = np.asarray(PILImage.open(png).convert("RGB")).astype(int)
    cell = 600 // 12  # the longer side (12 columns) spans --size
    assert picture.shape[:2] == (8 * cell, 12 * cell)

    def lit(row: int, column: int) -> float:  # share of the cell unlike the empty-well grey
        block = picture[row * cell + 2: (row + 1) * cell - 2, column * cell + 2: (column + 1) * cell - 2]
        return float((np.abs(block - round(0.12 * 255)).max(axis=2) > 8).mean())

    for row, column in ((0, 1), (1, 10), (2, 4)):  # A02, B11, C05 show their pixels
        assert lit(row, column) > 0.3
    assert lit(0, 0) == lit(5, 7) == 0.0  # wells the plate lacks stay dark


def test_a_killed_plate_conversion_resumes_to_the_same_bytes(export, tmp_path):
    reference, out = tmp_path / "reference.ome.zarr", tmp_path / "out.ome.zarr"
    assert main(["convert", str(export), str(reference), *OPTIONS]) == 0
    killed = run_cli("convert", str(export), str(out), *OPTIONS, kill_after=3)
    assert killed.returncode == -signal.SIGKILL
    assert "plate" not in ome(out)
    resumed = run_cli("convert", str(export), str(out), *OPTIONS, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    for well in ("A/2/0", "B/11/0", "C/5/0"):
        for level in zarr.open_group(reference / well, mode="r").array_keys():
            assert np.array_equal(zarr.open_array(out / well / level, mode="r")[:],
                                  zarr.open_array(reference / well / level, mode="r")[:])
    assert ome(out)["plate"] == ome(reference)["plate"]


def test_well_on_an_input_without_a_plate_is_refused_not_ignored(tmp_path, capsys):
    from ngff_fuse.testing.ome_tiff import write_ome_tiff

    tif = write_ome_tiff(synthetic_mosaic(grid=(2, 2), tile_shape=(30, 36)), tmp_path / "slide.ome.tif")
    assert main(["convert", str(tif), str(tmp_path / "out.zarr"), "--well", "B03", *OPTIONS]) == 2
    err = capsys.readouterr().err.strip()
    assert "--well picks wells of a plate" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out.zarr" / "zarr.json").exists()
