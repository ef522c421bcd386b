"""Multi-file OME-TIFF: a .companion.ome or master OME-TIFF whose images live in other TIFFs."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
import tifffile
from ome_types import from_xml, to_xml
from ome_types.model import OME, Channel, Image, Pixels, Plane, TiffData

from ngff_fuse import fuse
from ngff_fuse.cli import main
from ngff_fuse.errors import InputError
from ngff_fuse.readers import ReadOptions, read_input, reader_for
from ngff_fuse.readers.ome_companion import OmeCompanionReader
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff

_COLORS = (0x00FF00FF, 0xFF00FFFF - (1 << 32))  # OME signed RGBA: green, magenta


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def write_multifile(mosaic, folder: Path, master: bool = False) -> tuple[Path, list[Path]]:
    """One TIFF per tile and timepoint (its z planes of every channel, in XYZCT order), plus the
    OME-XML naming them: a NAME.companion.ome, or with `master` the first TIFF's own
    description (the others then point to it with BinaryOnly). Returns (xml file, TIFFs)."""
    folder.mkdir(parents=True, exist_ok=True)
    t, c, z = mosaic.truth.shape[:3]
    files = {(i, ti): f"tile{i}_t{ti}.ome.tif" for i in range(len(mosaic.tiles)) for ti in range(t)}
    uuids = {key: _urn() for key in files}
    images = []
    for i, tile in enumerate(mosaic.tiles):
        z0, y0, x0 = tile.position
        planes = [
            Plane(the_t=ti, the_c=ci, the_z=zi, position_x=x0 * 1e-3, position_x_unit="mm",
                  position_y=y0 * 1e-3, position_y_unit="mm",
                  position_z=z0 + zi * mosaic.spacing[0], position_z_unit="µm")
            for ti in range(t) for ci in range(c) for zi in range(z)
        ]
        blocks = [
            TiffData(uuid=TiffData.UUID(value=uuids[(i, ti)], file_name=files[(i, ti)]),
                     first_t=ti, ifd=0, plane_count=c * z)
            for ti in range(t)
        ]
        images.append(Image(id=f"Image:{i}", name=f"tile {i}", pixels=Pixels(
            id=f"Pixels:{i}", dimension_order="XYZCT", type="uint16",
            size_x=tile.data.shape[4], size_y=tile.data.shape[3], size_z=z, size_c=c, size_t=t,
            physical_size_x=mosaic.spacing[2], physical_size_y=mosaic.spacing[1],
            physical_size_z=mosaic.spacing[0],
            channels=[Channel(id=f"Channel:{i}:{ci}", name=mosaic.channel_names[ci],
                              color=_COLORS[ci % 2], samples_per_pixel=1) for ci in range(c)],
            planes=planes, tiff_data_blocks=blocks,
        )))
    master_key = (0, 0)
    ome = OME(images=images, uuid=uuids[master_key] if master else _urn(), creator="tests")
    xml_path = folder / (files[master_key] if master else "mosaic.companion.ome")
    if not master:
        xml_path.write_text(to_xml(ome))
    paths = []
    for (i, ti), name in files.items():
        if master and (i, ti) == master_key:
            description = to_xml(ome).replace("µ", "&#181;")  # TIFF text is 7-bit ASCII
        else:
            binary = OME(uuid=uuids[(i, ti)],
                         binary_only=OME.BinaryOnly(metadata_file=xml_path.name, uuid=ome.uuid))
            description = to_xml(binary)
        stack = mosaic.tiles[i].data[ti].reshape(c * z, *mosaic.tiles[i].data.shape[3:])
        tifffile.imwrite(folder / name, stack, photometric="minisblack", description=description,
                         metadata=None, compression="zlib" if i % 2 else None)
        paths.append(folder / name)
    return xml_path, paths


@pytest.fixture(scope="module")
def acquisition(tmp_path_factory):
    mosaic = synthetic_mosaic(grid=(2, 3), tile_shape=(3, 36, 44), channels=2, timepoints=2,
                              origin=(5.0, 120.0, -800.0))
    xml, files = write_multifile(mosaic, tmp_path_factory.mktemp("companion"))
    return mosaic, xml, files


def _assert_fuses_to_truth(tileset, mosaic) -> None:
    fused = fuse(tileset, chunk_size=(2, 24, 24)).values
    first, stop = mosaic.truth_extent()
    expected = mosaic.truth[(slice(None), slice(None), *map(slice, first, stop))]
    covered = np.zeros(tuple(stop - first), dtype=bool)
    for tile in mosaic.tiles:
        low = np.rint(tile.pixel_offset).astype(int) - first
        covered[tuple(slice(a, a + n) for a, n in zip(low, tile.data.shape[2:]))] = True
    # the mosaic keeps only the axes the tiles have; the truth is always (t, c, z, y, x)
    expected = expected.squeeze(tuple(i for i, ax in enumerate("tczyx") if ax not in tileset.dims))
    covered = covered.squeeze(tuple(i for i, ax in enumerate("zyx") if ax not in tileset.dims))
    assert fused.shape == expected.shape and covered.mean() > 0.9
    assert np.array_equal(fused[..., covered], expected[..., covered])


def test_companion_file_places_every_image_and_fuses_to_the_truth(acquisition):
    mosaic, xml, _ = acquisition
    assert reader_for(xml).name == "ome-companion"
    [tileset] = read_input(xml)
    assert tileset.name == "mosaic" and len(tileset.tiles) == 6
    assert tileset.dims == ("t", "c", "z", "y", "x")
    assert tileset.spacing == pytest.approx(mosaic.spacing)
    assert tileset.channel_names == mosaic.channel_names
    assert tileset.channel_colors == ("00FF00", "FF00FF")
    # positions were written in millimetres: read back in micrometres
    origins = np.array([tile.origin for tile in tileset.tiles])
    assert origins == pytest.approx(np.array([t.position for t in mosaic.tiles]), abs=1e-6)
    for index, tile in enumerate(tileset.tiles):
        assert np.array_equal(tile.data.values, mosaic.tiles[index].data)
    _assert_fuses_to_truth(tileset, mosaic)


def test_a_member_tiff_opens_the_whole_dataset_through_binary_only(acquisition):
    mosaic, xml, files = acquisition
    member = files[3]
    assert reader_for(member).name == "ome-companion"  # not the single-file OME-TIFF reader
    [tileset] = read_input(member)
    assert tileset.tiles[0].source.path == str(xml) and tileset.tiles[0].source.series == 0
    assert len(tileset.tiles) == len(mosaic.tiles)
    assert np.array_equal(tileset.tiles[5].data.values, mosaic.tiles[5].data)


def test_master_ome_tiff_naming_the_other_files(tmp_path):
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(40, 50), channels=2, timepoints=1)
    master, files = write_multifile(mosaic, tmp_path / "m", master=True)
    assert master == files[0]
    for path in (master, files[2]):
        assert reader_for(path).name == "ome-companion"
        [tileset] = read_input(path)
        assert tileset.dims == ("c", "y", "x") and tileset.channel_names == mosaic.channel_names
        _assert_fuses_to_truth(tileset, mosaic)


def test_single_file_ome_tiff_stays_with_the_ome_tiff_reader(tmp_path):
    mosaic = synthetic_mosaic(grid=(2, 1), tile_shape=(20, 24))
    path = write_ome_tiff(mosaic, tmp_path / "single.ome.tif")
    assert reader_for(path).name == "ome-tiff"


def test_renamed_single_file_ome_tiff_is_not_taken_for_a_multi_file_one(tmp_path):
    """Bio-Formats names the file itself in TiffData; after a rename only the UUID still fits."""
    mosaic = synthetic_mosaic(grid=(2, 1), tile_shape=(20, 24), channels=2)
    master, _ = write_multifile(mosaic, tmp_path / "r", master=True)
    ome = from_xml(tifffile.TiffFile(master).pages.first.description)
    del ome.images[1:]  # only the image stored in this file
    ome.images[0].pixels.tiff_data_blocks[0].uuid.file_name = "as-acquired.ome.tif"
    renamed = tmp_path / "renamed.ome.tif"
    tifffile.imwrite(renamed, mosaic.tiles[0].data[0].reshape(2, 20, 24), photometric="minisblack",
                     description=to_xml(ome).replace("µ", "&#181;"), metadata=None)
    assert reader_for(renamed).name == "ome-tiff"
    [tileset] = OmeCompanionReader().read(renamed, ReadOptions())  # its rule, applied directly
    assert np.array_equal(tileset.tiles[0].data.values, mosaic.tiles[0].data)


def test_planes_split_over_files_and_ifds(tmp_path):
    """TiffData FirstC / IFD / PlaneCount map the planes of one image to several files."""
    mosaic = synthetic_mosaic(grid=(1, 2), tile_shape=(2, 20, 24), channels=3, timepoints=1)
    xml, _ = write_multifile(mosaic, tmp_path / "c")
    ome = from_xml(xml.read_text())
    for index, image in enumerate(ome.images):
        # channel 2 moves to another file, behind one unrelated page
        extra = f"extra{index}.tif"
        junk = np.full((1, 20, 24), 7, dtype=np.uint16)
        pages = np.concatenate([junk, mosaic.tiles[index].data[0, 2]])
        tifffile.imwrite(tmp_path / "c" / extra, pages, photometric="minisblack", metadata=None)
        own = image.pixels.tiff_data_blocks[0].uuid
        image.pixels.tiff_data_blocks = [
            TiffData(uuid=own, first_c=0, ifd=0, plane_count=4),
            TiffData(uuid=TiffData.UUID(value=_urn(), file_name=extra), first_c=2, ifd=1,
                     plane_count=2),
        ]
    xml.write_text(to_xml(ome))
    [tileset] = read_input(xml)
    for index, tile in enumerate(tileset.tiles):
        assert np.array_equal(tile.data.values, mosaic.tiles[index].data)


def test_missing_referenced_file_is_named(tmp_path, capsys):
    mosaic = synthetic_mosaic(grid=(2, 1), tile_shape=(20, 24))
    xml, files = write_multifile(mosaic, tmp_path / "x")
    files[1].unlink()
    with pytest.raises(InputError, match=r"image 1 has planes in 'tile1_t0.ome.tif', which is not"):
        read_input(xml)
    assert main(["info", str(xml)]) == 2
    err = capsys.readouterr().err.strip()
    assert "tile1_t0.ome.tif" in err and len(err.splitlines()) == 1


def test_incomplete_plane_mapping_and_short_files_are_input_errors(tmp_path):
    mosaic = synthetic_mosaic(grid=(1, 2), tile_shape=(2, 20, 24), channels=2)
    xml, files = write_multifile(mosaic, tmp_path / "y")
    text = xml.read_text()
    xml.write_text(text.replace('PlaneCount="4"', 'PlaneCount="3"', 1))
    unmapped = r"image 0 has no TiffData for 1 of its 4 planes \(first: T=0, C=1, Z=1\)"
    with pytest.raises(InputError, match=unmapped):
        read_input(xml)
    xml.write_text(text)
    tifffile.imwrite(files[0], mosaic.tiles[0].data[0, 0, :1], photometric="minisblack",
                     metadata=None)  # one page where the XML maps four
    with pytest.raises(InputError, match=r"reads IFD 1 of tile0_t0.ome.tif, which has 1"):
        read_input(xml)
