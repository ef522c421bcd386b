"""Regions of tiled or compressed TIFF planes, read segment by segment (a segment: one TIFF
tile, or one strip) and decoded by tifffile's own decoders (`TiffPage.decode`).

A fusion task reads a piece of a tile: only the segments under it are read and decoded, not the
whole plane (Bio-Formats writes 512^2 or 256^2 tiles). Decoded compressed segments are kept in
a `SegmentCache`, bounded in bytes, which each reader makes for the tile set it reads and
hands, inside the lazy arrays, to every task: a segment under two output chunks is decoded
once. Uncompressed segments are not kept; reading them again costs what copying them would.
The bytes come through `byte_ranges`: `os.pread` of a local file, one batch of range requests
for the segments a read needs from a file at a URL (whose header `open_tiff` parses through
fsspec).
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import tifffile

from ngff_fuse import byte_ranges
from ngff_fuse.byte_ranges import Source
from ngff_fuse.errors import DamagedFile, blaming_the_file, reason
from ngff_fuse.storage import Remote

if TYPE_CHECKING:
    from ngff_fuse.readers.tiff_planes import TiffPlaneTable

#: Decoded compressed segments a cache keeps (bytes): a row of 2048^2 uint16 tiles, with room.
DEFAULT_LIMIT = 256 << 20
_PAGES_KEPT = 4096  # decoders of pages recently read (small: tags, no pixels)
# the caches of this process by name, so a task unpickled on a dask worker shares its cache
# with the other tasks of the same tile set there
_live: weakref.WeakValueDictionary[str, SegmentCache] = weakref.WeakValueDictionary()
_live_lock = threading.Lock()


@dataclass(frozen=True)
class PageSegments:
    """How one page's pixels are cut: segment edges, their grid, and tifffile's decoder."""

    decode: Callable  # TiffPage.decode: (bytes, index, jpegtables=) -> (array, position, shape)
    offsets: tuple[int, ...]
    bytecounts: tuple[int, ...]
    jpegtables: bytes | None
    edge: tuple[int, int]  # (rows, columns) of one segment
    grid: tuple[int, int]  # segments down, across, per sample plane
    planar: bool  # separate sample planes: segments of sample s come after those of s - 1
    compressed: bool
    raw: bool  # uncompressed whole bytes per sample: a segment's bytes are its pixels
    samples: int  # per pixel, within a segment of contiguous samples


class SegmentCache:
    """Decoded compressed segments (at most `limit` bytes, least recently used dropped first)
    and the decoders of recently read pages, keyed by file identity, so a file rewritten
    meanwhile is read again (in a notebook, a second conversion otherwise fused the pixels of
    the first). Shared by threads; pickled, it is the same cache on the other side."""

    def __init__(self, limit: int = DEFAULT_LIMIT, name: str | None = None) -> None:
        self.limit = limit
        self.name = name or uuid.uuid4().hex
        self._segments: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._pages: OrderedDict[tuple, PageSegments] = OrderedDict()
        self._lock = threading.Lock()
        with _live_lock:
            _live[self.name] = self

    def __reduce__(self):
        return _cache_named, (self.name, self.limit)

    def __dask_tokenize__(self) -> str:
        return self.name

    @property
    def nbytes(self) -> int:
        return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._segments.clear()
            self._pages.clear()
            self._bytes = 0

    def page(self, file: tuple, path: Source, index: int, ifd: int | None = None) -> PageSegments:
        """How page `index` (its IFD at byte `ifd`, when known) of `file` is cut."""
        key = (file, index)
        with self._lock:
            found = self._pages.get(key)
            if found is not None:
                self._pages.move_to_end(key)
                return found
        found = _page_segments(path, index, ifd)
        with self._lock:
            self._pages[key] = found
            while len(self._pages) > _PAGES_KEPT:
                self._pages.popitem(last=False)
        return found

    def get(self, key: tuple) -> np.ndarray | None:
        with self._lock:
            found = self._segments.get(key)
            if found is not None:
                self._segments.move_to_end(key)
            return found

    def put(self, key: tuple, segment: np.ndarray) -> None:
        with self._lock:
            if key in self._segments or segment.nbytes > self.limit:
                return
            self._segments[key] = segment
            self._bytes += segment.nbytes
            while self._bytes > self.limit:
                self._bytes -= self._segments.popitem(last=False)[1].nbytes


def _cache_named(name: str, limit: int) -> SegmentCache:
    with _live_lock:
        found = _live.get(name)
    return found if found is not None else SegmentCache(limit, name)


#: Bytes an object's header is fetched in: an IFD and its tags, or a run of OME-XML.
_HEADER_BLOCK = 64 << 10


@contextmanager
def open_tiff(source: Source, **options) -> Iterator[tifffile.TiffFile]:
    """tifffile's TiffFile on a local file, or on an object at a URL through an fsspec file read
    ahead in small blocks: a TIFF's header and IFDs are parsed from a few ranges, its pixels
    are never fetched here."""
    if not isinstance(source, Remote):
        with tifffile.TiffFile(source, **options) as tif:
            yield tif
        return
    with source.fs.open(source.key, "rb", block_size=_HEADER_BLOCK, cache_type="readahead") as handle, \
            tifffile.TiffFile(handle, name=source.name, **options) as tif:
        yield tif


def _page_segments(path: Source, index: int, ifd: int | None) -> PageSegments:
    with open_tiff(path) as tif:
        if ifd is None:
            page = tif.pages[index]
        else:  # parsed where it lies: no walk of the IFDs before it
            tif.filehandle.seek(ifd)
            page = tifffile.TiffPage(tif, index)
        planar = page.planarconfig == tifffile.PLANARCONFIG.SEPARATE and page.samplesperpixel > 1
        chunked = tuple(int(n) for n in page.chunked)
        grid = chunked[1:3] if planar else chunked[:2]  # contiguous samples may add an axis of 1
        edge = tuple(int(n) for n in page.chunks[:2])  # 2-D pages only: see tiff_plane_table
        compressed = page.compression != tifffile.COMPRESSION.NONE
        raw = (not compressed and page.bitspersample == 8 * page.dtype.itemsize
               and page.predictor == tifffile.PREDICTOR.NONE and page.fillorder == 1)
        return PageSegments(page.decode, tuple(int(o) for o in page.dataoffsets),
                            tuple(int(n) for n in page.databytecounts), page.jpegtables, edge, grid,
                            planar, compressed, raw, 1 if planar else int(page.samplesperpixel))


def read_segments(table: TiffPlaneTable, plane: int, rows: range, cols: range, sample: int,
                  cache: SegmentCache, into: np.ndarray | None = None) -> np.ndarray:
    """Rows x cols of one sample of a plane stored in tiles or strips (or compressed): each
    segment under the region read and decoded once, and copied into place: into `into` if
    given (rows and cols then step by 1), else a new array."""
    file = table.file_identity()
    page = table.pages[plane]
    info = cache.page(file, table.path, page, table.ifds[plane] if table.ifds else None)
    top, bottom = min(rows[0], rows[-1]), max(rows[0], rows[-1]) + 1
    left, right = min(cols[0], cols[-1]), max(cols[0], cols[-1]) + 1
    if into is None:
        out = np.empty((bottom - top, right - left), dtype=np.dtype(table.dtype).newbyteorder("="))
    else:
        out = into
    (tall, wide), (_, across) = info.edge, info.grid
    first = sample * info.grid[0] * across if info.planar else 0
    wanted = [first + down * across + side for down in range(top // tall, (bottom - 1) // tall + 1)
              for side in range(left // wide, (right - 1) // wide + 1)]
    dtype = np.dtype(table.dtype)
    if info.raw:
        found = _raw_segments(table.path, plane, info, wanted, (top, bottom), dtype)
    else:
        found = _segments(table.path, file, page, plane, info, wanted, cache, dtype)
    for index, skipped, segment in found:
        down, side = divmod(index - first, across)
        y0, x0 = down * tall + skipped, side * wide  # where `segment`'s first pixel lies
        pixels = segment[0] if segment.ndim == 4 else segment  # (rows, columns, samples)
        pixels = pixels[..., 0 if info.planar else sample]
        if (y0 + pixels.shape[0] < min(bottom, down * tall + tall, table.shape[3])
                or x0 + pixels.shape[1] < min(right, x0 + wide, table.shape[4])):
            raise DamagedFile(f"{table.path}: segment {index} of plane {plane} holds fewer pixels than its "
                              "place needs; the file is damaged, copy it again")
        ys = slice(max(top, y0), min(bottom, y0 + pixels.shape[0]))
        xs = slice(max(left, x0), min(right, x0 + pixels.shape[1]))
        out[ys.start - top:ys.stop - top, xs.start - left:xs.stop - left] = \
            pixels[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
    return out[rows.start - top::rows.step][:len(rows)][:, cols.start - left::cols.step][:, :len(cols)]


def _raw_segments(path: Source, plane: int, info: PageSegments, wanted: list[int],
                  rows: tuple[int, int], dtype: np.dtype):
    """(index, first row, pixels) for uncompressed segments: only the rows of each segment
    the region needs, read (`os.preadv` locally) into one reused buffer, so each `pixels` is
    valid until the next is asked for (no decoder, no cache:
    reading whole tiles through the decoder made tiled planes ~3x slower per pixel than
    strips, a memory map ~5x: benchmarks/bench_readers.py)."""
    tall, wide = info.edge
    row_bytes = wide * info.samples * dtype.itemsize
    buffer = np.empty(tall * row_bytes, dtype=np.uint8)
    stored, bands, offsets = [], [], []  # the segments the file holds, and where their rows go
    for index in wanted:
        y0 = (index // info.grid[1]) % info.grid[0] * tall
        first, stop = max(rows[0], y0) - y0, min(rows[1], y0 + tall) - y0
        if info.bytecounts[index] == 0:  # a segment the file leaves out reads as 0
            yield index, first, np.zeros((stop - first, wide, info.samples), dtype)
            continue
        stop = min(stop, info.bytecounts[index] // row_bytes)  # a short last strip
        stored.append((index, first))
        bands.append(memoryview(buffer[:(stop - first) * row_bytes]))
        offsets.append(info.offsets[index] + first * row_bytes)
    with byte_ranges.opened(path) as source:
        for (index, first), band, read in zip(stored, bands, source.read_into(bands, offsets)):
            if read != band.nbytes:
                raise DamagedFile(f"{path}: the file ends inside plane {plane}; it is truncated, copy it again")
            yield index, first, np.frombuffer(band, dtype).reshape(-1, wide, info.samples)


def _segments(path: Source, file: tuple, page: int, plane: int, info: PageSegments, wanted: list[int],
              cache: SegmentCache, dtype: np.dtype):
    """(index, 0, decoded segment) for each wanted segment: from the cache, else read (in file
    order: one `os.pread` each locally, one batch of range requests from a URL) and decoded."""
    missing = []
    for index in wanted:
        found = cache.get((file, page, index)) if info.compressed else None
        if found is None:
            missing.append(index)
        else:
            yield index, 0, found
    if not missing:
        return
    def damaged(exc: Exception) -> DamagedFile:
        return DamagedFile(f"{path}: plane {plane} does not decode ({reason(exc)}); the file is damaged, "
                           "copy it again")

    missing.sort(key=lambda i: info.offsets[i])
    stored = [i for i in missing if info.bytecounts[i]]
    for index in missing:
        if not info.bytecounts[index]:  # a segment the file leaves out reads as 0, as tifffile's asarray
            with blaming_the_file(damaged):
                _, _, shape = info.decode(None, index, jpegtables=info.jpegtables)
            yield index, 0, np.zeros(shape, dtype=dtype)
    with byte_ranges.opened(path) as source:
        for index, raw in zip(stored, source.read([(info.offsets[i], info.bytecounts[i]) for i in stored])):
            if len(raw) != info.bytecounts[index]:
                raise DamagedFile(f"{path}: the file ends inside plane {plane}; it is truncated, copy it again")
            with blaming_the_file(damaged):
                segment, _, shape = info.decode(raw, index, jpegtables=info.jpegtables)
            if info.compressed:
                cache.put((file, page, index), segment)
            yield index, 0, segment
