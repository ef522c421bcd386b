"""Is a zarr store readable? Its metadata files parse, and every chunk an array stores is there
and decodes, checked store key by store key and inside a shard inner chunk by inner chunk, so
damage can be named, refused or repaired.

zarr reads some damage as the fill value without a word (a missing chunk, a zero-byte shard, a
shard whose index leaves a chunk out) and raises on the rest without saying which chunk. Here
each key is read on its own: present, not empty, and decoded by the array's own codecs, which
also checks its size against the chunk's shape and dtype. A shard's index is decoded (zarr
writes it with a crc32c) and each inner chunk is decoded alone, so the damaged one is named and
no failed read leaves zarr's sibling reads pending (their warnings flooded the terminal at
exit). Bytes flipped inside a chunk decode to wrong pixels unseen unless a codec checks them:
blosc and zstd do not, gzip and crc32c do (`codecs`).

Local stores only: ngff-fuse writes and checks stores by path.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import product
from math import ceil, prod
from pathlib import Path
from typing import TypeVar

import dask.array as da
import dask.system
import numpy as np
import zarr
from dask.base import tokenize
from zarr.codecs import ShardingCodec
from zarr.core.buffer import default_buffer_prototype
from zarr.storage import MemoryStore

from ngff_fuse.errors import InputError
from ngff_fuse.progress import Progress
from ngff_fuse.storage import Location, Remote, store_location, zarr_store

#: What a key or inner chunk that is not stored at all is reported as.
MISSING = "missing"
#: An empty entry of a shard index (offset and length both this).
_NO_CHUNK = 2**64 - 1

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Damage:
    """One unreadable chunk: its store key (relative to the array), and for a sharded array the
    inner chunk's position in the shard's grid of chunks (None: the whole key)."""

    key: str
    problem: str
    inner: tuple[int, ...] | None = None

    @property
    def missing(self) -> bool:
        return self.problem == MISSING

    def where(self) -> str:
        return self.key if self.inner is None else f"{self.key} inner chunk ({','.join(map(str, self.inner))})"

    def __str__(self) -> str:
        return f"{self.where()} {self.problem}"


def _reason(exc: Exception) -> str:
    text = (str(exc).splitlines() or [""])[0].split(". ")[0]  # zarr's checksum error goes on with bytes
    text = text if len(text) <= 100 else text[:97] + "..."
    return f"does not decode ({type(exc).__name__}: {text})" if text else f"does not decode ({type(exc).__name__})"


def unreadable_metadata(path: Path) -> str | None:
    """Why the zarr metadata at `path` cannot be read (its first file that is not JSON), or None.
    zarr's own error says only what the JSON parser saw, not in which file."""
    for name in ("zarr.json", ".zgroup", ".zarray", ".zattrs"):
        file = path / name
        if file.is_file():
            try:
                json.loads(file.read_bytes())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                return f"{file}: not valid JSON ({exc})"
    return None


def open_node(path: Path, kind: str = "array") -> zarr.Array | zarr.Group:
    """The zarr array (or group) at `path`, or an InputError naming the file that is missing or
    unreadable."""
    try:
        store = zarr_store(path)
        return zarr.open_array(store, mode="r") if kind == "array" else zarr.open_group(store, mode="r")
    except Exception:  # zarr raises a JSON parser's error or its own, naming no file
        why = unreadable_metadata(path) or f"{path}: no zarr {kind} there"
        raise InputError(f"{why}; the store is damaged") from None


def _memory_array(shape: tuple[int, ...], chunks: tuple[int, ...], dtype, fill_value,
                  codecs) -> tuple[zarr.Array, dict]:
    """An in-memory zarr v3 array with these codecs, and the dict its chunks are put in: zarr's
    own decoding, applied to bytes taken out of a shard."""
    store: dict = {}
    array = zarr.create(shape=shape, chunks=chunks, dtype=dtype, fill_value=fill_value, codecs=list(codecs),
                        zarr_format=3, store=MemoryStore(store), config={"write_empty_chunks": True})
    return array, store


def _only_key(array: zarr.Array) -> str:
    return array.metadata.encode_chunk_key((0,) * array.ndim)


class ChunkChecker:
    """Reads the store keys (chunks, or shards) of one zarr array in a local store."""

    def __init__(self, array: zarr.Array) -> None:
        self.array = array
        self.folder = store_location(array.store_path)
        self.grid = tuple(array.shards or array.chunks)
        codecs = array.metadata.codecs if array.metadata.zarr_format == 3 else ()
        self.sharding = next((c for c in codecs if isinstance(c, ShardingCodec)), None)
        self.inner_counts = (tuple(g // c for g, c in zip(self.grid, self.sharding.chunk_shape))
                             if self.sharding else (1,) * array.ndim)
        if self.sharding:
            index, store = _memory_array(self.inner_counts + (2,), self.inner_counts + (2,), "uint64",
                                         _NO_CHUNK, self.sharding.index_codecs)
            index[...] = _NO_CHUNK  # encoded, to learn how long an index is
            self.index_bytes = len(store[_only_key(index)].to_bytes())
        self.chunks_per_key = prod(self.inner_counts)

    def keys(self, selection: tuple[slice | int, ...] | None = None) -> list[tuple[int, ...]]:
        """Grid positions of the store keys a selection of slices and indices (default: the
        whole array) touches."""
        selection = selection or tuple(slice(0, n) for n in self.array.shape)
        ranges = []
        for s, n, g in zip(selection, self.array.shape, self.grid):
            start, stop, _ = (s if isinstance(s, slice) else slice(s, s + 1)).indices(n)
            ranges.append(range(start // g, ceil(stop / g)) if stop > start else range(0))
        return list(product(*ranges))

    def damage(self, selection: tuple[slice | int, ...] | None = None, decode: bool = True) -> list[Damage]:
        """What is wrong with the keys a selection touches, one after another."""
        return [d for coords in self.keys(selection) for d in self.check(coords, decode)]

    def region(self, coords: tuple[int, ...]) -> tuple[slice, ...]:
        return tuple(slice(c * g, min((c + 1) * g, n)) for c, g, n in zip(coords, self.grid, self.array.shape))

    def key(self, coords: tuple[int, ...]) -> str:
        return self.array.metadata.encode_chunk_key(coords)

    def check(self, coords: tuple[int, ...], decode: bool = True) -> list[Damage]:
        """What is wrong with the key at grid position `coords`: nothing ([]), or why it does not
        read; `decode=False` only looks whether it is there and not empty."""
        key = self.key(coords)
        path = self.folder / key
        raw = None
        try:  # a shard to decode is read whole at once: one request to an object store
            raw = path.read_bytes() if decode and self.sharding is not None else None
            size = len(raw) if raw is not None else _size(path)
        except FileNotFoundError:
            return [Damage(key, MISSING)]
        if size == 0:
            return [Damage(key, "is an empty file")]
        if not decode:
            return []
        if raw is not None:
            return self._check_shard(key, raw, coords)
        try:
            self.array[self.region(coords)]
        except Exception as exc:  # whatever a codec raises on bytes it cannot decode
            return [Damage(key, _reason(exc))]
        return []

    def _check_shard(self, key: str, raw: bytes, coords: tuple[int, ...]) -> list[Damage]:
        """A shard: its index, each inner chunk it lists, each one decoded alone."""
        if len(raw) < self.index_bytes:
            return [Damage(key, f"is {len(raw)} bytes, shorter than its shard index ({self.index_bytes})")]
        # its JSON form: zarr < 3.4 holds an enum here, 3.4 a plain string
        at_end = self.sharding.to_dict()["configuration"]["index_location"] == "end"
        index, store = _memory_array(self.inner_counts + (2,), self.inner_counts + (2,), "uint64", _NO_CHUNK,
                                     self.sharding.index_codecs)
        store[_only_key(index)] = default_buffer_prototype().buffer.from_bytes(
            raw[-self.index_bytes:] if at_end else raw[:self.index_bytes])
        try:
            entries = index[...]
        except Exception as exc:
            return [Damage(key, f"has a shard index that {_reason(exc)}")]
        data_start, data_end = (0, len(raw) - self.index_bytes) if at_end else (self.index_bytes, len(raw))
        shard_shape = tuple(g * c for g, c in zip(self.sharding.chunk_shape, self.inner_counts))
        inner, inner_store = _memory_array(shard_shape, self.sharding.chunk_shape, self.array.dtype,
                                           self.array.fill_value, self.sharding.codecs)
        origin = [c * g for c, g in zip(coords, self.grid)]
        damage, present = [], []
        for position in np.ndindex(*self.inner_counts):
            starts = (o + p * c for o, p, c in zip(origin, position, self.sharding.chunk_shape))
            if any(start >= n for start, n in zip(starts, self.array.shape)):
                continue  # wholly beyond the array's edge: never read
            offset, length = (int(v) for v in entries[position])
            if offset == _NO_CHUNK and length == _NO_CHUNK:
                damage.append(Damage(key, MISSING, position))
            elif offset < data_start or offset + length > data_end:
                damage.append(Damage(key, f"lies outside the shard (bytes {offset} to {offset + length} "
                                          f"of {len(raw)})", position))
            else:
                inner_store[inner.metadata.encode_chunk_key(position)] = \
                    default_buffer_prototype().buffer.from_bytes(raw[offset:offset + length])
                present.append(position)
        for position in present:
            try:
                inner[tuple(slice(p * c, (p + 1) * c) for p, c in zip(position, self.sharding.chunk_shape))]
            except Exception as exc:
                damage.append(Damage(key, _reason(exc), position))
        return damage


def _size(path: Location) -> int:
    return path.size() if isinstance(path, Remote) else os.stat(path).st_size


def bounded_map(function: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> Iterator[R]:
    """`function` over `items` on a thread pool, results in order, with at most two items per
    thread in flight: memory stays bounded however many items there are."""
    workers = workers or dask.system.CPU_COUNT
    with ThreadPoolExecutor(max_workers=workers) as pool:
        running: deque = deque()
        for item in items:
            running.append(pool.submit(function, item))
            if len(running) >= 2 * workers:
                yield running.popleft().result()
        while running:
            yield running.popleft().result()


def scan(checkers: list[ChunkChecker], progress: Progress, label: str, decode: bool = True) -> list[list[Damage]]:
    """Every key of every array checked in parallel; per array, what is damaged. Progress is
    counted in chunks (a shard counts its inner chunks)."""
    items = [(i, coords) for i, checker in enumerate(checkers) for coords in checker.keys()]
    progress.start(label, sum(checkers[i].chunks_per_key for i, _ in items), "chunks")
    found: list[list[Damage]] = [[] for _ in checkers]
    for (i, _), damage in zip(items, bounded_map(lambda item: checkers[item[0]].check(item[1], decode), items)):
        found[i] += damage
        progress.advance(label, checkers[i].chunks_per_key)
    progress.finish(label)
    return found


def damaged(where: Path, damage: list[Damage]) -> InputError:
    """The one line for input a reader cannot trust: the first damaged chunk, named."""
    more = f" (and {len(damage) - 1} more)" if len(damage) > 1 else ""
    return InputError(f"{where}: chunk {damage[0]}{more}: the store is damaged; "
                      f"`ngff-fuse validate` lists every damaged chunk")


def read_checked(array: zarr.Array, selection: tuple[slice | int, ...], missing_ok: bool) -> np.ndarray:
    """`array[selection]` once every chunk it touches is known to read: an InputError names the
    first that does not. `missing_ok`: absent chunks are the fill value (stores written without
    empty chunks), not damage."""
    checker = ChunkChecker(array)
    damage = [d for d in checker.damage(selection) if not (missing_ok and d.missing)]
    if damage:
        raise damaged(checker.folder, damage)
    return np.asarray(array[selection])


def lazy_checked(path: Path) -> da.Array:
    """The zarr array at `path`, lazily, for input that must be whole (kept tiles): every chunk
    is looked for now (zarr would read a missing one as the fill value), and a chunk that does
    not decode is named when it is read."""
    array = open_node(path)
    damage = ChunkChecker(array).damage(decode=False)
    if damage:
        raise damaged(path, damage)
    return da.from_array(_CheckedArray(array), chunks=array.chunks, asarray=True,
                         name="checked-zarr-" + tokenize(str(path.resolve()), array.shape, array.chunks))


class _CheckedArray:
    """A zarr array for `dask.array.from_array`: a read that fails names the damaged chunk (an
    InputError) instead of passing on a codec's bare error."""

    def __init__(self, array: zarr.Array) -> None:
        self.array = array
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, selection):
        try:
            return self.array[selection]
        except Exception:
            checker = ChunkChecker(self.array)
            damage = checker.damage(selection)
            if damage:
                raise damaged(checker.folder, damage) from None
            raise
