"""Regions of rasters stored in a file, for the lazy plane arrays of the TIFF, CZI and
picture readers: which index ranges a key asks for, and the band of rows that holds them,
read through `byte_ranges` (`os.pread` locally, no file handle kept open, so thousands of tile
files are fine; range requests from a URL). Both are
hand-written where a library read was measured slower for fusion's region reads
(benchmarks/README.md, "Readers: hand-written against the libraries")."""

from __future__ import annotations

import numpy as np

from ngff_fuse import byte_ranges
from ngff_fuse.byte_ranges import Source
from ngff_fuse.errors import DamagedFile


def index_ranges(key, shape: tuple[int, ...]) -> tuple[list[range], list[int]]:
    """A numpy basic index (ints and slices, possibly short) as one range per axis, and the
    axes an integer index removes: what lazy plane readers need to answer `array[key]`."""
    key = key if isinstance(key, tuple) else (key,)
    key = key + (slice(None),) * (len(shape) - len(key))
    ranges, squeeze = [], []
    for axis, (k, n) in enumerate(zip(key, shape)):
        if isinstance(k, (int, np.integer)):
            k = slice(int(k), int(k) + 1)
            squeeze.append(axis)
        ranges.append(range(*k.indices(n)))
    return ranges, squeeze


#: Rows this far apart are read one by one (a viewer's coarse level asks for every 16th row):
#: below it, one read of the whole band costs less than a system call per row.
SPARSE_STEP = 4


def read_band(path: Source, offset: int, rows: range, row_shape: tuple[int, ...], dtype: np.dtype,
              what: str, into: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """(band, first row): rows min(rows) to max(rows) of an uncompressed raster whose rows,
    each `row_shape` values of `dtype`, follow each other from byte `offset` of `path`. A file
    that ends inside the band is damaged: refused naming `what` (the plane or block).

    `into`, a C-contiguous array of exactly the band's bytes, is read into in place: a whole
    plane then costs what tifffile's read does, where reading bytes and copying them into the
    caller's array took 4-6x as long.

    Rows at least SPARSE_STEP apart are read alone, into an otherwise unwritten band (its
    pages are never touched): only those rows' bytes are read."""
    dtype = np.dtype(dtype)
    row_bytes = int(np.prod(row_shape)) * dtype.itemsize
    first, last = min(rows[0], rows[-1]), max(rows[0], rows[-1])
    count = (last - first + 1) * row_bytes
    if into is None and abs(rows.step) >= SPARSE_STEP:
        return _read_rows(path, offset, rows, row_shape, dtype, what, first, last), first
    with byte_ranges.opened(path) as source:
        if into is not None:
            read = next(source.read_into([memoryview(into).cast("B")], [offset + first * row_bytes]))
        else:
            raw = next(source.read([(offset + first * row_bytes, count)]))
            read = len(raw)
    if read != count:
        raise DamagedFile(f"{path}: the file ends inside {what}; it is truncated, copy it again")
    if into is not None:
        return into.reshape(-1, *row_shape), first
    return np.frombuffer(raw, dtype=dtype).reshape(-1, *row_shape), first


def _read_rows(path: Source, offset: int, rows: range, row_shape: tuple[int, ...], dtype: np.dtype,
               what: str, first: int, last: int) -> np.ndarray:
    """The band from row `first` to `last` with only `rows` read into it."""
    band = np.empty((last - first + 1, *row_shape), dtype=dtype)
    targets = [memoryview(band[row - first]).cast("B") for row in rows]
    with byte_ranges.opened(path) as source:
        for target, read in zip(targets, source.read_into(targets, [offset + row * t.nbytes
                                                                   for row, t in zip(rows, targets)])):
            if read != target.nbytes:
                raise DamagedFile(f"{path}: the file ends inside {what}; it is truncated, copy it again")
    return band
