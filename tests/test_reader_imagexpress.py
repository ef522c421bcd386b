"""ImageXpress / MetaXpress exports: layout, MetaSeries positions, wells as scenes, real data."""

from __future__ import annotations

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
from ngff_fuse.readers.imagexpress import read_metaseries
from ngff_fuse.readers.metaseries import parse_name
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.imagexpress import WAVELENGTHS, stage_centre, write_imagexpress


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
    root = write_imagexpress(wells, top / "2024-01-31" / "4711", htd=True)
    return wells, top, root


def _tile_files(root: Path, pattern: str) -> list[Path]:
    return sorted(p for p in root.rglob(pattern) if "_thumb" not in p.name)


def _coverage(mosaic, first, stop) -> np.ndarray:
    """Which (z, y, x) pixels of the truth box [first, stop) some tile covers."""
    covered = np.zeros(tuple(stop - first), dtype=bool)
    for tile in mosaic.tiles:
        low = np.rint(tile.pixel_offset).astype(int) - first
        covered[tuple(slice(a, a + n) for a, n in zip(low, tile.data.shape[2:]))] = True
    return covered


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
    for path in (top, root, root / "Plate.HTD", in_zstep, root / "TimePoint_2"):
        assert reader_for(path).name == "imagexpress"
        tilesets = read_input(path)
        assert [ts.name for ts in tilesets] == ["Plate_A03", "Plate_B02", "Plate_B10"]
        assert tilesets[0].dims == ("t", "c", "z", "y", "x")


def test_wells_are_mosaics_of_their_sites_at_the_stage_positions(plate):
    wells, _, root = plate
    tilesets = read_input(root)
    for tileset, well in zip(tilesets, ("A03", "B02", "B10")):
        mosaic = wells[well]
        assert tileset.spacing == pytest.approx((2.0, 0.65, 0.65))  # z: the projection's step
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
        first, stop = mosaic.truth_extent()
        expected = mosaic.truth[(slice(None), slice(None), *map(slice, first, stop))]
        assert fused.shape == expected.shape
        covered = _coverage(mosaic, first, stop)
        assert covered.mean() > 0.9  # the jittered grid leaves corners uncovered
        assert np.array_equal(fused[..., covered], expected[..., covered])


def test_positions_come_from_each_site_file(plate):
    wells, _, root = plate
    mosaic = wells["A03"]
    tileset = read_input(root, ReadOptions(scenes=(0,)))[0]
    for site, tile in enumerate(tileset.tiles, start=1):
        file = Path(tile.source)
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
    picked = read_input(root, ReadOptions(scenes=(2, 1)))
    assert [ts.name for ts in picked] == ["Plate_B10", "Plate_B02"]
    assert len(picked[1].tiles) == len(wells["B02"].tiles) == 2
    with pytest.raises(InputError, match=r"no well 3; the export has 3 well\(s\).*0: A03, 1: B02"):
        read_input(root, ReadOptions(scenes=(3,)))


def test_a_top_level_tiff_opens_the_projections(plate):
    wells, _, root = plate
    projection = _tile_files(root, "TimePoint_1/Plate_A03_s2_w2*.tif")[0]
    tileset = read_input(projection)[0]
    assert tileset.name == "Plate_A03" and tileset.dims == ("t", "c", "y", "x")
    assert any("Maximum projection" in note for note in tileset.notes)
    mosaic = wells["A03"]
    for tile, site in zip(tileset.tiles, mosaic.tiles):
        assert np.array_equal(tile.data.values[:, :, 0], site.data.max(axis=2))


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


def test_channels_without_a_full_z_stack_are_left_out_of_the_stacks(tmp_path):
    root = write_imagexpress({"C05": _mosaic(4, grid=(1, 2), timepoints=1)}, tmp_path / "p")
    for file in _tile_files(root, "ZStep_[23]/*_w2*.tif"):
        file.unlink()
    tileset = read_input(root)[0]
    assert tileset.channel_names == ("Ch0-488",) and tileset.tiles[0].data.shape[2] == 3
    assert "left out channel(s) w2: planes in only some of the 3 z steps" in tileset.notes
    for file in _tile_files(root, "ZStep_1/*_w2*.tif"):  # w2 now exists in 2-D only
        file.unlink()
    tileset = read_input(root)[0]
    assert tileset.channel_names == ("Ch0-488",)
    assert "left out channel(s) w2: 2-D only, no z stack" in tileset.notes
    flat = read_input(_tile_files(root, "Plate_C05_s1_w2*.tif")[0])[0]
    assert flat.channel_names == ("Ch0-488", "Ch1-561") and flat.dims == ("c", "y", "x")


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
    assert [ts.name for ts in tilesets] == ["Projection-Mix_E07", "Projection-Mix_E08"]
    e07 = tilesets[0]
    assert e07.channel_names == ("FITC_05",) and e07.channel_colors == ("5FFF00",)
    assert e07.dims == ("z", "y", "x") and e07.spacing == pytest.approx((5.0, 1.3668, 1.3668))
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
    export = _real(shared_dir, "SingleChannel")
    projection = _real_file(export, "1334/Projection-Mix_E08_s2[0-9A-F]*.tif")
    tilesets = read_input(projection)
    assert [ts.dims for ts in tilesets] == [("y", "x"), ("y", "x")]
    fused = fuse(tilesets[1]).values
    assert fused.shape == (512, 1024)
    assert np.array_equal(fused[:, 512:], tifffile.imread(projection))


def test_real_multichannel_timelapse_export(shared_dir, tmp_path):
    export = _real(shared_dir, "1well-3C-2S-Zmix-T")
    [tileset] = read_input(export)
    assert tileset.name == "1well-3C-2S-Zmix-T_C07"
    assert tileset.channel_names == ("FITC", "Cy3", "Texas Red")
    assert tileset.channel_colors == ("5FFF00", "FFCC00", "FF5200")  # 536, 593, 624 nm
    assert tileset.dims == ("t", "c", "y", "x") and tileset.n_timepoints == 2
    assert any("w2 (Cy3) is a Maximum projection" in note for note in tileset.notes)
    s2 = read_metaseries(_real_file(export, "TimePoint_1/*_C07_s2_w1*.tif"))
    assert (s2.stage_x, s2.stage_y, s2.pixel_size) == (68300.0, 31094.5, (13.5504, 13.5504))
    out = tmp_path / "c07.ome.zarr"
    assert main(["convert", str(export), str(out), "--quiet", "--chunk", "128"]) == 0
    level0 = zarr.open_array(out / "0", mode="r")[:]
    # site 2 sits 3468.8 um = 256 px lower on the stage: below site 1, no gap, no overlap
    assert level0.shape == (2, 3, 512, 256)
    for t in (1, 2):
        for c in (1, 2, 3):
            top = tifffile.imread(_real_file(export, f"TimePoint_{t}/*_C07_s1_w{c}*.tif"))
            bottom = tifffile.imread(_real_file(export, f"TimePoint_{t}/*_C07_s2_w{c}*.tif"))
            assert np.array_equal(level0[t - 1, c - 1, :256], top)
            assert np.array_equal(level0[t - 1, c - 1, 256:], bottom)


def test_real_export_stage_y_grows_downward(shared_dir):
    """The evidence for the y orientation: the FITC images of well C07 show the well's rim, a
    circle around the well centre, which the sites' OffsetFromWellCenterUmY (-/+1734 um = half a
    field) put on their seam. Fused as read, the top site holds the top of that circle: a clean
    arc bending down at both ends, of a circle centred near the seam. Swapped, it would not."""
    from scipy import ndimage

    [tileset] = read_input(_real(shared_dir, "1well-3C-2S-Zmix-T"))
    fitc = fuse(tileset).values[0, 0].astype(float)
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
    [original], [renamed] = read_input(export), read_input(copy)
    assert np.array_equal(fuse(original).values, fuse(renamed).values)
    assert [t.origin.tolist() for t in original.tiles] == [t.origin.tolist() for t in renamed.tiles]
