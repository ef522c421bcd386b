"""The standard-library OME-XML read (`readers/ome_images.py`) against ome-types, the oracle:
every field the OME-TIFF reader uses, with ome-types' defaults where attributes are absent."""

from __future__ import annotations

from pathlib import Path

import ome_types
import pytest
import tifffile

from ngff_fuse.errors import InputError
from ngff_fuse.readers.ome_images import parse_ome_images
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff

SIZES = ("size_t", "size_c", "size_z", "size_y", "size_x", "physical_size_x", "physical_size_y",
         "physical_size_z")
UNITS = ("physical_size_x_unit", "physical_size_y_unit", "physical_size_z_unit")
PLANE = ("the_t", "the_c", "the_z", "position_x", "position_y", "position_z")
PLANE_UNITS = ("position_x_unit", "position_y_unit", "position_z_unit")

# attributes left out: ome-types' defaults apply (units, colour, names)
BARE = """<?xml version="1.0" encoding="UTF-8"?>
<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2015-01">
  <Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint8" SizeX="3" SizeY="2"
      SizeZ="1" SizeC="2" SizeT="1" PhysicalSizeX="0.5"><Channel ID="Channel:0:0" SamplesPerPixel="1"/>
    <Channel ID="Channel:0:1" Name="b" Color="-16776961"/><TiffData/>
    <Plane TheZ="0" TheT="0" TheC="1" PositionX="-3.25" PositionY="7"/><Plane TheZ="0" TheT="0" TheC="0"/>
  </Pixels></Image>
  <Image ID="Image:1" Name="second"><Pixels ID="Pixels:1" DimensionOrder="XYZCT" Type="float" SizeX="1"
      SizeY="1" SizeZ="2" SizeC="1" SizeT="3" PhysicalSizeZ="2" PhysicalSizeZUnit="nm"/></Image>
</OME>"""


def assert_same(xml: str) -> None:
    ours, theirs = parse_ome_images(xml, Path("x.ome.tif")), ome_types.from_xml(xml)
    assert len(ours.images) == len(theirs.images)
    for mine, oracle in zip(ours.images, theirs.images):
        assert mine.name == oracle.name
        p, q = mine.pixels, oracle.pixels
        assert [getattr(p, k) for k in SIZES] == [getattr(q, k) for k in SIZES]
        assert [getattr(p, k) for k in UNITS] == [getattr(q, k).value for k in UNITS]
        assert len(p.planes) == len(q.planes)
        for a, b in zip(p.planes, q.planes):
            assert [getattr(a, k) for k in PLANE] == [getattr(b, k) for k in PLANE]
            assert [getattr(a, k) for k in PLANE_UNITS] == [getattr(b, k).value for k in PLANE_UNITS]
        assert len(p.channels) == len(q.channels)
        for a, b in zip(p.channels, q.channels):
            assert (a.name, a.samples_per_pixel) == (b.name, b.samples_per_pixel)
            assert a.color.as_rgb_tuple(alpha=False) == b.color.as_rgb_tuple(alpha=False)


@pytest.mark.parametrize(("unit", "scale"), [("µm", 1.0), ("mm", 1e-3), ("nm", 1e3)])
def test_written_ome_tiff_reads_as_ome_types_reads_it(tmp_path, unit, scale):
    mosaic = synthetic_mosaic(grid=(2, 2, 2), tile_shape=(3, 16, 20), channels=2, timepoints=2)
    path = write_ome_tiff(mosaic, tmp_path / "t.ome.tif", position_unit=unit, scale=scale)
    with tifffile.TiffFile(path) as tif:
        assert_same(tif.ome_metadata)


def test_absent_attributes_take_ome_types_defaults():
    assert_same(BARE)


@pytest.mark.parametrize("xml", ["<OME><Image", BARE.replace('SizeX="3"', 'SizeX="three"'),
                                 BARE.replace('SizeT="1"', "")])
def test_damaged_xml_is_refused_naming_the_file(xml):
    with pytest.raises(InputError, match=r"^x\.ome\.tif: cannot read its OME-XML"):
        parse_ome_images(xml, Path("x.ome.tif"))
