"""Opening one listed image file: TIFFs that tifffile alone maps are read without bioio, and
must come out as bioio reads them (same pixels, same pixel size)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile
from bioio import BioImage
from bioio_tifffile import Reader as TiffReader

from ngff_fuse.cli import main
from ngff_fuse.errors import DamagedFile
from ngff_fuse.readers import read_input
from ngff_fuse.readers.image_file import read_image_file
from ngff_fuse.readers.tiff_planes import TiffPlanes
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.tile_files import write_tileconfig
from ngff_checks import multiscale

RNG = np.random.default_rng(7)
PLANES = RNG.integers(0, 60000, (2, 3, 20, 24), dtype=np.uint16)  # z, c, y, x


def _bioio(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = BioImage(path, reader=TiffReader)
        sizes = image.physical_pixel_sizes
        return image.get_image_data("TCZYX"), (sizes.Z, sizes.Y, sizes.X)


def _reads_without_bioio(data) -> bool:
    """True when every chunk is read by our region reader rather than a bioio task."""
    return any(isinstance(getattr(node, "value", None), TiffPlanes)
               for task in dict(data.__dask_graph__()).values()
               for node in getattr(task, "args", ()))


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("plain 2-D", lambda p: tifffile.imwrite(p, PLANES[0, 0])),
        ("plain, centimetre resolution",
         lambda p: tifffile.imwrite(p, PLANES[0, 0], resolution=(2000, 2500), resolutionunit="CENTIMETER")),
        ("ImageJ hyperstack in microns",
         lambda p: tifffile.imwrite(p, PLANES, imagej=True, resolution=(1 / 0.65, 1 / 0.5),
                                    metadata={"axes": "ZCYX", "unit": "micron", "spacing": 2.5})),
        ("ImageJ in nm", lambda p: tifffile.imwrite(p, PLANES[0], imagej=True, resolution=(0.01, 0.01),
                                                    metadata={"axes": "CYX", "unit": "nm"})),
        ("ImageJ uncalibrated", lambda p: tifffile.imwrite(p, PLANES[:, 0], imagej=True,
                                                           metadata={"axes": "ZYX"})),
    ],
)
def test_tifffile_path_reads_as_bioio_does(tmp_path, name, write):
    """Same pixels as bioio; the pixel size too wherever bioio reads a real calibration (the
    writer defaults it takes for one are `test_calibration_is_read_as_the_writer_meant_it`)."""
    path = tmp_path / "tile.tif"
    write(path)
    image = read_image_file(path)
    assert _reads_without_bioio(image.data), name
    pixels, pixel_size = _bioio(path)
    assert image.data.dtype == pixels.dtype
    assert np.array_equal(image.data.compute(), pixels), name
    if name != "plain 2-D":  # tifffile's placeholder 1 px per (no) unit: bioio says 1 um
        assert image.pixel_size == pytest.approx(pixel_size), name
    assert image.channel_names == ()
    region = image.data[0, -1, -1, 3:9, 5:21:3].compute()
    assert np.array_equal(region, pixels[0, -1, -1, 3:9, 5:21:3])


RGB_IMAGE = RNG.integers(0, 255, (2, 2, 16, 20, 4), dtype=np.uint8)  # c, z, y, x, samples
def test_tiffs_tifffile_cannot_map_still_read_through_bioio(tmp_path):
    """Pages of no named axis (tifffile's "I"): bioio's guess (z), pixels as bioio reads them."""
    pages = RNG.integers(0, 60000, (2, 16, 20), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "pages.tif", pages, metadata=None)
    image = read_image_file(tmp_path / "pages.tif")
    assert not _reads_without_bioio(image.data)
    pixels, _ = _bioio(tmp_path / "pages.tif")
    assert image.data.shape == pixels.shape and np.array_equal(image.data.compute(), pixels)


SAMPLE_LAYOUTS = {  # name: (pixels as written, tifffile options, their (c, z, y, x, s) view)
    "rgb": (RGB_IMAGE[0, 0, ..., :3], dict(photometric="rgb"), lambda a: a[None, None]),
    "rgba": (RGB_IMAGE[0, 0], dict(photometric="rgb", extrasamples=["unassalpha"]), lambda a: a[None, None]),
    "planar rgb": (np.moveaxis(RGB_IMAGE[0, 0, ..., :3], 2, 0), dict(photometric="rgb", planarconfig="separate"),
                   lambda a: np.moveaxis(a, 0, 2)[None, None]),
    "compressed rgb": (RGB_IMAGE[0, 0, ..., :3], dict(photometric="rgb", compression="zlib"), lambda a: a[None, None]),
    "compressed planar": (np.moveaxis(RGB_IMAGE[0, 0, ..., :3], 2, 0),
                          dict(photometric="rgb", planarconfig="separate", compression="zlib"),
                          lambda a: np.moveaxis(a, 0, 2)[None, None]),
    "rgb z-stack": (RGB_IMAGE[0, :, ..., :3], dict(photometric="rgb", metadata={"axes": "ZYXS"}), lambda a: a[None]),
    "two rgb channels": (RGB_IMAGE[:, 0, ..., :3], dict(photometric="rgb", metadata={"axes": "CYXS"}),
                         lambda a: a[:, None]),
}


@pytest.mark.parametrize("name", SAMPLE_LAYOUTS)
def test_tiff_samples_are_channels_read_by_region(tmp_path, name):
    """RGB(A) pixels, interleaved or planar, plain or compressed, in stacks and several channels:
    read straight from the file (no bioio), each sample of each channel a channel, named and
    coloured as the sample; regions read as the whole file (tifffile) says."""
    written, options, view = SAMPLE_LAYOUTS[name]
    tifffile.imwrite(tmp_path / "rgb.tif", written, **options)
    image = read_image_file(tmp_path / "rgb.tif")
    assert _reads_without_bioio(image.data), name
    c, z, y, x, s = view(tifffile.imread(tmp_path / "rgb.tif")).shape
    expected = np.moveaxis(view(tifffile.imread(tmp_path / "rgb.tif")), 4, 1).reshape(c * s, z, y, x)[None]
    assert image.data.shape == expected.shape and image.samples == s
    assert np.array_equal(image.data.compute(), expected), name
    assert np.array_equal(image.data[0, -1, -1, 3:9, 5:21:3].compute(), expected[0, -1, -1, 3:9, 5:21:3])
    labels = "RGBA"[:s]
    assert image.channel_names == (tuple(labels) if c == 1 else
                                   tuple(f"Channel {i} {label}" for i in range(c) for label in labels))
    assert image.channel_colors == ("FF0000", "00FF00", "0000FF", "FFFFFF")[:s] * c


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, ">u2", np.int32, np.float32, ">f8"])
def test_uncompressed_planes_read_whole_or_by_region_as_tifffile_reads_them(tmp_path, dtype):
    """Whole rows of a plane are read straight into the caller's array; bands, column ranges,
    reversed and strided rows, other byte orders take the copying path: all as tifffile says,
    and a file cut short inside a plane is a damaged input, named."""
    stack = (RNG.random((3, 37, 29)) * 200).astype(dtype)
    tifffile.imwrite(tmp_path / "s.tif", stack, photometric="minisblack", metadata={"axes": "ZYX"})
    image = read_image_file(tmp_path / "s.tif")
    truth = tifffile.imread(tmp_path / "s.tif").reshape(1, 1, 3, 37, 29)
    for key in [(0, 0, 1), (0, 0, slice(None)), (0, 0, 2, slice(5, 19)), (0, 0, 0, slice(None, None, -1)),
                (0, 0, 1, slice(3, 30, 4)), (0, 0, 1, slice(2, 9), slice(4, 20)), (0, 0, 1, slice(0, 0))]:
        got = image.data[key].compute()
        assert got.dtype == truth.dtype.newbyteorder("=") and np.array_equal(got, truth[key]), key
    with tifffile.TiffFile(tmp_path / "s.tif") as tif:
        last_plane = tif.pages[2].dataoffsets[0]
    with open(tmp_path / "s.tif", "r+b") as handle:
        handle.truncate(last_plane + 40)  # into the last plane, after the file was opened
    with pytest.raises(DamagedFile, match="s.tif: the file ends inside plane 2"):
        image.data[0, 0, 2].compute()


# ---- calibration: which resolutions mean a pixel size -----------------------------------

PLANE = PLANES[0, 0]
RGB = RNG.integers(0, 255, (20, 24, 3), dtype=np.uint8)
_OME_072 = {"PhysicalSizeX": 0.65, "PhysicalSizeY": 0.65, "axes": "YX"}
_DEFAULT = "is a document resolution"
CALIBRATIONS = {
    # writer defaults: screen, print, camera and tifffile placeholders -> uncalibrated
    "72 dpi (Photoshop, cameras)": (dict(data=PLANE, resolution=(72, 72), resolutionunit="INCH"), None, "72 dpi"),
    "96 dpi (screen)": (dict(data=PLANE, resolution=(96, 96), resolutionunit="INCH"), None, "96 dpi"),
    "300 dpi (print)": (dict(data=PLANE, resolution=(300, 300), resolutionunit="INCH"), None, "300 dpi"),
    "72 dpi RGB (read through bioio)": (dict(data=RGB, photometric="rgb", resolution=(72, 72),
                                             resolutionunit="INCH"), None, "72 dpi"),
    "72 dpi written in cm (28.35 px/cm)": (dict(data=PLANE, resolution=(72 / 2.54, 72 / 2.54),
                                                resolutionunit="CENTIMETER"), None, "72 dpi"),
    "px per um mistaken for px per inch": (dict(data=PLANE, resolution=(1 / 0.65, 1 / 0.65)), None, "1.54 dpi"),
    "ImageJ unit inch at 72 dpi": (dict(data=PLANE, imagej=True, resolution=(72, 72),
                                        metadata={"unit": "inch"}), None, "72 dpi (ImageJ unit inch)"),
    "tifffile default (1 px per no unit)": (dict(data=PLANE), None, None),
    "ImageJ without unit": (dict(data=PLANE, imagej=True, resolution=(2, 2)), None, None),
    # real calibrations
    "ImageJ micron with z spacing": (dict(data=PLANES[:, 0], imagej=True, resolution=(1 / 0.65, 1 / 0.5),
                                          metadata={"axes": "ZYX", "unit": "micron", "spacing": 2.5}),
                                     (2.5, 0.5, 0.65), None),
    "ImageJ micron at 72 px/um": (dict(data=PLANE, imagej=True, resolution=(72, 72), metadata={"unit": "\\u00B5m"}),
                                  (None, 1 / 72, 1 / 72), None),
    "ImageJ unit inch at a microscope's resolution": (dict(data=PLANE, imagej=True, resolution=(25400 / 0.65,) * 2,
                                                           metadata={"unit": "inch"}), (None, 0.65, 0.65), None),
    "centimetre resolution": (dict(data=PLANE, resolution=(2000, 2500), resolutionunit="CENTIMETER"),
                              (None, 4.0, 5.0), None),
    "inch at a microscope's resolution": (dict(data=PLANE, resolution=(25400 / 0.65,) * 2, resolutionunit="INCH"),
                                          (None, 0.65, 0.65), None),
    "micrometre unit, coarse": (dict(data=PLANE, resolution=(0.02, 0.02), resolutionunit="MICROMETER"),
                                (None, 50.0, 50.0), None),
    "no unit with a ratio (old tifffile: px per um)": (dict(data=PLANE, resolution=(1 / 0.65, 1 / 0.65),
                                                            resolutionunit="NONE"), (None, 0.65, 0.65), "no unit"),
    "OME PhysicalSize over 72 dpi tags": (dict(data=PLANE, ome=True, metadata=_OME_072, resolution=(72, 72),
                                               resolutionunit="INCH"), (None, 0.65, 0.65), None),
}


@pytest.mark.parametrize(("name", "case"), CALIBRATIONS.items(), ids=list(CALIBRATIONS))
def test_calibration_is_read_as_the_writer_meant_it(tmp_path, name, case):
    options, expected, note = case
    path = tmp_path / ("tile.ome.tif" if options.get("ome") else "tile.tif")
    tifffile.imwrite(path, **options)
    image = read_image_file(path)
    if expected is None:
        assert image.pixel_size == (None, None, None), name
    else:
        assert image.pixel_size == pytest.approx(expected), name
    if note is None:
        assert image.pixel_size_note is None, name
    else:
        assert note in image.pixel_size_note, (name, image.pixel_size_note)
        if expected is None:
            assert _DEFAULT in image.pixel_size_note or "unit" in image.pixel_size_note


def _photoshop_tiles(tmp_path):
    """A Fiji TileConfiguration whose tiles were saved by an image editor at 72 dpi."""
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(40, 50), seed=3)
    config = write_tileconfig(mosaic, tmp_path, calibrated=False)
    for i, tile in enumerate(mosaic.tiles):
        tifffile.imwrite(tmp_path / f"tile_{i:03d}.tif", tile.data[0, 0, 0], resolution=(72, 72),
                         resolutionunit="INCH", software="Adobe Photoshop")
    return mosaic, config


def test_writer_default_resolution_is_uncalibrated_in_info_and_convert(tmp_path, capsys):
    mosaic, config = _photoshop_tiles(tmp_path)
    [tileset] = read_input(config)
    assert tileset.unit is None and tileset.spacing == (1.0, 1.0, 1.0)
    assert main(["info", str(config)]) == 0
    out = capsys.readouterr().out
    assert "pixel size: y 1, x 1 pixel" in out
    assert "tile_000.tif has no pixel size (its resolution, 72 dpi" in out and "--pixel-size" in out
    offsets = np.array([t.pixel_offset[1:] for t in mosaic.tiles])
    height, width = np.ptp(offsets, axis=0).astype(int) + (40, 50)
    assert f"mosaic: {height} x {width} px" in out  # the tiles' own pixels, not 352.78 um each

    out_store = tmp_path / "plain.ome.zarr"
    assert main(["convert", str(config), str(out_store), "--chunk", "32"]) == 0
    assert "72 dpi" in capsys.readouterr().out
    meta = multiscale(out_store)
    assert all("unit" not in axis for axis in meta["axes"])
    scale = meta["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale[-2:] == [1.0, 1.0]

    calibrated = tmp_path / "calibrated.ome.zarr"
    assert main(["convert", str(config), str(calibrated), "--quiet", "--pixel-size", "0.65"]) == 0
    meta = multiscale(calibrated)
    assert [a.get("unit") for a in meta["axes"]][-2:] == ["micrometer", "micrometer"]
    assert meta["datasets"][0]["coordinateTransformations"][0]["scale"][-2:] == pytest.approx([0.65, 0.65])
