"""The command line as a user runs it: main([...]), exit codes, one-line errors."""

from __future__ import annotations

import json
import tempfile

import numpy as np
import pytest
import tifffile
import zarr

from ngff_fuse.cli import main
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from ngff_checks import multiscale, validate_models


@pytest.fixture(scope="module")
def acquisition(tmp_path_factory):
    mosaic = synthetic_mosaic(grid=(2, 3), tile_shape=(60, 70), channels=2, origin=(0.0, 250.0, -3000.0))
    path = tmp_path_factory.mktemp("acq") / "slide.ome.tif"
    write_ome_tiff(mosaic, path, position_unit="mm", scale=1e-3)
    return mosaic, path


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def test_demo_runs_end_to_end_and_leaves_only_its_output(tmp_path, monkeypatch, capsys):
    """`demo OUTPUT` in the current folder leaves OUTPUT there and nothing else: its 12 MB
    acquisition goes to a temporary folder, deleted after; an existing OUTPUT is refused before
    the acquisition is made."""
    work, temp = tmp_path / "work", tmp_path / "temp"
    work.mkdir()
    temp.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    assert main(["demo", "demo.ome.zarr"]) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "napari" in printed
    out = work / "demo.ome.zarr"
    validate_models(out, "0.5")
    assert zarr.open_array(out / "0", mode="r").shape[0] == 2  # two channels
    assert [p.name for p in work.iterdir()] == ["demo.ome.zarr"]
    assert list(temp.iterdir()) == []

    def no_work(path):
        raise AssertionError("the acquisition was made for an output that is refused")

    monkeypatch.setattr("ngff_fuse.testing.demo.write_demo_acquisition", no_work)
    assert main(["demo", str(out)]) == 2
    assert "exists" in one_error_line(capsys)


def test_convert_ome_tiff_places_the_mosaic_on_the_stage(acquisition, tmp_path, capsys):
    mosaic, path = acquisition
    out = tmp_path / "slide.ome.zarr"
    assert main(["convert", str(path), str(out), "--ngff", "0.4", "--chunk", "64", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    meta = multiscale(out)
    scale, translation = (t[t["type"]] for t in meta["datasets"][0]["coordinateTransformations"])
    positions = np.array([t.position for t in mosaic.tiles])
    # positions were stored in millimetres: read back in micrometres, lowest tile first
    assert translation[-2:] == pytest.approx(positions.min(axis=0)[1:], abs=1e-6)
    assert scale[-2:] == pytest.approx(mosaic.spacing[1:])
    level0 = zarr.open_array(out / "0", mode="r")[:]
    first = np.rint((positions.min(axis=0) - mosaic.origin) / mosaic.spacing).astype(int)
    truth = mosaic.truth[0, :, 0, first[1]:first[1] + level0.shape[1], first[2]:first[2] + level0.shape[2]]
    covered = level0 > 0
    assert covered.mean() > 0.9
    assert np.array_equal(level0[covered], truth[covered])
    assert meta["metadata"]["blend"] == "feather"


def test_every_write_option_is_honoured(acquisition, tmp_path):
    _, path = acquisition
    out = tmp_path / "o.ome.zarr"
    argv = ["convert", str(path), str(out), "--ngff", "0.5", "--blend", "max", "--chunk", "32",
            "--shard", "64", "--levels", "2", "--downsample", "nearest", "--codec", "zstd:2",
            "--fill", "9", "--quiet"]
    assert main(argv) == 0
    array = zarr.open_array(out / "0", mode="r")
    assert array.chunks[-1] == 32 and array.shards[-1] == 64
    assert "zstd" in str(array.metadata.to_dict())
    meta = multiscale(out)
    assert len(meta["datasets"]) == 2 and meta["type"] == "nearest"
    assert meta["metadata"]["blend"] == "max"
    assert (array[:] == 9).any()  # the jittered grid leaves corners uncovered
    assert main(argv) == 2
    assert main([*argv, "--overwrite"]) == 0


def test_info_json_lists_tiles_positions_and_extent(acquisition, capsys):
    mosaic, path = acquisition
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    scene = info["scenes"][0]
    assert info["reader"] == "ome-tiff"
    assert scene["tiles"] == 6 and scene["dtype"] == "uint16"
    assert scene["dims"] == ["c", "y", "x"] and scene["tile_shape"] == [60, 70]
    assert scene["pixel_size"] == {"y": 0.65, "x": 0.65} and scene["unit"] == "micrometer"
    assert scene["channels"] == list(mosaic.channel_names)
    for tile, truth in zip(scene["tile_positions"], mosaic.tiles):
        assert [tile["position"]["y"], tile["position"]["x"]] == pytest.approx(truth.position[1:], abs=1e-6)
    positions = np.array([t.position for t in mosaic.tiles])
    assert scene["mosaic"]["origin"]["x"] == pytest.approx(positions[:, 2].min())
    assert "Plane Position" in scene["position_source"]
    # a 2 x 3 grid: 7 neighbours across its seams (a jittered corner may add a diagonal one),
    # each overlap a strip of 15 % of a tile edge
    assert 7 <= len(scene["overlaps"]) <= 9
    assert all(min(o["extent_px"][1:]) < 20 for o in scene["overlaps"])


def test_info_table_for_people(acquisition, capsys):
    _, path = acquisition
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "6 tiles of 60 x 70" in out and "overlapping tile pairs" in out
    assert "pixel size" in out and "micrometer" in out


def test_pixel_size_override(acquisition, capsys):
    _, path = acquisition
    assert main(["info", str(path), "--json", "--pixel-size", "0.5"]) == 0
    assert json.loads(capsys.readouterr().out)["scenes"][0]["pixel_size"] == {"y": 0.5, "x": 0.5}


def _write_series(path, tiles):
    """A multi-series OME-TIFF from (array, metadata) pairs, for inconsistent inputs."""
    with tifffile.TiffWriter(path, ome=True) as tif:
        for data, metadata in tiles:
            tif.write(data, metadata={"axes": "YX", **metadata})


def _plane(x, y):
    return {"Plane": {"PositionX": [x], "PositionY": [y], "PositionXUnit": ["µm"], "PositionYUnit": ["µm"]}}


@pytest.mark.parametrize("problem", ["pixel size", "dtype", "positions", "truncated", "not an image", "missing"])
def test_bad_input_is_one_clear_line_and_exit_2(problem, tmp_path, capsys):
    path = tmp_path / "bad.ome.tif"
    a = np.zeros((20, 20), np.uint16)
    size = {"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
    if problem == "pixel size":
        _write_series(path, [(a, {**size, **_plane(0, 0)}),
                             (a, {"PhysicalSizeX": 0.6, "PhysicalSizeY": 0.6, **_plane(8, 0)})])
        expected = "pixel size"
    elif problem == "dtype":
        _write_series(path, [(a, {**size, **_plane(0, 0)}), (a.astype(np.uint8), {**size, **_plane(8, 0)})])
        expected = "dtype"
    elif problem == "positions":
        _write_series(path, [(a, size), (a, size)])
        expected = "no Plane PositionX"
    elif problem == "truncated":
        write_ome_tiff(synthetic_mosaic(grid=(2, 2), tile_shape=(40, 40)), path)
        path.write_bytes(path.read_bytes()[:3000])
        expected = "cannot be read"
    elif problem == "not an image":
        path = tmp_path / "notes.md"  # no reader's extension (a .txt gets the TileConfiguration reader's reason)
        path.write_text("shopping list\n")
        expected = "not a supported input"
    else:
        path = tmp_path / "nowhere.ome.tif"
        expected = "no such file"
    code = main(["convert", str(path), str(tmp_path / "out.ome.zarr")])
    line = one_error_line(capsys)
    assert code == 2, line
    assert expected in line and str(path) in line
    assert not (tmp_path / "out.ome.zarr").exists()


def test_nan_position_names_the_tile(tmp_path, capsys):
    path = tmp_path / "nan.ome.tif"
    a = np.zeros((20, 20), np.uint16)
    size = {"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
    _write_series(path, [(a, {**size, **_plane(0, 0)}), (a, {**size, **_plane(float("nan"), 0)})])
    assert main(["info", str(path)]) == 2
    line = one_error_line(capsys)
    assert "series 1" in line and "not a finite number" in line


def test_flip_and_swap_options_reorder_tiles(acquisition, capsys):
    _, path = acquisition
    assert main(["info", str(path), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)["scenes"][0]
    assert main(["info", str(path), "--json", "--flip-x"]) == 0
    flipped = json.loads(capsys.readouterr().out)["scenes"][0]
    xs = [t["position"]["x"] for t in plain["tile_positions"]]
    fxs = [t["position"]["x"] for t in flipped["tile_positions"]]
    assert np.argmin(fxs) == np.argmax(xs) and np.argmax(fxs) == np.argmin(xs)
    assert flipped["mosaic"]["origin"] == pytest.approx(plain["mosaic"]["origin"])
    assert any("--flip-x" in note for note in flipped["notes"])


def test_info_reports_whether_the_orientation_check_decided(acquisition, capsys):
    _, path = acquisition
    assert main(["info", str(path), "--json"]) == 0
    check = json.loads(capsys.readouterr().out)["scenes"][0]["orientation"]
    assert check["decided"] and check["verdict"].startswith("as recorded")
    assert main(["info", str(path), "--json", "--swap-xy"]) == 0
    check = json.loads(capsys.readouterr().out)["scenes"][0]["orientation"]
    assert check["decided"] and "far better with --swap-xy" in check["verdict"]


def test_scene_option_needs_numbers(acquisition, capsys):
    _, path = acquisition
    assert main(["info", str(path), "--scene", "first"]) == 2
    assert "--scene first" in one_error_line(capsys)


def test_main_leaves_the_callers_warning_filters_and_logger_levels_alone(tmp_path):
    """A notebook or script calling main() keeps its own warnings and logging afterwards; the
    libraries are quiet only while the command runs."""
    import logging
    import warnings

    source = write_ome_tiff(synthetic_mosaic(grid=(1, 2), tile_shape=(30, 40)), tmp_path / "t.ome.tif")
    logger = logging.getLogger("tifffile")
    logger.setLevel(logging.DEBUG)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        filters = list(warnings.filters)
        assert main(["convert", str(source), str(tmp_path / "o.ome.zarr"), "--quiet"]) == 0
        assert warnings.filters == filters
        with pytest.raises(UserWarning):
            warnings.warn("still an error", UserWarning)
    assert logger.level == logging.DEBUG
    logger.setLevel(logging.NOTSET)
