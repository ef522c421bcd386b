"""Opening one listed image file: TIFFs that tifffile alone maps are read without bioio, and
must come out as bioio reads them (same pixels, same pixel size)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile
from bioio import BioImage
from bioio_tifffile import Reader as TiffReader

from ngff_fuse.readers.image_file import read_image_file
from ngff_fuse.readers.tiff_planes import TiffPlanes

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
        ("plain, inch resolution",
         lambda p: tifffile.imwrite(p, PLANES[0, 0], resolution=(300, 300), resolutionunit="INCH")),
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
    path = tmp_path / "tile.tif"
    write(path)
    image = read_image_file(path)
    assert _reads_without_bioio(image.data), name
    pixels, pixel_size = _bioio(path)
    assert image.data.dtype == pixels.dtype
    assert np.array_equal(image.data.compute(), pixels), name
    assert image.pixel_size == pytest.approx(pixel_size), name
    assert image.channel_names == ()
    region = image.data[0, -1, -1, 3:9, 5:21:3].compute()
    assert np.array_equal(region, pixels[0, -1, -1, 3:9, 5:21:3])


def test_tiffs_tifffile_cannot_map_still_read_through_bioio(tmp_path):
    rgb = RNG.integers(0, 255, (16, 20, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    image = read_image_file(tmp_path / "rgb.tif")
    assert not _reads_without_bioio(image.data)
    pixels, _ = _bioio(tmp_path / "rgb.tif")
    assert image.data.shape == pixels.shape
    assert np.array_equal(image.data.compute(), pixels)
