"""What a run read: each input file's size, modification time and a content fingerprint.

Recorded in the output when it is created, then checked again before its metadata is written
(a tile rewritten during the run fails it) and on --resume (a resume must read what the
interrupted run read). Size and mtime miss a file rewritten with its size and mtime kept
(`cp -p`, a restored backup, a tool that resets mtime); the fingerprint catches that.

The fingerprint is a CRC-32 of the file's first 16 KiB (TIFF header, first IFD, usually the
OME-XML), `SAMPLES` blocks of 4 KiB spread evenly over the rest and its last 4 KiB (trailing
IFDs): at most 44 KiB read per file, whatever its size. CRC-32 because it is 4-5x faster than
blake2b here and the question is "did this file change", not "did someone forge it". A change
confined to bytes between the samples, with size and mtime kept, goes unnoticed: the price of
not reading every input twice. A 64 KiB head cost 3.8 s for 10,000 files of 50-170 kB on this
shared machine (load 9); 16 KiB costs the figure in benchmarks/README.md.

An object at a URL (a `storage.Remote`) is recorded the same way, the same spans fetched by
range requests, with its ETag (else its modification time) in place of the mtime: an object
replaced with other bytes gets a new one.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable

from ngff_fuse import byte_ranges
from ngff_fuse.storage import Location, Remote, location

HEAD = 16 << 10
BLOCK = 4 << 10
SAMPLES = 6
#: Files up to this size are read whole.
_WHOLE = HEAD + (SAMPLES + 1) * BLOCK


def _spans(size: int) -> list[tuple[int, int]]:
    """(offset, length) of the bytes fingerprinted in a file of `size` bytes."""
    if size <= _WHOLE:
        return [(0, size)]
    between = size - HEAD - BLOCK
    samples = [(HEAD + (between - BLOCK) * i // (SAMPLES + 1), BLOCK) for i in range(1, SAMPLES + 1)]
    return [(0, HEAD), *samples, (size - BLOCK, BLOCK)]


def file_record(path: str | Location) -> dict:
    """{path, bytes, modified_ns, fingerprint} of one file, from one open descriptor (so size,
    mtime and content describe the same file even if it is replaced meanwhile); {path, bytes,
    version, fingerprint} of an object at a URL."""
    if isinstance(path, Remote):
        return _object_record(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        stat = os.fstat(fd)
        crc = 0
        for offset, length in _spans(stat.st_size):
            crc = zlib.crc32(os.pread(fd, length, offset), crc)
    finally:
        os.close(fd)
    return {"path": str(path), "bytes": stat.st_size, "modified_ns": stat.st_mtime_ns,
            "fingerprint": f"crc32:{crc:08x}"}


def _object_record(remote: Remote) -> dict:
    info = remote.fs.info(remote.key)
    size = int(info["size"])
    with byte_ranges.opened(remote) as source:
        crc = 0
        for data in source.read(_spans(size)):
            crc = zlib.crc32(data, crc)
    return {"path": str(remote), "bytes": size, "version": byte_ranges.object_version(info),
            "fingerprint": f"crc32:{crc:08x}"}


def resolved(paths: Iterable[str | Location]) -> list[str | Remote]:
    """Where `paths` really are, sorted, each folder resolved once: `Path.resolve` of each of
    10,000 tile files took 1.2 s, most of it re-resolving the same folder (strings, as Path
    objects alone cost another 0.5 s). Objects at URLs are where they are."""
    paths = list(paths)
    folders: dict[str, str] = {}
    found: set[str | Remote] = {path for path in paths if isinstance(path, Remote)}
    for path in (os.fspath(p) for p in paths if not isinstance(p, Remote)):
        if os.path.islink(path):
            found.add(os.path.realpath(path))
            continue
        folder, name = os.path.split(os.path.abspath(path))
        if folder not in folders:
            folders[folder] = os.path.realpath(folder)
        found.add(os.path.join(folders[folder], name))
    return sorted(found, key=str)


def file_records(paths: Iterable[str | Location]) -> list[dict]:
    """Records of `paths`, resolved and sorted. One file after another: with the files in the
    page cache, threads were slower (1.8 s serial, 2.8-3.3 s with 2-4 threads for 10,000)."""
    return [file_record(path) for path in resolved(paths)]


def changed_input(records: list[dict], storage: dict | None = None) -> str | None:
    """How the first recorded file that differs now differs ("<path>: bytes 10 then, 12 now"),
    or None when every one is as recorded; objects at URLs are read with the `storage` options
    of their file system. Only the fields recorded are compared, so records of older versions
    without a fingerprint still compare on size and mtime."""
    for record in records:
        try:
            current = file_record(location(record["path"], storage))
        except OSError:
            current = None
        difference = record_difference(record, current)
        if difference:
            return difference
    return None


def record_difference(old: dict | None, new: dict | None) -> str | None:
    """One file's change between two records, in words; None when they agree."""
    if old is None or new is None:
        path = (old or new)["path"]
        return f"{path}: read then, not now" if new is None else f"{path}: not read then"
    for key in ("bytes", "modified_ns", "version", "fingerprint"):
        if key in old and key in new and old[key] != new[key]:
            what = {"fingerprint": "content fingerprint", "version": "object version (ETag)"}.get(key, key)
            return f"{old['path']}: {what} {old[key]} then, {new[key]} now"
    return None
