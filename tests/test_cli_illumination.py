"""`--flatfield/--darkfield/--equalize` and `ngff-fuse illumination` as a user runs them."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from ngff_checks import multiscale
from ngff_fuse.cli import main
from ngff_fuse.illumination.files import read_profile
from ngff_fuse.testing.illumination import covered, relative_rms, vignetted_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff


@pytest.fixture(scope="module")
def acquisition(tmp_path_factory):
    case = vignetted_mosaic(grid=(4, 4), tile_shape=(128, 144), corners=0.6, dark=300.0, seed=7)
    path = tmp_path_factory.mktemp("vignetted") / "slide.ome.tif"
    write_ome_tiff(case.mosaic, path)
    return case, path


def fused_level0(path) -> np.ndarray:
    return np.asarray(zarr.open_group(path, mode="r")["0"][...]).squeeze()


def test_convert_flatfield_auto_records_and_stores_the_profiles(acquisition, tmp_path, capsys):
    case, source = acquisition
    plain, corrected = tmp_path / "plain.ome.zarr", tmp_path / "corrected.ome.zarr"
    assert main(["convert", str(source), str(plain), "--quiet"]) == 0
    assert main(["convert", str(source), str(corrected), "--flatfield", "auto", "--quiet"]) == 0
    box, mask = covered(case.mosaic)
    truth = case.mosaic.truth[0, 0, 0][box]
    assert relative_rms(fused_level0(plain), truth, mask) > 0.08
    assert relative_rms(fused_level0(corrected), truth, mask) < 0.025
    record = multiscale(corrected)["metadata"]["illumination"]
    assert record["flatfield"] == "auto" and record["darkfield"] == "auto"
    assert record["stored"] == "illumination"
    assert record["channels"][0]["corners_percent"] == pytest.approx(60, abs=2)
    assert record["channels"][0]["dark_level"] == pytest.approx(300, rel=0.05)
    stored = read_profile(corrected / "illumination", "flatfield")
    np.testing.assert_allclose(stored[0], case.flat, atol=0.02)


def test_illumination_command_saves_profiles_convert_reads_them(acquisition, tmp_path, capsys):
    case, source = acquisition
    profiles, picture = tmp_path / "profiles.ome.tif", tmp_path / "qc.png"
    assert main(["illumination", str(source), "--out", str(profiles), "--qc-plot", str(picture)]) == 0
    out = capsys.readouterr().out
    assert "corners at" in out and picture.stat().st_size > 10_000
    np.testing.assert_allclose(read_profile(profiles, "flatfield")[0], case.flat, atol=0.02)
    output = tmp_path / "from-file.ome.zarr"
    assert main(["convert", str(source), str(output), "--flatfield", str(profiles), "--darkfield",
                 str(profiles), "--quiet"]) == 0
    box, mask = covered(case.mosaic)
    assert relative_rms(fused_level0(output), case.mosaic.truth[0, 0, 0][box], mask) < 0.025
    assert multiscale(output)["metadata"]["illumination"]["flatfield"] == str(profiles)


def test_a_profile_of_other_tiles_is_refused_in_one_line(acquisition, tmp_path, capsys):
    import tifffile

    _, source = acquisition
    wrong = tmp_path / "flat.tif"
    tifffile.imwrite(wrong, np.ones((100, 100), np.float32))
    code = main(["convert", str(source), str(tmp_path / "out.ome.zarr"), "--flatfield", str(wrong)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "128 x 144" in err and str(wrong) in err
    code = main(["convert", str(source), str(tmp_path / "out2.ome.zarr"), "--flatfield", str(tmp_path / "nope.tif")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "no such flatfield file" in err


def test_auto_on_too_few_tiles_is_refused_in_one_line(tmp_path, capsys):
    """Nine tiles: a median over them is mostly the scene, so auto refuses and says what to do
    instead (the real 2-tile sets got worse seams from such an estimate)."""
    case = vignetted_mosaic(grid=(3, 3), tile_shape=(64, 72), seed=8)
    source = write_ome_tiff(case.mosaic, tmp_path / "small.ome.tif")
    code = main(["convert", str(source), str(tmp_path / "out.ome.zarr"), "--flatfield", "auto"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "9 tiles are too few" in err and "ngff-fuse illumination" in err
    assert not (tmp_path / "out.ome.zarr" / "0").exists()


def test_equalize_is_recorded_beside_the_options(acquisition, tmp_path):
    _, source = acquisition
    output = tmp_path / "eq.ome.zarr"
    assert main(["convert", str(source), str(output), "--flatfield", "auto", "--equalize", "--quiet"]) == 0
    record = multiscale(output)["metadata"]["illumination"]
    assert record["equalize"] is True
    assert record["tile_gains"][0]["pairs"] > 0
    gains = np.asarray(zarr.open_group(output / "illumination", mode="r")["tile_gains"][...])
    assert gains.shape == (16, 1, 2)  # tiles, channels, (gain, offset)
    # no gains were applied to these tiles: equalize finds them all alike
    assert np.abs(gains[..., 0] / gains[..., 0].mean() - 1).max() < 0.01


def test_register_with_flatfield_keeps_true_positions(acquisition, tmp_path):
    """The synthetic stage positions are the truth: registered on corrected tiles, every tile
    stays within half a pixel of them."""
    import json

    case, source = acquisition
    out = tmp_path / "positions.json"
    assert main(["register", str(source), "--out", str(out), "--flatfield", "auto", "--quiet"]) == 0
    saved = json.loads(out.read_text())
    assert len(saved["tiles"]) == len(case.mosaic.tiles)
    moved = np.array([tile["correction_px"] for tile in saved["tiles"]])
    assert np.abs(moved - moved.mean(axis=0)).max() < 0.5


def test_darkfield_auto_alone_is_refused(acquisition, tmp_path, capsys):
    _, source = acquisition
    code = main(["convert", str(source), str(tmp_path / "out.ome.zarr"), "--darkfield", "auto"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--flatfield auto" in err


def test_a_corrected_store_is_ngff_fuses_own_for_overwrite(acquisition, tmp_path, capsys):
    """Its illumination/ group (profiles, tile gains) is ours: --overwrite replaces the store;
    anything else put in that group is still refused."""
    _, source = acquisition
    out = tmp_path / "corrected.ome.zarr"
    options = ["--flatfield", "auto", "--equalize", "--quiet"]
    assert main(["convert", str(source), str(out), *options]) == 0
    assert main(["convert", str(source), str(out), *options, "--overwrite"]) == 0
    (out / "illumination" / "notes.txt").write_text("mine")
    assert main(["convert", str(source), str(out), *options, "--overwrite"]) == 2
    assert "notes.txt" in capsys.readouterr().err
