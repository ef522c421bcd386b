"""The ZISRAW file underneath a CZI: the subblock directory, subblock metadata and pixel
regions, read straight from the file so that placing a mosaic reads no pixels (aicspylibczi
reads a whole subblock, pixels included, to return its metadata)."""

from __future__ import annotations

import os
import struct
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import numpy as np

from ngff_fuse.errors import InputError
from ngff_fuse.readers.raster_reads import index_ranges, read_band

# ZISRAW structure (CZI file format specification): every segment starts with a 32-byte header
# (16-byte id, allocated size, used size). The file header segment says where the subblock
# directory, the document metadata and the attachment directory are; the directories hold one
# entry per subblock / attachment; a subblock segment holds its sizes, a copy of its entry
# padded to at least 256 bytes, then its metadata XML, then its pixels.
_SEGMENT = struct.Struct("<16sqq")
# version, reserved, guids, file part, then where the subblock directory, the document
# metadata and the attachment directory are
_FILE_HEADER = struct.Struct("<iiii16s16siqqiq")
_ATTACHMENT_HEAD = struct.Struct("<i252x")  # entry count
_ATTACHMENT = struct.Struct("<2s10xq108x")  # schema, offset (then part, guid, type, name)
_DIRECTORY_HEAD = struct.Struct("<i124x")  # entry count
_ENTRY = struct.Struct("<2siqiiB5xi")  # schema, pixel type, offset, file part, compression,
#                                        pyramid type, dimension count
_DIMENSION = struct.Struct("<4siifi")  # name, start, size, start coordinate, stored size
_SUBBLOCK_SIZES = struct.Struct("<iiq")  # metadata, attachment and data size
# CZI pixel type -> (numpy dtype, samples per pixel); Bgr types store blue first.
PIXEL_TYPES = {0: ("u1", 1), 1: ("<u2", 1), 2: ("<f4", 1), 3: ("u1", 3), 4: ("<u2", 3)}
_UNCOMPRESSED = 0
PLANE_AXES = ("T", "C", "Z")
KNOWN_DIMS = ("S", "M", "T", "C", "Z")


@dataclass(frozen=True)
class Subblock:
    """One subblock as the file's directory lists it."""

    index: dict[str, int]  # start per dimension (S, M, T, C, Z, and any other), without X, Y
    box: tuple[int, int, int, int]  # x, y, width, height of its rectangle in the file's pixels
    stored: tuple[int, int]  # stored width, height: smaller than the box in pyramid levels
    pixel_type: int
    compression: int
    file_part: int
    offset: int  # where its segment starts in the file
    dimensions: int  # number of dimension entries, which sets where its metadata starts

    @property
    def layer0(self) -> bool:
        return self.stored == self.box[2:]

    @property
    def metadata_offset(self) -> int:
        entry = _ENTRY.size + self.dimensions * _DIMENSION.size
        return self.offset + _SEGMENT.size + max(256, _SUBBLOCK_SIZES.size + entry)


def read_directory(path: Path) -> list[Subblock]:
    """Every subblock the directory lists, reading only the file header and the directory."""
    with open(path, "rb") as fh:
        head = _read(fh, 0, _SEGMENT.size + _FILE_HEADER.size, path, "the file header")
        if not head.startswith(b"ZISRAWFILE"):
            raise InputError(f"{path}: not a CZI file (no ZISRAWFILE header); check the input")
        directory = _FILE_HEADER.unpack_from(head, _SEGMENT.size)[7]
        segment = _read(fh, max(directory, 0), _SEGMENT.size, path, "the subblock directory")
        name, _, used = _SEGMENT.unpack(segment)
        if directory <= 0 or not name.startswith(b"ZISRAWDIRECTORY") or used <= 0:
            raise InputError(f"{path}: its subblock directory is missing or damaged; copy the file again")
        body = _read(fh, directory + _SEGMENT.size, used, path, "the subblock directory")
    try:
        return _parse_directory(body)
    except struct.error:
        raise InputError(f"{path}: its subblock directory is damaged; copy the file again") from None


def _parse_directory(body: bytes) -> list[Subblock]:
    (count,) = _DIRECTORY_HEAD.unpack_from(body)
    blocks, at = [], _DIRECTORY_HEAD.size
    for _ in range(count):
        _, pixel_type, offset, part, compression, _, ndim = _ENTRY.unpack_from(body, at)
        at += _ENTRY.size
        index, box, stored = {}, {}, {}
        for _ in range(ndim):
            name, start, size, _, stored_size = _DIMENSION.unpack_from(body, at)
            at += _DIMENSION.size
            name = name.rstrip(b"\0").decode("ascii", "replace")
            if name in ("X", "Y"):
                box[name], stored[name] = (start, size), stored_size
            else:
                index[name] = start
        if "X" not in box or "Y" not in box:
            continue  # not an image subblock
        blocks.append(Subblock(
            index, (box["X"][0], box["Y"][0], box["X"][1], box["Y"][1]),
            (stored["X"], stored["Y"]), pixel_type, compression, part, offset, ndim,
        ))
    return blocks


def _read(fh, offset: int, size: int, path: Path, what: str) -> bytes:
    fh.seek(offset)
    data = fh.read(size)
    if len(data) != size:
        raise InputError(
            f"{path}: the file ends inside {what}; it is truncated or damaged, copy it again"
        )
    return data


def check_complete(path: Path, blocks: Sequence[Subblock]) -> None:
    """The segment that starts last (a subblock, an attachment, a directory) must end inside
    the file: a truncated copy fails here rather than in the middle of fusing."""
    if not blocks:
        raise InputError(f"{path}: the CZI holds no image subblocks")
    with open(path, "rb") as fh:
        head = _read(fh, 0, _SEGMENT.size + _FILE_HEADER.size, path, "the file header")
        fields = _FILE_HEADER.unpack_from(head, _SEGMENT.size)
        starts = [fields[7], fields[8], max(b.offset for b in blocks)]
        if fields[10] > 0:
            starts += [fields[10], *_attachment_offsets(fh, fields[10], path)]
        last = max(starts)
        header = _read(fh, last, _SEGMENT.size, path, "its last segment")
        if not header.startswith(b"ZISRAW"):
            raise InputError(f"{path}: a directory points where no CZI segment is; the file is damaged")
        if last + _SEGMENT.size + _SEGMENT.unpack(header)[2] > os.fstat(fh.fileno()).st_size:
            raise InputError(
                f"{path}: the file ends inside its last segment; it is truncated, copy it again"
            )


def _attachment_offsets(fh, directory: int, path: Path) -> list[int]:
    used = _SEGMENT.unpack(_read(fh, directory, _SEGMENT.size, path, "the attachment directory"))[2]
    body = _read(fh, directory + _SEGMENT.size, used, path, "the attachment directory")
    try:
        (count,) = _ATTACHMENT_HEAD.unpack_from(body)
        return [
            _ATTACHMENT.unpack_from(body, _ATTACHMENT_HEAD.size + i * _ATTACHMENT.size)[1]
            for i in range(count)
        ]
    except struct.error:
        raise InputError(f"{path}: its attachment directory is damaged; copy the file again") from None


def subblock_tags(path: Path, blocks: Sequence[Subblock]) -> list[dict[str, str]]:
    """The <Tags> of each subblock's metadata XML (StageXPosition, FocusPosition, ...), read
    on their own: a few hundred bytes per subblock, no pixels."""
    tags = []
    with open(path, "rb") as fh:
        for block in blocks:
            sizes = _read(fh, block.offset + _SEGMENT.size, _SUBBLOCK_SIZES.size, path, "a subblock")
            length = _SUBBLOCK_SIZES.unpack(sizes)[0]
            text = _read(fh, block.metadata_offset, length, path, "a subblock's metadata")
            tags.append(_tags(text))
    return tags


def _tags(text: bytes) -> dict[str, str]:
    try:
        root = ET.fromstring(text.rstrip(b"\0")) if text.strip(b"\0 ") else None
    except ET.ParseError:
        return {}
    found = root.find("Tags") if root is not None else None
    return {child.tag: (child.text or "").strip() for child in found} if found is not None else {}


def tag_number(tags: dict[str, str], key: str) -> float:
    try:
        return float(tags[key])
    except (KeyError, ValueError):
        return float("nan")


@dataclass(frozen=True)
class CziPlaneTable:
    """Where the planes of one tile are: enough to read any region of them in any process."""

    path: str
    shape: tuple[int, int, int, int, int]  # t, c, z, y, x (c counts RGB samples as channels)
    dtype: str
    samples: int  # 3: Bgr pixels, channels 0, 1, 2 are R, G, B
    planes: tuple[Subblock, ...]  # t-major, then c, then z (c over the file's channels)


class CziTilePlanes:
    """A lazy (t, c, z, y, x) array over one tile; indexing reads only the planes asked for."""

    def __init__(self, table: CziPlaneTable) -> None:
        self.table = table
        self.shape = table.shape
        self.dtype = np.dtype(table.dtype).newbyteorder("=")
        self.ndim = 5

    def __getitem__(self, key) -> np.ndarray:
        ranges, squeeze = index_ranges(key, self.shape)
        out = np.empty([len(r) for r in ranges], dtype=self.dtype)
        samples, depth = self.table.samples, self.shape[2]
        file_channels = self.shape[1] // samples
        for (i, t), (j, c), (k, z) in product(*(enumerate(r) for r in ranges[:3])):
            # Bgr pixels: channel c is sample 2 - c of the file's only channel
            block = self.table.planes[(t * file_channels + (c if samples == 1 else 0)) * depth + z]
            region = read_region(self.table, block, ranges[3], ranges[4])
            out[i, j, k] = region if samples == 1 else region[..., 2 - c]
        return out.squeeze(axis=tuple(squeeze)) if squeeze else out


def read_region(table: CziPlaneTable, block: Subblock, rows: range, cols: range) -> np.ndarray:
    """Rows x cols of one subblock: (rows, cols), or (rows, cols, 3) for Bgr pixels."""
    dtype = np.dtype(table.dtype)
    shape = (block.box[3], block.box[2]) + ((3,) if table.samples == 3 else ())
    if not rows or not cols:
        return np.empty((len(rows), len(cols), *shape[2:]), dtype=dtype)
    band = _uncompressed_band(table.path, block, rows, dtype, shape)
    if band is None:
        band, first = _decoded(table.path, block).reshape(shape), 0
    else:
        band, first = band
    picked = band[[r - first for r in rows]] if rows.step != 1 else band[rows.start - first:rows.stop - first]
    return picked[:, cols.start:cols.stop:cols.step]


def _uncompressed_band(path: str, block: Subblock, rows: range, dtype: np.dtype, shape):
    """(band, first row): the rows from min(rows) to max(rows) of an uncompressed subblock,
    read with os.pread; None when the subblock is compressed or not the plain bitmap its
    size implies."""
    if block.compression != _UNCOMPRESSED:
        return None
    row_bytes = int(np.prod(shape[1:])) * dtype.itemsize
    fd = os.open(path, os.O_RDONLY)
    try:
        metadata, _, data = _SUBBLOCK_SIZES.unpack(
            os.pread(fd, _SUBBLOCK_SIZES.size, block.offset + _SEGMENT.size)
        )
    finally:
        os.close(fd)
    if data != row_bytes * shape[0]:
        return None
    return read_band(path, block.metadata_offset + metadata, rows, shape[1:], dtype,
                     f"the subblock at byte {block.offset}")


def _decoded(path: str, block: Subblock) -> np.ndarray:
    """One whole subblock decoded by aicspylibczi (JPEG-XR, zstd, ...)."""
    from aicspylibczi import CziFile

    with open(path, "rb") as fh:
        czi = CziFile(fh)
        wanted = {d: v for d, v in block.index.items() if d in czi.dims and d not in "XYAB"}
        data, _ = czi.read_image(**wanted)
    return np.asarray(data)
