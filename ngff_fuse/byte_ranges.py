"""Byte ranges of an input file, wherever it lies: the one seam between the region readers
(TIFF segments, raster bands) and the storage.

A local file (a `str` or `Path`) is read with `os.pread`/`os.preadv` on a descriptor opened for
the reads of one call (no handle kept between calls, so thousands of tile files are fine);
an object at a URL (a `storage.Remote`) with HTTP range requests through fsspec
(`cat_ranges`, which s3fs, gcsfs and adlfs issue concurrently), so a fusion task fetches only
the bytes it needs, never the whole object. Both read a span that runs past the end of the
file short: the caller says which file is truncated.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ngff_fuse.storage import Remote

#: A local file's path, or an object at a URL.
Source = str | Path | Remote
#: (offset, length) of a run of bytes.
Span = tuple[int, int]


class _LocalRanges:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def read(self, spans: Sequence[Span]) -> Iterator[bytes]:
        for offset, length in spans:
            yield os.pread(self._fd, length, offset)

    def read_into(self, buffers: Sequence[memoryview], offsets: Sequence[int]) -> Iterator[int]:
        for buffer, offset in zip(buffers, offsets):
            yield os.preadv(self._fd, [buffer], offset)


class _RemoteRanges:
    def __init__(self, remote: Remote) -> None:
        self._remote = remote

    def read(self, spans: Sequence[Span]) -> Iterator[bytes]:
        """All spans fetched in one batch of concurrent range requests, then handed out."""
        if not spans:
            return iter(())
        fs = self._remote.fs
        starts = [offset for offset, _ in spans]
        ends = [offset + length for offset, length in spans]
        found = fs.cat_ranges([self._remote.key] * len(spans), starts, ends, on_error="return")
        for result in found:
            if isinstance(result, BaseException):
                raise result
        return iter(found)

    def read_into(self, buffers: Sequence[memoryview], offsets: Sequence[int]) -> Iterator[int]:
        """Each buffer filled as it is asked for (a caller may reuse one buffer for all)."""
        spans = [(offset, buffer.nbytes) for buffer, offset in zip(buffers, offsets)]
        for buffer, data in zip(buffers, self.read(spans)):
            buffer[:len(data)] = data
            yield len(data)


@contextmanager
def opened(source: Source) -> Iterator[_LocalRanges | _RemoteRanges]:
    """A reader of `source`'s byte ranges for the block: `read(spans)` yields each span's bytes,
    `read_into(buffers, offsets)` fills each buffer from its offset and yields the count read."""
    if isinstance(source, Remote):
        yield _RemoteRanges(source)
        return
    fd = os.open(source, os.O_RDONLY)
    try:
        yield _LocalRanges(fd)
    finally:
        os.close(fd)


def identity(source: Source) -> tuple:
    """What tells `source` from the same name rewritten: (path, inode, size, mtime) of a local
    file; (URL, size, ETag or else modification time) of an object."""
    if isinstance(source, Remote):
        info = source.fs.info(source.key)
        return (str(source), int(info["size"]), object_version(info))
    stat = os.stat(source)
    return (os.fspath(source), stat.st_ino, stat.st_size, stat.st_mtime_ns)


def object_version(info: dict) -> str:
    """An object's ETag (a new one for every write) from its fsspec `info`, else its
    modification time: s3fs says ETag, gcsfs and adlfs etag, HTTP servers what they send."""
    lowered = {str(key).lower(): value for key, value in info.items()}
    for key in ("etag", "lastmodified", "last_modified", "updated", "mtime", "last-modified"):
        if lowered.get(key) is not None:
            return str(lowered[key]).strip('"')
    return ""
