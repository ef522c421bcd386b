"""Damaging a store on disk the ways disks, copies and kills do, for the tests of what notices.

A shard is taken apart by the zarr v3 sharding spec itself (index at the end: per inner chunk
two little-endian uint64, offset and length, then a crc32c), not by zarr-python, so the tests
do not lean on the code they check."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np

METADATA = {"zarr.json", ".zarray", ".zattrs", ".zgroup"}


def chunk_files(array: Path) -> list[Path]:
    """The chunk (or shard) files of the array at `array`, sorted."""
    return sorted(p for p in array.rglob("*") if p.is_file() and p.name not in METADATA)


def key(store: Path, file: Path) -> str:
    """A file's path in the store, as validate names it."""
    return file.relative_to(store).as_posix()


def flip(file: Path, start: int = 0, end: int | None = None, count: int = 4) -> None:
    """Invert `count` bytes in the middle of bytes start..end of `file`."""
    data = bytearray(file.read_bytes())
    end = len(data) if end is None else end
    middle = (start + end) // 2
    for i in range(middle, middle + count):
        data[i] ^= 0xFF
    file.write_bytes(bytes(data))


def truncate(file: Path) -> None:
    truncate_at(file, 0.5)


def truncate_at(path: Path, fraction: float) -> None:
    """Keep the first `fraction` of the file, as a copy cut short does."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def flip_bytes(path: Path, region: Callable[[bytes], tuple[int, int]], seed: int, count: int = 3) -> None:
    """Replace `count` bytes at seeded-random places in `region(data)` with random bytes."""
    data = bytearray(path.read_bytes())
    start, stop = region(bytes(data))
    rng = random.Random(seed)
    for _ in range(count):
        i = rng.randrange(start, max(start + 1, stop))
        data[i] = rng.choice([b for b in range(256) if b != data[i]])
    path.write_bytes(bytes(data))


def empty(file: Path) -> None:
    file.write_bytes(b"")


def inner_grid(array: Path) -> tuple[int, ...] | None:
    """Inner chunks per shard on each axis of the zarr v3 array at `array` (None: unsharded)."""
    meta = json.loads((array / "zarr.json").read_text()) if (array / "zarr.json").is_file() else {}
    codec = (meta.get("codecs") or [{}])[0]
    if codec.get("name") != "sharding_indexed":
        return None
    shard = meta["chunk_grid"]["configuration"]["chunk_shape"]
    return tuple(s // c for s, c in zip(shard, codec["configuration"]["chunk_shape"]))


def flip_inner_chunk(file: Path, grid: tuple[int, ...], inner: tuple[int, ...]) -> None:
    """Flip bytes in the middle of inner chunk `inner` of a shard with `grid` inner chunks,
    found through the shard's index (at its end: offset and length per chunk, then a crc32c)."""
    count = int(np.prod(grid))
    entries = np.frombuffer(file.read_bytes()[-(16 * count + 4):-4], dtype="<u8").reshape(*grid, 2)
    offset, length = (int(v) for v in entries[inner])
    flip(file, offset, offset + length)


def files_state(store: Path) -> dict[str, tuple[int, bytes]]:
    """Every chunk file of the store: its modification time and bytes."""
    return {key(store, p): (p.stat().st_mtime_ns, p.read_bytes()) for p in chunk_files(store)}
