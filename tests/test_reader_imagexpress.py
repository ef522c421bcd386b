"""ImageXpress / MetaXpress exports: layout, MetaSeries positions, wells as scenes, real data."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from ngff_fuse import fuse
from ngff_fuse.cli import main
from ngff_fuse.errors import InputError
from ngff_fuse.readers import ReadOptions, read_input, reader_for
from ngff_fuse.readers.metaseries import read_metaseries
from ngff_fuse.readers.metaseries import parse_name
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.imagexpress import (
    BESIDE, PROJECTION_ONLY, SINGLE_PLANE, STACK, WAVELENGTHS, ZSTEP0, stage_centre, write_imagexpress,
)


def _mosaic(seed: int = 0, **kwargs):
    options = dict(grid=(2, 2), tile_shape=(3, 40, 48), channels=2, timepoints=2, overlap=0.1,
                   jitter=2.0, seed=seed)
    return synthetic_mosaic(**{**options, **kwargs})


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    """Three wells (given out of plate order), 3-D, 2 channels, 2 timepoints, nested like a real
    export in date / plate-id folders, with a .HTD, thumbnails and z projections."""
    wells = {"B10": _mosaic(2), "A03": _mosaic(1), "B02": _mosaic(3, grid=(1, 2))}
    top = tmp_path_factory.mktemp("ix") / "Plate"
    root = write_imagexpress(wells, top / "2024-01-31" / "4711", htd=True, autofocus=0.4)
    return wells, top, root


NAMES = ["Plate_A03", "Plate_A03 projection", "Plate_B02", "Plate_B02 projection",
         "Plate_B10", "Plate_B10 projection"]


def _planes(tilesets):
    return [ts for ts in tilesets if not ts.name.endswith(" projection")]


def _tile_files(root: Path, pattern: str) -> list[Path]:
    return sorted(p for p in root.rglob(pattern) if "_thumb" not in p.name)


def test_file_names_are_parsed_even_when_a_guid_follows_the_site_number():
    real = parse_name("Projection-Mix_E08_s117654C10-92F1-4DFD-98AA-6A01BBD77557.tif")
    assert (real.plate, real.well, real.site, real.channel, real.thumbnail) == (
        "Projection-Mix", "E08", 1, 1, False)
    named = parse_name("1well-3C-2S-Zmix-T_C07_s2_w3612E2F5A-EDA4-45D6-AEBE-8BB167A1B2C3.TIF")
    assert (named.plate, named.well, named.site, named.channel) == (
        "1well-3C-2S-Zmix-T", "C07", 2, 3)
    assert parse_name("my_plate_A01_B03_s12_w2_thumb.tif").thumbnail
    assert parse_name("my_plate_A01_B03_s12_w2.tif").plate == "my_plate_A01"
    assert parse_name("Plate_AA24.tif").site == 1
    assert parse_name("tile_001.tif") is None


def test_every_input_form_opens_the_export(plate):
    _, top, root = plate
    in_zstep = _tile_files(root, "ZStep_2/*_s1_w1*.tif")[0]
    beside = _tile_files(root, "TimePoint_1/Plate_A03_s2_w2*.tif")[0]
    for path in (top, root, root / "Plate.HTD", in_zstep, beside, root / "TimePoint_2"):
        assert reader_for(path).name == "imagexpress"
        tilesets = read_input(path)
        assert [ts.name for ts in tilesets] == NAMES
        assert tilesets[0].dims == ("t", "c", "z", "y", "x")
        assert tilesets[1].dims == ("t", "c", "y", "x")


def test_wells_are_mosaics_of_their_sites_at_the_stage_positions(plate):
    wells, _, root = plate
    tilesets = _planes(read_input(root))
    for tileset, well in zip(tilesets, ("A03", "B02", "B10")):
        mosaic = wells[well]
        assert tileset.spacing == (2.0, 0.65, 0.65)  # z: the stage z steps, whatever the autofocus
        assert tileset.channel_names == mosaic.channel_names
        assert tileset.channel_colors == ("5FFF00", "FFCC00")  # 536 nm green, 593 nm orange
        assert [tile.name for tile in tileset.tiles] == [
            f"{well} site {i + 1}" for i in range(len(mosaic.tiles))]
        truth = np.array([tile.position for tile in mosaic.tiles])
        origins = np.array([tile.origin for tile in tileset.tiles])
        # whole-pixel steps between sites exactly; the stage's 0.1 um rounding only moves them all
        assert origins - origins[0] == pytest.approx(truth - truth[0], abs=1e-9)
        assert origins[:, 1:] == pytest.approx(truth[:, 1:], abs=0.05)
        fused = fuse(tileset, chunk_size=(2, 32, 32)).values
        expected, covered = mosaic.covered_truth()
        assert fused.shape == expected.shape
        assert covered.mean() > 0.9  # the jittered grid leaves corners uncovered
        assert np.array_equal(fused[..., covered], expected[..., covered])


def test_positions_come_from_each_site_file(plate):
    wells, _, root = plate
    mosaic = wells["A03"]
    tileset = read_input(root, ReadOptions(scenes=(0,)))[0]
    for site, tile in enumerate(tileset.tiles, start=1):
        file = Path(tile.source.path)
        assert file.name.startswith(f"Plate_A03_s{site}_w1") and file.parent.name == "ZStep_1"
        meta = read_metaseries(file)
        assert (meta.stage_y, meta.stage_x) == stage_centre(mosaic, site - 1)
        # the stage gives the field centre; the tile's first pixel is half a field before it;
        # the first site sits exactly there, the others on whole pixels from it
        centre = tile.origin[1:] + (np.array(tile.spatial_shape[1:]) - 1) / 2 * 0.65
        tolerance = 1e-9 if site == 1 else 0.65 / 2
        assert centre == pytest.approx((meta.stage_y, meta.stage_x), abs=tolerance)
        assert meta.wavelength == WAVELENGTHS[0]


def test_scenes_select_wells_in_plate_order(plate):
    wells, _, root = plate
    picked = read_input(root, ReadOptions(scenes=(4, 2, 3)))
    assert [ts.name for ts in picked] == ["Plate_B10", "Plate_B02", "Plate_B02 projection"]
    assert len(picked[1].tiles) == len(wells["B02"].tiles) == 2
    with pytest.raises(InputError, match=r"no image 6; the export has 6 image\(s\).*"
                                         r"0: Plate_A03, 1: Plate_A03 projection, 2: Plate_B02"):
        read_input(root, ReadOptions(scenes=(6,)))


def test_abutting_sites_fuse_side_by_side_without_gap_or_overlap(tmp_path):
    mosaic = synthetic_mosaic(grid=(2, 3), tile_shape=(30, 40), overlap=0.0, jitter=0.0,
                              origin=(0.0, 41000.0, 79000.0), spacing=(1.0, 1.3668, 1.3668))
    root = write_imagexpress({"E07": mosaic}, tmp_path / "abut", guid=False)
    tileset = read_input(root)[0]
    stage = np.array([stage_centre(mosaic, i) for i in range(6)])
    extent = (stage.max(axis=0) - stage.min(axis=0)) / 1.3668
    fused = fuse(tileset).values
    assert fused.shape == tuple(np.rint(extent).astype(int) + (30, 40)) == (60, 120)
    for index, tile in enumerate(tileset.tiles):
        row, col = divmod(index, 3)
        assert np.array_equal(fused[row * 30:(row + 1) * 30, col * 40:(col + 1) * 40],
                              mosaic.tiles[index].data[0, 0, 0])


def _fused_truth(mosaic, tileset, reduce=None, channels=slice(None)):
    """The fused tile set, and the truth (of `channels`) it must equal where some tile covers."""
    fused = fuse(tileset, blend="mean", chunk_size=(2, 32, 32), squeeze=False).values
    truth, covered = mosaic.covered_truth()
    truth = truth[:, channels]
    if reduce is not None:
        truth, covered = reduce(truth), covered.any(axis=0, keepdims=True)
    assert fused.shape == truth.shape and covered.mean() > 0.9
    return fused, truth, covered


@pytest.mark.parametrize("top_down", [False, True], ids=["bottom-up", "top-down"])
@pytest.mark.parametrize("where", [BESIDE, ZSTEP0])
def test_projections_are_their_own_image_and_the_z_step_comes_from_the_planes(tmp_path, where, top_down):
    """Either export layout (projections beside the ZStep folders or in ZStep_0), stacks stored
    either way up, sites at autofocus heights up to 0.6 um apart: the planes image holds the
    planes only, in increasing z, 3 um apart; the projection image holds the projections."""
    mosaic = _mosaic(6, tile_shape=(4, 40, 48), spacing=(3.0, 0.65, 0.65), timepoints=1)
    root = write_imagexpress({"C05": mosaic}, tmp_path / "p", projection=where, autofocus=0.3,
                             top_down=top_down, seed=2)
    planes, projections = read_input(root)
    assert (planes.name, projections.name) == ("Plate_C05", "Plate_C05 projection")
    assert planes.spacing == (3.0, 0.65, 0.65) and planes.dims == ("c", "z", "y", "x")
    order = " (ZStep_1 is the top plane)" if top_down else ""
    assert any(note.startswith(f"z step 3 um{order}: the median plane-to-plane step") for note in planes.notes)
    first = read_metaseries(_tile_files(root, "ZStep_1/Plate_C05_s1_w1*.tif")[0]).z_position
    lowest = first - 9.0 if top_down else first
    assert all(tile.data.z.values == pytest.approx(lowest + 3.0 * np.arange(4)) for tile in planes.tiles)
    fused, truth, covered = _fused_truth(mosaic, planes)
    assert np.array_equal(fused[..., covered], truth[..., covered])
    assert projections.dims == ("c", "y", "x") and projections.channel_names == mosaic.channel_names
    assert any("w1 (Ch0-488): Maximum" in note for note in projections.notes)
    fused, truth, covered = _fused_truth(mosaic, projections, lambda a: a.max(axis=2, keepdims=True))
    assert np.array_equal(fused[..., covered], truth[..., covered])


@pytest.mark.parametrize("where", [BESIDE, ZSTEP0])
def test_2d_channels_are_neither_repeated_nor_lost_and_shared_labels_are_told_apart(tmp_path, where):
    """The real Projection-Mix acquisition: four channels all called FITC_05 at 536 nm; w1 and
    w2 z stacks, w3 a projection only, w4 a single plane filed in ZStep_1."""
    mosaic = _mosaic(7, tile_shape=(3, 40, 48), channels=4, timepoints=1)
    root = write_imagexpress({"E07": mosaic}, tmp_path / "p", projection=where,
                             channel_kinds=[STACK, STACK, PROJECTION_ONLY, SINGLE_PLANE],
                             illumination=["FITC_05"] * 4, wavelengths=[536.0] * 4)
    planes, projections = read_input(root)
    assert planes.channel_names == ("FITC_05 (w1)", "FITC_05 (w2)", "FITC_05 (w4)")
    assert planes.tiles[0].data.shape[1:3] == (3, 3)
    assert "w4 (FITC_05 (w4)) has planes at z step(s) 1 of 3 only; its other planes are empty (0)" in planes.notes
    fused, truth, covered = _fused_truth(mosaic, planes, channels=[0, 1, 3])
    assert np.array_equal(fused[:, :2][..., covered], truth[:, :2][..., covered])
    assert np.array_equal(fused[:, 2, 0][..., covered[0]], truth[:, 2, 0][..., covered[0]])
    assert not fused[:, 2, 1:].any()  # not repeated: the single plane is in one plane only
    assert projections.channel_names == ("FITC_05 (w1)", "FITC_05 (w2)", "FITC_05 (w3)")
    fused, truth, covered = _fused_truth(mosaic, projections, lambda a: a.max(axis=2, keepdims=True),
                                         channels=[0, 1, 2])
    assert np.array_equal(fused[..., covered], truth[..., covered])


def test_labels_are_told_apart_by_what_differs_in_the_xml(tmp_path):
    mosaic = _mosaic(8, grid=(1, 2), tile_shape=(2, 30, 30), channels=3, timepoints=1)
    root = write_imagexpress({"A01": mosaic}, tmp_path / "p", projection=False,
                             illumination=["DAPI", "FITC", "FITC"], wavelengths=[452.0, 536.0, 593.0])
    [planes] = read_input(root)
    assert planes.channel_names == ("DAPI", "FITC (536 nm)", "FITC (593 nm)")


def test_a_single_plane_beside_the_stacks_sits_at_its_nearest_plane(tmp_path):
    """A 2-D channel filed beside the ZStep folders, without a projection method: its stage z
    says which plane it is; it is neither repeated over the planes nor taken for a projection."""
    mosaic = _mosaic(9, grid=(1, 2), tile_shape=(4, 30, 36), channels=2, timepoints=1)
    root = write_imagexpress({"B03": mosaic}, tmp_path / "p", projection=False,
                             channel_kinds=[STACK, SINGLE_PLANE])
    for site in (1, 2):
        [moved] = _tile_files(root, f"ZStep_1/Plate_B03_s{site}_w2*.tif")
        plane2 = read_metaseries(_tile_files(root, f"ZStep_3/Plate_B03_s{site}_w1*.tif")[0]).z_position
        with tifffile.TiffFile(moved) as tif:
            pixels, xml = tif.asarray(), tif.pages.first.description
        xml = re.sub(r'(id="z-position" type="float" value=")[^"]*', rf"\g<1>{plane2 + 0.4:.2f}", xml)
        tifffile.imwrite(root / moved.name, pixels, description=xml, software="MetaSeries", metadata=None)
        moved.unlink()
    [planes] = read_input(root)
    assert planes.channel_names == mosaic.channel_names
    assert any("w2 (Ch1-561) is a single plane, put at z step 3" in note for note in planes.notes)
    data = planes.tiles[0].data.values
    assert np.array_equal(data[0, 1, 2], mosaic.tiles[0].data[0, 1, 0]) and not data[0, 1, [0, 1, 3]].any()


def test_a_channel_imaged_at_some_timepoints_only_is_kept_there(tmp_path):
    """A channel taken at the first timepoint only (a reference stain) is neither lost nor
    taken for an incomplete export: its other timepoints are empty, and the note says so."""
    mosaic = _mosaic(10, grid=(1, 2), tile_shape=(30, 36), channels=2, timepoints=2)
    root = write_imagexpress({"F02": mosaic}, tmp_path / "p")
    for file in _tile_files(root, "TimePoint_2/*_w2*.tif"):
        file.unlink()
    [planes] = read_input(root)
    assert planes.dims == ("t", "c", "y", "x") and planes.channel_names == mosaic.channel_names
    assert "channel(s) w2 imaged at only some timepoints; the others are empty (0)" in planes.notes
    for tile, site in zip(planes.tiles, mosaic.tiles):
        data = tile.data.values
        assert np.array_equal(data[:, 0], site.data[:, 0]) and np.array_equal(data[0, 1], site.data[0, 1])
        assert not data[1, 1].any()


def _truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


@pytest.mark.parametrize("keep", [0.5, 0.99], ids=["half", "tags-cut"])
def test_a_truncated_site_is_named_in_one_line(shared_dir, tmp_path, capsys, keep):
    """A real MetaXpress TIFF (pixels first, tags last) cut short: half loses the page, 99 % the
    tags that locate the pixels and the MetaSeries XML; neither is 'unexpected' nor blamed on
    a missing stage position."""
    export = tmp_path / "copy"
    shutil.copytree(_real(shared_dir, "1well-3C-2S-Zmix-T"), export)
    victim = _real_file(export, "TimePoint_2/*_C07_s2_w1*.tif")
    victim.chmod(0o644)
    _truncate(victim, keep)
    for argv in (["info", str(export)], ["convert", str(export), str(tmp_path / "out.ome.zarr")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "unexpected" not in err, err
        assert f"{victim}: cannot be read as a TIFF" in err and "truncated or damaged" in err
        assert "copy it again" in err


def test_bad_exports_fail_with_one_line_naming_the_problem(tmp_path, capsys):
    mosaic = _mosaic(5, grid=(1, 2), timepoints=1)
    root = write_imagexpress({"D04": mosaic}, tmp_path / "p")
    missing = _tile_files(root, "ZStep_2/*_s2_w2*.tif")[0]
    missing.unlink()
    with pytest.raises(InputError, match=r"well D04 site 2 has no plane of channel w2 at "
                                         r"timepoint 1, z step 2"):
        read_input(root)
    assert main(["info", str(root)]) == 2
    assert "Traceback" not in capsys.readouterr().err

    plain = write_imagexpress({"D04": mosaic}, tmp_path / "q", projection=False)
    victim = _tile_files(plain, "ZStep_1/*_s1_w1*.tif")[0]
    no_stage = "<MetaData>\n<PlaneInfo>\n</PlaneInfo>\n</MetaData>"
    tifffile.imwrite(victim, mosaic.tiles[0].data[0, 0, 0], software="MetaSeries",
                     description=no_stage, metadata=None)
    with pytest.raises(InputError, match=rf"{victim.name}: no stage-position-x/y"):
        read_input(plain)


def test_pixel_size_option_overrides_the_calibration(plate):
    _, _, root = plate
    tileset = read_input(root, ReadOptions(pixel_size=(3.0, 1.3, 1.3), scenes=(0,)))[0]
    assert tileset.spacing == (3.0, 1.3, 1.3)
    steps = np.array([tile.origin for tile in tileset.tiles])[:, 1:] / 1.3
    assert np.allclose(steps - steps[0], np.rint(steps - steps[0]))  # whole pixels of 1.3 um


# ---- the real MetaXpress exports in ../shared/realdata/imagexpress ------------------------


def _real(shared_dir: Path, name: str) -> Path:
    path = shared_dir / "realdata" / "imagexpress" / name
    assert path.is_dir(), f"{path} is missing from ../shared"
    return path


def _real_file(folder: Path, pattern: str) -> Path:
    files = [p for p in folder.rglob(pattern) if "_thumb" not in p.name]
    assert len(files) == 1, files
    return files[0]


def test_real_single_channel_export_z_stacks(shared_dir):
    export = _real(shared_dir, "SingleChannel")
    tilesets = read_input(export)
    assert [ts.name for ts in tilesets] == ["Projection-Mix_E07", "Projection-Mix_E07 projection",
                                            "Projection-Mix_E08", "Projection-Mix_E08 projection"]
    e07 = tilesets[0]
    assert e07.channel_names == ("FITC_05",) and e07.channel_colors == ("5FFF00",)
    # z from the planes' stage z: 9318.24 -> 9323.18 (site 1) and 9318.34 -> 9323.32 (site 2),
    # not from the projection (its z-position 9343.19 is the middle of the 50 um stack)
    assert e07.dims == ("z", "y", "x") and e07.spacing == pytest.approx((4.96, 1.3668, 1.3668))
    assert tilesets[2].spacing[0] == pytest.approx(4.95)  # E08: 4.94 and 4.96
    site1 = read_metaseries(_real_file(export, "ZStep_1/Projection-Mix_E07_s1[0-9A-F]*.tif"))
    site2 = read_metaseries(_real_file(export, "ZStep_1/Projection-Mix_E07_s2[0-9A-F]*.tif"))
    assert (site1.stage_x, site1.stage_y, site1.z_position) == (79813.4, 41385.4, 9318.24)
    assert (site2.stage_x, site2.stage_y) == (80513.3, 41385.4)
    assert site1.pixel_size == (1.3668, 1.3668)
    origins = np.array([tile.origin for tile in e07.tiles])
    half_field = 255.5 * 1.3668  # stage = field centre; first pixel centre 255.5 px before it
    assert origins[0] == pytest.approx((9318.24, 41385.4 - half_field, 79813.4 - half_field))
    assert origins[1] - origins[0] == pytest.approx((0.0, 0.0, 512 * 1.3668))
    fused = fuse(e07).values
    # the stage moved 699.9 um = 512.07 px: the sites abut, 512 + 512 px wide, 2 z planes
    assert fused.shape == (2, 512, round((80513.3 - 79813.4) / 1.3668) + 512) == (2, 512, 1024)
    for z in (1, 2):
        left = tifffile.imread(_real_file(export, f"ZStep_{z}/Projection-Mix_E07_s1[0-9A-F]*.tif"))
        right = tifffile.imread(_real_file(export, f"ZStep_{z}/Projection-Mix_E07_s2[0-9A-F]*.tif"))
        assert np.array_equal(fused[z - 1, :, :512], left)
        assert np.array_equal(fused[z - 1, :, 512:], right)
        # stage x grows with image columns: the content runs on across the seam
        seam = np.corrcoef(fused[z - 1, :, 511:513].astype(float).T)[0, 1]
        assert seam > 0.9


def test_real_single_channel_projections(shared_dir):
    """The files beside the ZStep folders say Z Projection Method Maximum: each well's
    projection is its own 2-D image, and no plane of the z stack."""
    export = _real(shared_dir, "SingleChannel")
    projection = _real_file(export, "1334/Projection-Mix_E08_s2[0-9A-F]*.tif")
    assert read_metaseries(projection).projection == "Maximum"
    tilesets = read_input(projection)
    assert [ts.dims for ts in tilesets] == [("z", "y", "x"), ("y", "x")] * 2
    e08 = tilesets[3]
    assert e08.name == "Projection-Mix_E08 projection" and e08.channel_names == ("FITC_05",)
    fused = fuse(e08).values
    assert fused.shape == (512, 1024)
    assert np.array_equal(fused[:, 512:], tifffile.imread(projection))
    planes = fuse(tilesets[2]).values
    assert not any(np.array_equal(plane[:, 512:], fused[:, 512:]) for plane in planes)


def test_real_multichannel_timelapse_export(shared_dir, tmp_path):
    """FITC is a plane; Cy3 and Texas Red exist only as projections (their XML says so): the
    well gives a FITC image and a projection image of the two, neither channel lost."""
    export = _real(shared_dir, "1well-3C-2S-Zmix-T")
    planes, projections = read_input(export)
    assert (planes.name, projections.name) == ("1well-3C-2S-Zmix-T_C07", "1well-3C-2S-Zmix-T_C07 projection")
    assert planes.channel_names == ("FITC",) and projections.channel_names == ("Cy3", "Texas Red")
    assert planes.channel_colors == ("5FFF00",)
    assert projections.channel_colors == ("FFCC00", "FF5200")  # 593, 624 nm
    assert planes.dims == ("t", "y", "x") and projections.dims == ("t", "c", "y", "x")
    assert planes.n_timepoints == projections.n_timepoints == 2
    assert any("w2 (Cy3): Maximum; w3 (Texas Red): Maximum" in note for note in projections.notes)
    s2 = read_metaseries(_real_file(export, "TimePoint_1/*_C07_s2_w1*.tif"))
    assert (s2.stage_x, s2.stage_y, s2.pixel_size) == (68300.0, 31094.5, (13.5504, 13.5504))
    out = tmp_path / "c07.ome.zarr"
    assert main(["convert", str(export), str(out), "--quiet", "--chunk", "128"]) == 0
    # an HCS plate: well C07 holds its planes (field 0) and its projections (field 1), each
    # its own acquisition
    plate = zarr.open_group(out, mode="r").attrs["ome"]["plate"]
    assert plate["wells"] == [{"path": "C/7", "rowIndex": 2, "columnIndex": 6}]
    assert plate["acquisitions"] == [{"id": 0, "name": "1well-3C-2S-Zmix-T"}, {"id": 1, "name": "projections"}]
    assert zarr.open_group(out / "C" / "7", mode="r").attrs["ome"]["well"]["images"] == [
        {"path": "0", "acquisition": 0}, {"path": "1", "acquisition": 1}]
    fitc = zarr.open_array(out / "C" / "7" / "0" / "0", mode="r")[:]
    projected = zarr.open_array(out / "C" / "7" / "1" / "0", mode="r")[:]
    # site 2 sits 3468.8 um = 256 px lower on the stage: below site 1, no gap, no overlap
    assert fitc.shape == (2, 512, 256) and projected.shape == (2, 2, 512, 256)
    for t in (1, 2):
        for c, image in ((1, fitc[t - 1]), (2, projected[t - 1, 0]), (3, projected[t - 1, 1])):
            top = tifffile.imread(_real_file(export, f"TimePoint_{t}/*_C07_s1_w{c}*.tif"))
            bottom = tifffile.imread(_real_file(export, f"TimePoint_{t}/*_C07_s2_w{c}*.tif"))
            assert np.array_equal(image[:256], top)
            assert np.array_equal(image[256:], bottom)


def test_real_export_stage_y_grows_downward(shared_dir):
    """The evidence for the y orientation: the FITC images of well C07 show the well's rim, a
    circle around the well centre, which the sites' OffsetFromWellCenterUmY (-/+1734 um = half a
    field) put on their seam. Fused as read, the top site holds the top of that circle: a clean
    arc bending down at both ends, of a circle centred near the seam. Swapped, it would not."""
    from scipy import ndimage

    tileset = read_input(_real(shared_dir, "1well-3C-2S-Zmix-T"))[0]
    fitc = fuse(tileset).values[0].astype(float)
    rim = ndimage.gaussian_filter(fitc, 3) - ndimage.gaussian_filter(fitc, 12)
    columns = np.arange(30, 226)
    rows = np.array([np.argmax(rim[:256, col]) for col in columns])  # the rim in the top site
    a, b, c = np.polyfit(columns, rows, 2)
    assert a > 0  # an arch, not a bowl
    assert np.abs(rows - np.polyval([a, b, c], columns)).mean() < 2
    centre_row = np.polyval([a, b, c], -b / (2 * a)) + 1 / (2 * a)  # apex + radius
    assert abs(centre_row - 256) < 40


def test_real_folder_above_several_exports_asks_for_one(shared_dir):
    root = shared_dir / "realdata" / "imagexpress"
    with pytest.raises(InputError, match="holds 2 ImageXpress exports"):
        read_input(root)


def test_copied_export_without_guids_reads_the_same(shared_dir, tmp_path):
    """Older MetaXpress names carry no GUID; the layout alone must be enough."""
    export = _real(shared_dir, "1well-3C-2S-Zmix-T")
    copy = tmp_path / "old"
    for file in export.rglob("*.tif"):
        name = parse_name(file.name)
        old_name = f"{name.plate}_{name.well}_s{name.site}_w{name.channel}.TIF"
        target = copy / file.parent.name / old_name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(file, target)
    originals, renamed = read_input(export), read_input(copy)
    assert [ts.name for ts in originals] == [ts.name for ts in renamed] and len(originals) == 2
    for a, b in zip(originals, renamed):
        assert np.array_equal(fuse(a).values, fuse(b).values)
        assert [t.origin.tolist() for t in a.tiles] == [t.origin.tolist() for t in b.tiles]
