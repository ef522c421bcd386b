"""Multi-file OME-TIFF: OME-XML whose images keep their planes in several TIFF files.

Bio-Formats, OMERO and many acquisition programs write a dataset as one TIFF per tile (or per
tile and channel, or per plane) plus one description of all of them, found in one of three ways:

- a `NAME.companion.ome` XML file beside the TIFFs;
- a "master" OME-TIFF whose own OME-XML describes every image;
- a member TIFF whose OME-XML is only `<BinaryOnly MetadataFile="..."/>`, naming either of those.

Every `Pixels/TiffData` element maps consecutive planes, in the image's DimensionOrder from
(FirstZ, FirstC, FirstT), to consecutive IFDs of the file its `UUID FileName` names (relative to
the XML's folder; no UUID, or the XML's own: the file holding the XML, as Bio-Formats reads
renamed files). Each OME image is one tile, placed by
Plane PositionX/Y/Z exactly as a single-file OME-TIFF (`ome_tiff.ome_tileset`). Pixels are read
plane by plane, region by region, straight from the TIFF files (`tiff_planes`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import dask.array as da
import numpy as np
import tifffile

from ngff_fuse.errors import InputError
from ngff_fuse.model import TileSet
from ngff_fuse.readers.base import TIFF_SUFFIXES, ReadOptions
from ngff_fuse.readers.ome_tiff import ome_tileset
from ngff_fuse.readers.planes import stack_planes
from ngff_fuse.readers.tiff_planes import TiffPlaneTable, tiff_dask_array
from ngff_fuse.readers.tiff_segments import SegmentCache

if TYPE_CHECKING:
    import ome_types

_COMPANION_SUFFIX = ".companion.ome"
_FILE_NAME = re.compile(r"""FileName\s*=\s*["']([^"']+)["']""")
_ROOT_UUID = re.compile(r"""<(?:\w+:)?OME\b[^>]*?\sUUID\s*=\s*["']([^"']+)["']""")
_UUID_ELEMENT = re.compile(r"<(?:\w+:)?UUID\b([^>]*)>\s*([^<\s]*)\s*<")

Plane = tuple[int, int, int]  # (t, c, z)


class OmeCompanionReader:
    """Reads the OME-XML with ome-types and each plane's IFD with tifffile."""

    name = "ome-companion"
    description = "multi-file OME-TIFF (.companion.ome, or OME-TIFFs naming each other)"
    priority = 10  # before the single-file OME-TIFF reader, which claims every OME-TIFF

    def can_open(self, path: Path) -> bool:
        if not path.is_file():
            return False
        if path.name.lower().endswith(_COMPANION_SUFFIX):
            return True
        if path.suffix.lower() not in TIFF_SUFFIXES:
            return False
        xml = _tiff_ome_xml(path)
        return xml is not None and _names_other_files(xml, path.name)

    def read(self, path: Path, options: ReadOptions) -> list[TileSet]:
        xml_path, ome = _load_ome(path)
        if not ome.images:
            raise InputError(f"{xml_path}: the OME-XML describes no image; check the file")
        own_file = None if xml_path.name.lower().endswith(_COMPANION_SUFFIX) else xml_path
        cache = SegmentCache()  # decoded TIFF segments, shared by every image's reads
        pixels = [
            _image_pixels(image.pixels, index, xml_path, own_file, ome.uuid, cache)
            for index, image in enumerate(ome.images)
        ]
        return [ome_tileset(ome, pixels, xml_path, options)]


def _tiff_ome_xml(path: Path) -> str | None:
    """The OME-XML in a TIFF's first ImageDescription, or None (not OME, not a TIFF)."""
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            return page.description if page.is_ome else None
    except (tifffile.TiffFileError, OSError, ValueError):
        return None


def _names_other_files(xml: str, own_name: str) -> bool:
    """True when the XML points elsewhere: BinaryOnly, or a TiffData UUID of another file. A
    file's own UUID under an old FileName is a renamed single-file OME-TIFF, not a reference.
    A plain text search: parsing the XML of a many-series file takes far too long for can_open."""
    if "BinaryOnly" in xml:
        return True
    root = _ROOT_UUID.search(xml)
    own_uuid = root.group(1) if root else None
    for attributes, value in _UUID_ELEMENT.findall(xml):
        name = _FILE_NAME.search(attributes)
        if name and Path(name.group(1)).name != own_name and value != own_uuid:
            return True
    return False


def _load_ome(path: Path) -> tuple[Path, ome_types.OME]:
    """The OME-XML that describes the dataset and the file it lives in, following BinaryOnly."""
    xml_path = path
    for _ in range(2):  # a member TIFF -> the companion or master; never a longer chain
        if xml_path.name.lower().endswith(_COMPANION_SUFFIX):
            xml = _read_text(xml_path)
        else:
            xml = _tiff_ome_xml(xml_path)
            if xml is None:
                raise InputError(f"{xml_path}: no OME-XML in this TIFF; open the dataset's "
                                 f"{_COMPANION_SUFFIX} file or its master OME-TIFF instead")
        ome = _parse(xml, xml_path)
        if ome.binary_only is None:
            return xml_path, ome
        target = xml_path.parent / ome.binary_only.metadata_file
        if not target.is_file():
            raise InputError(
                f"{xml_path}: its metadata is in {ome.binary_only.metadata_file!r}, which is not "
                f"in {xml_path.parent}; put that file beside it or open it directly"
            )
        xml_path = target
    raise InputError(f"{path}: BinaryOnly points to another BinaryOnly file; open the "
                     f"{_COMPANION_SUFFIX} file or the master OME-TIFF that holds the metadata")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text, so not OME-XML; check the file") from None


def _parse(xml: str, where: Path) -> ome_types.OME:
    import ome_types  # half a second: only once an input is known to need it

    try:
        return ome_types.from_xml(xml)
    except Exception as exc:  # ome-types raises XML, validation and value errors alike
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{where}: cannot read its OME-XML ({reason}); check the file") from None


def _plane_files(pixels, index: int, xml_path: Path, own_file: Path | None,
                 own_uuid: str | None) -> dict[Plane, tuple[Path, int]]:
    """Where each (t, c, z) plane of one image lives: (file, IFD), from its TiffData elements.
    A UUID equal to the XML's own names the file holding the XML, whatever its FileName says
    (Bio-Formats' rule, so renamed files still work)."""
    sizes = {"T": pixels.size_t, "C": pixels.size_c, "Z": pixels.size_z}
    # DimensionOrder lists the fastest axis first after X and Y; ravel wants the slowest first.
    slow_first = pixels.dimension_order.value[2:][::-1]
    counts = [sizes[ax] for ax in slow_first]
    total = int(np.prod(counts))
    blocks = pixels.tiff_data_blocks
    where: dict[Plane, tuple[Path, int]] = {}
    for block in blocks:
        file_name = block.uuid.file_name if block.uuid is not None else None
        is_own = block.uuid is None or (own_uuid is not None and block.uuid.value == own_uuid)
        if own_file is not None and is_own:
            file = own_file
        elif file_name:
            file = xml_path.parent / file_name
        else:
            raise InputError(
                f"{xml_path}: image {index} has a TiffData without a UUID FileName, so its planes "
                "are in no known file; name the TIFF file in every TiffData"
            )
        # OME: without PlaneCount, a lone TiffData covers every plane, else one plane each.
        count = block.plane_count
        if count is None:
            count = total if len(blocks) == 1 else 1
        first = {"T": block.first_t, "C": block.first_c, "Z": block.first_z}
        if any(first[ax] >= sizes[ax] for ax in first):
            raise InputError(
                f"{xml_path}: a TiffData of image {index} starts at (Z, C, T) = ({block.first_z}, "
                f"{block.first_c}, {block.first_t}), outside the image's SizeZ/C/T; fix it"
            )
        start = int(np.ravel_multi_index([first[ax] for ax in slow_first], counts))
        for k in range(count):
            if start + k >= total:
                raise InputError(
                    f"{xml_path}: a TiffData of image {index} maps {count} planes from "
                    f"(Z, C, T) = ({block.first_z}, {block.first_c}, {block.first_t}), beyond the "
                    f"image's {total} planes; fix its PlaneCount"
                )
            at = dict(zip(slow_first, np.unravel_index(start + k, counts)))
            where[(int(at["T"]), int(at["C"]), int(at["Z"]))] = (file, block.ifd + k)
    missing = [p for p in np.ndindex(sizes["T"], sizes["C"], sizes["Z"]) if p not in where]
    if missing:
        t, c, z = missing[0]
        raise InputError(
            f"{xml_path}: image {index} has no TiffData for {len(missing)} of its {total} planes "
            f"(first: T={t}, C={c}, Z={z}); the OME-XML must map every plane to a TIFF file"
        )
    return where


def _image_pixels(pixels, index: int, xml_path: Path, own_file: Path | None,
                  own_uuid: str | None, cache: SegmentCache) -> da.Array:
    """Lazy (t, c, z, y, x) pixels of one image, one region-reading dask chunk per plane."""
    where = _plane_files(pixels, index, xml_path, own_file, own_uuid)
    shape = (pixels.size_y, pixels.size_x)
    by_file: dict[Path, list[tuple[Plane, int]]] = {}
    for plane, (file, ifd) in where.items():
        by_file.setdefault(file, []).append((plane, ifd))
    planes: dict[Plane, da.Array] = {}
    for file, entries in by_file.items():
        if not file.is_file():
            raise InputError(
                f"{xml_path}: image {index} has planes in {file.name!r}, which is not in "
                f"{file.parent}; put the file there or fix the TiffData FileName"
            )
        try:
            with tifffile.TiffFile(file) as tif:
                for plane, ifd in entries:
                    planes[plane] = tiff_dask_array(_page_table(tif, ifd, shape, xml_path, index), cache)
        except (tifffile.TiffFileError, OSError) as exc:
            raise InputError(f"{file}: cannot be read as a TIFF ({exc}); check that the file "
                             "is complete") from None
    return stack_planes(planes, (pixels.size_t, pixels.size_c, pixels.size_z),
                        f"{xml_path}: image {index}", "check the TIFF files")


def _page_table(tif: tifffile.TiffFile, ifd: int, shape: tuple[int, int], xml_path: Path,
                index: int) -> TiffPlaneTable:
    """One IFD of an open TIFF as a single-plane table for `tiff_dask_array`."""
    name = Path(tif.filehandle.path).name
    if ifd >= len(tif.pages):
        raise InputError(
            f"{xml_path}: image {index} reads IFD {ifd} of {name}, which has {len(tif.pages)}; "
            "the TIFF is incomplete or the TiffData IFD is wrong"
        )
    page = tif.pages[ifd]
    if page.shape != shape:
        raise InputError(
            f"{xml_path}: IFD {ifd} of {name} is {page.shape}, but image {index} is a grayscale "
            f"{shape[0]} x {shape[1]} plane; check SizeX/SizeY and the TiffData"
        )
    contiguous = page.is_memmappable and len(page.dataoffsets) >= 1
    return TiffPlaneTable(
        path=tif.filehandle.path,
        shape=(1, 1, 1, *shape),
        dtype=np.dtype(page.dtype).newbyteorder(tif.byteorder).str,
        plane_axes="Z",
        plane_counts=(1,),
        pages=(ifd,),
        offsets=(int(page.dataoffsets[0]) if contiguous else -1,),
    )
