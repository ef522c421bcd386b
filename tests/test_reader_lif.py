"""Leica LIF through bioio-lif: layouts on stand-ins that behave as bioio-lif and liffile do
(synthetic tile scans, and the axis sizes of images that are not tile scans), and the real tile
scan in ../shared against an independent reading of its bytes."""

from __future__ import annotations

import itertools
import sys

import bioio_lif.reader  # noqa: F401  binds liffile.LifFile at import: before a stand-in replaces it
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from bioio_base.types import PhysicalPixelSizes
from liffile import LifTileScanInfo

import zarr

import ngff_fuse.readers.lif as lif_module
from ngff_fuse.cli import main
from ngff_fuse.describe import describe_tileset
from ngff_fuse.errors import InputError
from ngff_fuse.fuse.core import fuse
from ngff_fuse.readers import read_input, reader_for
from ngff_fuse.readers.base import ReadOptions
from ngff_fuse.readers.lif import LifReader, lut_color, place_lif_tiles
from ngff_fuse.testing import synthetic_mosaic
from ngff_checks import multiscale


def tile_scan(mosaic, flip_x=False, flip_y=False, swap_xy=False, grid=(2, 3)) -> LifTileScanInfo:
    """The TileScanInfo LAS X would write for the mosaic: PosX/PosY (metres) of each tile's
    centre pixel, in the stage's own sense of x and y."""
    rows = []
    for index, tile in enumerate(mosaic.tiles):
        shape = np.array(tile.data.shape[2:])
        z, cy, cx = np.array(tile.position) + shape // 2 * np.array(mosaic.spacing)
        field_y, field_x = divmod(index, grid[1])
        x, y = (cy, cx) if swap_xy else (cx, cy)  # undo the swap, then the flips
        x, y = -x if flip_x else x, -y if flip_y else y
        rows.append((field_y, field_x, tile.position[0] * 1e-6, y * 1e-6, x * 1e-6))
    tiles = np.array(rows, dtype=[("field_y", "i4"), ("field_x", "i4"), ("pos_z", "f8"),
                                  ("pos_y", "f8"), ("pos_x", "f8")])
    return LifTileScanInfo(flip_x, flip_y, swap_xy, tiles)


class StandInLifReader:
    """What LifReader uses of bioio_lif.Reader: scenes, set_scene, xarray_dask_data (dims
    M, T, C, Z, Y, X for tile scans, T, C, Z, Y, X otherwise; channel names as C coords) and
    physical_pixel_sizes (um)."""

    def __init__(self, images):
        self.images = images  # name -> (mosaic, tile scan)
        self.scenes = tuple(images)
        self.current = 0

    def set_scene(self, index):
        self.current = index

    @property
    def xarray_dask_data(self):
        mosaic, _ = self.images[self.scenes[self.current]]
        data = da.from_array(np.stack([t.data for t in mosaic.tiles]), chunks=(1, 1, 1, -1, -1, -1))
        return xr.DataArray(data, dims=list("MTCZYX"), coords={"C": ["Green--FLUO", "Red"][: data.shape[2]]})

    @property
    def physical_pixel_sizes(self):
        mosaic, _ = self.images[self.scenes[self.current]]
        z = mosaic.spacing[0] if mosaic.truth.shape[2] > 1 else None
        return PhysicalPixelSizes(z, *mosaic.spacing[1:])


def lif_sizes(mosaic) -> dict[str, int]:
    """liffile's `LifImage.sizes` for the mosaic as a tile scan: axes of length 1 left out.
    A dict given instead of a mosaic is taken as those sizes (images that are not tile scans)."""
    if isinstance(mosaic, dict):
        return mosaic
    t, c, z, y, x = mosaic.tiles[0].data.shape
    sizes = {"T": t, "M": len(mosaic.tiles), "Z": z, "C": c, "Y": y, "X": x}
    return {axis: n for axis, n in sizes.items() if n > 1}


@pytest.fixture
def lif_file(tmp_path, monkeypatch):
    """A .lif path whose bioio-lif reader and liffile TileScanInfo are the stand-ins."""

    def install(images):
        path = tmp_path / "scan.lif"
        path.write_bytes(b"\x70\x00\x00\x00")
        reader = StandInLifReader(images)

        class Image:
            def __init__(self, mosaic, scan):
                self.tilescan = scan
                self.sizes = lif_sizes(mosaic)

        class StandInLifFile:
            def __init__(self, opened):
                assert opened == path
                self.images = [Image(mosaic, scan) for mosaic, scan in images.values()]

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

        monkeypatch.setattr(lif_module, "open_bioimage", lambda p, r: type("Im", (), {"reader": reader})())
        monkeypatch.setattr("liffile.LifFile", StandInLifFile)
        return path

    return install


@pytest.mark.parametrize("flip_x, flip_y, swap_xy", list(itertools.product([False, True], repeat=3)))
def test_flips_and_swap_put_every_tile_back(flip_x, flip_y, swap_xy):
    mosaic = synthetic_mosaic(grid=(2, 3), tile_shape=(40, 50), subpixel=True, seed=2)
    scan = tile_scan(mosaic, flip_x, flip_y, swap_xy)
    placed = place_lif_tiles(scan, 6, (1, 40, 50), mosaic.spacing, "scan.lif")
    truth = np.array([t.position for t in mosaic.tiles])
    assert placed.origins[:, 1:] == pytest.approx(truth[:, 1:], abs=1e-6)
    flags = {"FlipX": flip_x, "FlipY": flip_y, "SwapXY": swap_xy}
    assert all((name in placed.source) == on for name, on in flags.items())


def test_unrecorded_positions_fall_back_to_the_field_grid():
    mosaic = synthetic_mosaic(grid=(2, 3), tile_shape=(40, 50), jitter=0)
    scan = tile_scan(mosaic)
    scan.tiles["pos_x"] = scan.tiles["pos_y"] = 0.001  # one position for every tile
    placed = place_lif_tiles(scan, 6, (1, 40, 50), (1.0, 0.5, 0.5), "scan.lif")
    fields = np.stack([scan.tiles["field_y"], scan.tiles["field_x"]], axis=1)
    # neighbours share one pixel, as bioio-lif stitches: steps of 39 and 49 pixels
    assert placed.origins[:, 1:] == pytest.approx(fields * [39 * 0.5, 49 * 0.5])
    assert "field grid" in placed.notes[0]


def test_tile_scan_info_must_fit_the_image():
    with pytest.raises(InputError, match="no TileScanInfo"):
        place_lif_tiles(None, 4, (1, 8, 8), (1.0, 1.0, 1.0), "scan.lif image A")
    single = place_lif_tiles(None, 1, (1, 8, 8), (1.0, 1.0, 1.0), "scan.lif image B")
    assert single.origins.tolist() == [[0.0, 0.0, 0.0]]
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(20, 20))
    with pytest.raises(InputError, match="lists 4 tiles but the image has 3"):
        place_lif_tiles(tile_scan(mosaic, grid=(2, 2)), 3, (1, 20, 20), (1.0, 1.0, 1.0), "scan.lif")


def test_read_fuses_a_tile_scan_back_to_its_truth(lif_file):
    mosaic = synthetic_mosaic(grid=(2, 3), tile_shape=(3, 40, 50), channels=2, seed=4)
    single = synthetic_mosaic(grid=(1, 1), tile_shape=(30, 30), overlap=0, jitter=0, channels=2)
    path = lif_file({"TileScan 1/Merged": (single, None), "TileScan 1": (mosaic, tile_scan(mosaic, True, False, True))})
    assert isinstance(reader_for(path), LifReader)
    merged, scan = LifReader().read(path, ReadOptions())
    assert merged.name == "TileScan 1/Merged" and len(merged.tiles) == 1
    assert scan.name == "TileScan 1" and [t.name for t in scan.tiles] == [f"M{i}" for i in range(6)]
    assert scan.dims == ("c", "z", "y", "x") and scan.spacing == mosaic.spacing
    assert scan.channel_names == ("Green--FLUO", "Red") and scan.channel_colors == ("00FF00", "FF0000")
    assert np.array([t.origin for t in scan.tiles]) == pytest.approx(np.array([t.position for t in mosaic.tiles]))
    fused = fuse(scan, blend="mean", chunk_size=(3, 32, 32), squeeze=False).values
    first, stop = mosaic.truth_extent()
    truth = mosaic.truth[(slice(None), slice(None), *(slice(a, b) for a, b in zip(first, stop)))]
    covered = fused > 0
    assert fused.shape == truth.shape and covered.mean() > 0.9
    assert np.array_equal(fused[covered], truth[covered])
    (only,) = LifReader().read(path, ReadOptions(scenes=(1,)))
    assert only.name == "TileScan 1"
    with pytest.raises(InputError, match=r"no scene 2; its scenes are 0 \(TileScan 1/Merged\), 1 \(TileScan 1\)"):
        LifReader().read(path, ReadOptions(scenes=(2,)))


def test_pixel_size_comes_from_the_option_when_the_file_has_none(lif_file, monkeypatch):
    mosaic = synthetic_mosaic(grid=(1, 2), tile_shape=(20, 30))
    path = lif_file({"A": (mosaic, tile_scan(mosaic, grid=(1, 2)))})
    monkeypatch.setattr(StandInLifReader, "physical_pixel_sizes", PhysicalPixelSizes(None, None, None))
    with pytest.raises(InputError, match="pass --pixel-size"):
        LifReader().read(path, ReadOptions())
    (tiles,) = LifReader().read(path, ReadOptions(pixel_size=(1.0, 0.65, 0.65)))
    assert tiles.spacing == (1.0, 0.65, 0.65)


def test_missing_plugin_still_claims_lif_and_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "scan.lif"
    path.write_bytes(b"\x70")
    monkeypatch.setitem(sys.modules, "bioio_lif", None)
    assert LifReader().can_open(path) and not LifReader().can_open(tmp_path / "scan.czi")
    with pytest.raises(InputError) as err:
        LifReader().read(path, ReadOptions())
    assert str(err.value) == f"{path}: reading LIF needs bioio-lif: pip install 'ngff-fuse[lif]'"


def test_lut_names_give_display_colours():
    assert [lut_color(n) for n in ("Green", "red--TL-BF--x", "Gray", "Fire", None)] == [
        "00FF00", "FF0000", "FFFFFF", None, None,
    ]


@pytest.mark.parametrize(("sizes", "what"), [
    ({"λ": 32, "Y": 64, "X": 64}, "an emission wavelength axis (a lambda scan) of 32"),
    ({"C": 2, "Λ": 10, "Y": 64, "X": 64}, "an excitation wavelength axis (a lambda scan) of 10"),
    ({"Z": 40, "X": 512}, "an xz line scan (one row per frame, no y axis)"),
    ({"T": 500, "C": 2, "X": 512}, "an xt line scan (one row per frame, no y axis)"),
    ({"M": 4, "A": 3, "Y": 64, "X": 64}, "a rotation axis of 3"),
], ids=["lambda", "excitation-lambda", "xz", "xt", "rotation"])
def test_images_that_are_not_tile_scans_are_refused_in_one_line(lif_file, tmp_path, capsys, sizes, what):
    """liffile's sizes as LAS X images of these kinds have them; bioio-lif reads every image
    as M, T, C, Z, Y, X and would give the other axes length 1 without a word."""
    mosaic = synthetic_mosaic(grid=(1, 2), tile_shape=(20, 30))
    path = lif_file({"TileScan 1": (mosaic, tile_scan(mosaic, grid=(1, 2))), "Other 1": (sizes, None)})
    for argv in (["info", str(path)], ["convert", str(path), str(tmp_path / "out.ome.zarr")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "unexpected" not in err, err
        assert f"{path}: image 1 (Other 1) has {what}, which ngff-fuse cannot fuse" in err
        assert err.rstrip().endswith("read the others with --scene 0")
    (scan,) = LifReader().read(path, ReadOptions(scenes=(0,)))  # the tile scan still reads
    assert len(scan.tiles) == 2


# ---- the real tile scan in ../shared/realdata/lif-tilescan ---------------------------------

REAL_LIF = "realdata/lif-tilescan/PR2729_frameOrderCombinedScanTypes.lif"


def _real_lif(shared_dir):
    path = shared_dir / REAL_LIF
    assert path.is_file(), f"{path} is missing from ../shared"
    return path


def _planes_from_bytes(path):
    """An independent reading of the file's one image: readlif finds the memory block and
    reads the n-th plane of it; n comes from the BytesInc of the image's own XML dimension and
    channel descriptions. (readlif's get_frame assumes the tile axis outermost, which this file
    was made to break: its T is outside M.) Returns plane(t, c, z, m) in stored z order."""
    from readlif.reader import LifFile

    lif = LifFile(str(path))
    image = lif.get_image(0)
    steps = {int(d.get("DimID")): int(d.get("BytesInc")) for d in lif.xml_root.iter("DimensionDescription")}
    channels = [int(c.get("BytesInc")) for c in lif.xml_root.iter("ChannelDescription")]
    plane_bytes = image.dims.x * image.dims.y  # 8-bit
    assert steps[2] * image.dims.y == plane_bytes and steps[10] < steps[4]  # T outside M

    def plane(t: int, c: int, z: int, m: int) -> np.ndarray:
        offset = channels[c] + z * steps[3] + m * steps[10] + t * steps[4]
        return np.asarray(image._get_item(offset // plane_bytes))

    for z, c in itertools.product(range(3), range(2)):  # where readlif's assumption holds
        assert np.array_equal(plane(0, c, z, 0), np.asarray(image.get_frame(z=z, t=0, c=c, m=0)))
    return plane, image


def test_real_tile_scan_with_a_negative_z_step_reads_in_increasing_z(shared_dir):
    path = _real_lif(shared_dir)
    plane, image = _planes_from_bytes(path)
    [scan] = read_input(path)
    step = 1 / image.scale[2]  # readlif: pixels per micrometre, negative for this stack
    assert step == pytest.approx(-6.227615, abs=1e-5)
    assert scan.spacing == pytest.approx((-step, 250 / 63, 250 / 63))
    assert scan.dims == ("t", "c", "z", "y", "x") and scan.n_timepoints == 2
    top = -2.035168e-02  # PosZ of every tile (um): the first stored plane
    for m, tile in enumerate(scan.tiles):
        assert tile.data.z.values == pytest.approx(top + step * np.array([2, 1, 0]))
        assert tile.origin[0] == pytest.approx(-12.475582, abs=1e-6)
        # PosX/PosY (metres, readlif's mosaic_position) is the centre pixel: 32 px in
        _, _, pos_x, pos_y = image.info["mosaic_position"][m]
        assert tile.origin[1:] == pytest.approx((pos_y * 1e6 - 32 * 250 / 63, pos_x * 1e6 - 32 * 250 / 63))
        pixels = tile.data.values
        for t, c, k in itertools.product(range(2), range(2), range(3)):
            assert np.array_equal(pixels[t, c, k], plane(t, c, 2 - k, m)), (m, t, c, k)
    mosaic = describe_tileset(scan)["mosaic"]
    assert mosaic["shape"] == {"z": 3, "y": 97, "x": 97}
    assert mosaic["origin"]["z"] == pytest.approx(-12.475582, abs=1e-6)
    assert mosaic["end"]["z"] == pytest.approx(top, abs=1e-6)


def test_real_tile_scan_converts_with_planes_in_increasing_z(shared_dir, tmp_path):
    path = _real_lif(shared_dir)
    plane, _ = _planes_from_bytes(path)
    out = tmp_path / "lif.ome.zarr"
    assert main(["convert", str(path), str(out), "--quiet"]) == 0
    meta = multiscale(out)
    scale, translation = (t[t["type"]] for t in meta["datasets"][0]["coordinateTransformations"])
    assert [a["name"] for a in meta["axes"]] == ["t", "c", "z", "y", "x"]
    assert scale[2] == pytest.approx(6.227615, abs=1e-5) and translation[2] == pytest.approx(-12.475582)
    level0 = zarr.open_array(out / "0", mode="r")[:]
    assert level0.shape == (2, 2, 3, 97, 97)
    # tile M0 holds the mosaic's first pixel and alone covers its first 33 x 33 pixels
    for t, c, k in itertools.product(range(2), range(2), range(3)):
        assert np.array_equal(level0[t, c, k, :33, :33], plane(t, c, 2 - k, 0)[:33, :33])


def test_real_tile_scan_pixel_size_option_keeps_the_stored_z_direction(shared_dir):
    path = _real_lif(shared_dir)
    plane, _ = _planes_from_bytes(path)
    [scan] = read_input(path, ReadOptions(pixel_size=(6.0, 4.0, 4.0)))
    assert scan.spacing == (6.0, 4.0, 4.0)
    tile = scan.tiles[1]
    assert tile.data.z.values == pytest.approx(-2.035168e-02 - 6.0 * np.array([2, 1, 0]))
    for t, c, k in itertools.product(range(2), range(2), range(3)):
        assert np.array_equal(tile.data.values[t, c, k], plane(t, c, 2 - k, 1))
