"""Region reads from TIFF planes, for the many small reads fusion makes.

bioio's dask arrays re-open the file and re-parse its OME-XML on every read (~45 ms per read
of a 2048^2 plane, measured): fine for one pass over an image, far too slow when each output
chunk reads a piece of several tiles. Here the file is parsed once, in the reading process,
into a small picklable table of where each plane lies; an uncompressed contiguous plane is
then read row band by row band with `os.pread` (no open file handles kept, so thousands of
tile files are fine), and a tiled or compressed one segment by segment: only the TIFF tiles or
strips a region touches, decoded by tifffile (`tiff_segments`). A file at a URL is read the
same way, its bands and segments by range requests (`byte_ranges`).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import dask.array as da
import numpy as np
import tifffile
# Private, on purpose: no public dask API hands back the source behind a block, and the public
# graphs cost 2.2x or hide it (benchmarks/README.md, "Private APIs"); floor pinned in pyproject.
from dask._task_spec import DataNode, Task
from dask.array.core import getter
from dask.base import tokenize

from ngff_fuse import byte_ranges
from ngff_fuse.byte_ranges import Source
from ngff_fuse.errors import DamagedFile
from ngff_fuse.readers.raster_reads import index_ranges, read_band
from ngff_fuse.readers.tiff_segments import SegmentCache, read_segments
from ngff_fuse.storage import Remote


@dataclass(frozen=True)
class TiffPlaneTable:
    """Where every (t, c, z) plane of one TIFF series lies in its file."""

    path: Source  # a local file's path (str), or a `storage.Remote` for an object at a URL
    shape: tuple[int, int, int, int, int]  # t, c, z, y, x
    dtype: str  # with byte order, e.g. "<u2"
    plane_axes: str  # order of the plane axes in the file, e.g. "TCZ" (OME) or "TZC" (ImageJ)
    plane_counts: tuple[int, ...]
    pages: tuple[int, ...]  # index of each plane's page in the file
    offsets: tuple[int, ...]  # byte offset of each plane's pixels; -1: compressed or tiled
    samples: int = 1  # samples per pixel (RGB: 3), each a channel: `shape` counts c * samples
    planar: bool = False  # samples stored one plane after another (SYX), else interleaved (YXS)
    # byte offset of each plane's IFD, so a page is parsed where it lies instead of found by
    # walking the IFD chain (from a URL, one range request per IFD before it); () : walk it
    ifds: tuple[int, ...] = ()
    # an object's identity (URL, size, ETag) when the table was made: one HEAD request per
    # file instead of one per read. None for a local file, whose stat is asked at each read.
    identity: tuple | None = None

    def file_identity(self) -> tuple:
        """What tells this file from the same name rewritten (see `byte_ranges.identity`)."""
        return self.identity or byte_ranges.identity(self.path)

    def __dask_tokenize__(self) -> str:
        # its repr says everything, and hashes ~10x faster than dask's field-by-field walk
        return repr(self)

    def plane(self, t: int, c: int, z: int) -> int:
        """The index of the plane holding channel `c` (of `shape`: c // samples in the file)."""
        where = {"T": t, "C": c // self.samples, "Z": z}
        return int(np.ravel_multi_index([where.get(ax, 0) for ax in self.plane_axes], self.plane_counts))


def _image_axes(axes: str) -> str | None:
    """The pixel axes ending a series' axes: "YX", "YXS" (interleaved samples) or "SYX"
    (planar samples), else None."""
    return next((end for end in ("SYX", "YXS", "YX") if axes.endswith(end)), None)


def tiff_series_shape(tif: tifffile.TiffFile, series: int) -> tuple[int, int, int, int, int] | None:
    """The (t, c * samples, z, y, x) shape of a series whose axes are only those and samples
    (ImageJ hyperstacks, plain 2-D and RGB TIFFs), else None: other axes (unnamed "Q"/"I"
    pages) need bioio's guess."""
    s = tif.series[series]
    axes = s.axes.upper()
    if _image_axes(axes) is None or not set(axes) <= set("TCZYXS") or len(set(axes)) != len(axes):
        return None
    sizes = dict(zip(axes, (int(n) for n in s.shape)))
    return (sizes.get("T", 1), sizes.get("C", 1) * sizes.get("S", 1), sizes.get("Z", 1), sizes["Y"], sizes["X"])


def tiff_plane_table(tif: tifffile.TiffFile, series: int, shape: tuple[int, ...],
                     source: Source | None = None, identity: tuple | None = None) -> TiffPlaneTable | None:
    """The plane table of `series` of an open TIFF of (t, c * samples, z, y, x) `shape`, or None where
    planes cannot be mapped simply (pages in other files, axes beyond t/c/z, samples anywhere
    but with the pixels): those keep bioio's own reading. `source`: where the planes are read
    from, when `tif` was opened on a file object (an object at a URL); else its path. `identity`:
    that object's `byte_ranges.identity`, when the caller asked it once for several series."""
    try:
        s = tif.series[series]
        axes = s.axes.upper()
        image = _image_axes(axes)
        if image is None or "S" in axes[:-len(image)]:
            return None
        plane_axes = axes[:-len(image)]
        counts = tuple(int(n) for n in s.shape[:len(plane_axes)])
        pixel = dict(zip(image, (int(n) for n in s.shape[len(plane_axes):])))
        samples = pixel.get("S", 1)
        sizes = dict(zip(plane_axes, counts))
        if any(n > 1 and ax not in "TCZ" for ax, n in sizes.items()):
            return None
        wanted = (sizes.get("T", 1), sizes.get("C", 1) * samples, sizes.get("Z", 1), pixel["Y"], pixel["X"])
        if wanted != tuple(shape):
            return None
        pages, offsets, ifds = [], [], []
        size = tif.filehandle.size
        for page in s.pages:
            if page is None or page.parent.filehandle.path != tif.filehandle.path:
                return None
            end = max((o + n for o, n in zip(page.dataoffsets, page.databytecounts)), default=0)
            if end > size:
                raise DamagedFile(
                    f"{source or tif.filehandle.path}: truncated, its pixels run to byte {end} but the file "
                    f"has {size}; copy the file again from the microscope"
                )
            pages.append(int(page.index))
            ifds.append(int(page.offset))
            keyframe = page.keyframe if hasattr(page, "keyframe") else page
            if getattr(keyframe, "imagedepth", 1) > 1:  # volumetric tiles: bioio reads them
                return None
            contiguous = keyframe.is_memmappable and len(page.dataoffsets) >= 1
            offsets.append(int(page.dataoffsets[0]) if contiguous else -1)
        dtype = np.dtype(s.dtype).newbyteorder(tif.byteorder).str
    except (tifffile.TiffFileError, OSError, IndexError, ValueError):
        return None
    return TiffPlaneTable(source or tif.filehandle.path, tuple(int(n) for n in shape), dtype, plane_axes,
                          counts, tuple(pages), tuple(offsets), samples, image == "SYX", tuple(ifds),
                          identity or (byte_ranges.identity(source) if isinstance(source, Remote) else None))


class TiffPlanes:
    """A lazy (t, c, z, y, x) array over a TIFF series; indexing reads just that region."""

    def __init__(self, table: TiffPlaneTable, cache: SegmentCache) -> None:
        self.table = table
        self.cache = cache
        self.shape = table.shape
        self.dtype = np.dtype(table.dtype)
        self.ndim = 5

    def __getitem__(self, key) -> np.ndarray:
        ranges, squeeze = index_ranges(key, self.shape)
        out = np.empty([len(r) for r in ranges], dtype=self.dtype.newbyteorder("="))
        rows, cols = ranges[3], ranges[4]
        for (i, t), (j, c), (k, z) in product(*(enumerate(r) for r in ranges[:3])):
            plane, sample = self.table.plane(t, c, z), c % self.table.samples
            if _read_rows_into(self.table, plane, rows, cols, out[i, j, k]):
                continue
            if self.table.offsets[plane] < 0 and rows and cols and rows.step == 1 and cols.step == 1:
                read_segments(self.table, plane, rows, cols, sample, self.cache, into=out[i, j, k])
            else:
                out[i, j, k] = _read_plane_region(self.table, plane, rows, cols, sample, self.cache)
        return out.squeeze(axis=tuple(squeeze)) if squeeze else out


def _read_rows_into(table: TiffPlaneTable, plane: int, rows: range, cols: range, into: np.ndarray) -> bool:
    """Whole rows of an uncompressed single-sample plane read straight into `into` (no copy);
    False where the region is not such a run (then `_read_plane_region` reads it)."""
    width = table.shape[4]
    if (not rows or table.offsets[plane] < 0 or table.samples > 1 or rows.step != 1 or cols != range(width)
            or np.dtype(table.dtype) != into.dtype or not into.flags.c_contiguous):
        return False
    read_band(table.path, table.offsets[plane], rows, (width,), into.dtype, f"plane {plane}", into=into)
    return True


def _read_plane_region(table: TiffPlaneTable, plane: int, rows: range, cols: range,
                       sample: int, cache: SegmentCache) -> np.ndarray:
    """Rows x cols of one sample of one plane: a band of rows read from an uncompressed
    contiguous plane, else the plane's segments (tiles or strips) that hold the region."""
    if not rows or not cols:
        return np.empty((len(rows), len(cols)), dtype=table.dtype)
    offset = table.offsets[plane]
    if offset < 0:
        return read_segments(table, plane, rows, cols, sample, cache)
    dtype = np.dtype(table.dtype)
    height, width = table.shape[3:]
    # interleaved samples make a row `samples` values wide; planar ones follow each other
    row_values = width * (1 if table.planar else table.samples)
    if table.planar:
        offset += sample * height * width * dtype.itemsize
    band, first = read_band(table.path, offset, rows, (row_values,), dtype, f"plane {plane}")
    if not table.planar and table.samples > 1:
        band = band.reshape(-1, width, table.samples)[..., sample]
    picked = band[[r - first for r in rows]] if rows.step != 1 else band
    return picked[:, cols.start:cols.stop:cols.step]


def tiff_dask_array(table: TiffPlaneTable, cache: SegmentCache) -> da.Array:
    """One chunk per plane; dask fuses later slicing into a region read of that plane.

    The graph is written out directly (one getter task per plane, as `da.from_array` with
    `inline_array=True` makes), at a tenth of `from_array`'s cost: it matters when a listing
    opens 10,000 tile files.
    """
    name = "tiff-" + tokenize(table, table.file_identity())
    planes = DataNode(None, TiffPlanes(table, cache))
    rows, cols = (slice(0, n) for n in table.shape[3:])
    graph = {}
    for t, c, z in np.ndindex(*table.shape[:3]):
        key = (name, t, c, z, 0, 0)
        where = (slice(t, t + 1), slice(c, c + 1), slice(z, z + 1), rows, cols)
        graph[key] = Task(key, getter, planes, DataNode(None, where))
    chunks = tuple((1,) * n for n in table.shape[:3]) + tuple((n,) for n in table.shape[3:])
    meta = np.empty((0,) * 5, dtype=np.dtype(table.dtype).newbyteorder("="))
    return da.Array(graph, name, chunks, meta=meta)
