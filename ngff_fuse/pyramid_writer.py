"""Writing every level of the pyramid in one pass, skipping blocks a previous run already wrote.

Every write block is exactly one zarr chunk, or one shard when sharding, so no two tasks
ever write the same store key and a block is done exactly when its key decodes (`zarr_check`).

How the levels are scheduled decides peak memory. Building levels 1.. as dask `coarsen` of
level 0 in the same graph kept level-0 blocks alive until the level-1 tasks that needed them
ran, so the peak grew with the mosaic: 616 MB at 127 MPix, 990 MB at 1.1 GPix (bench_scale.py,
2048^2 blocks, 2 threads). Here the task that writes a level-k block also reduces it and hands
only that (1/4 of it on y/x) to the task writing the level-k+1 block it belongs to, so a fused
level-0 block is freed right after it is written, with no second pass: neither tiles nor
level 0 are read again. Per thread that holds one block being written plus, per upper level,
at most three reduced siblings waiting for the fourth (tests/test_pyramid.py checks this
bound). Measured the same way: 455 MB at 127 MPix and 508 MB at 1.1 GPix with 2 threads,
332 and 366 MB with 1, so about 130 MB per thread above a 200 MB base. That is the working
memory inside tasks (making the benchmark's tiles, fusing, compressing): between tasks dask
held at most 20 MB of results at 127 MPix.

Speed (bench_fuse.py, 172 MPix): the whole pyramid costs 1.2-1.35x the I/O floor, against
1.9-2.0x with `coarsen`; level 0 alone 0.9-1.0x. The alternatives: re-reading the written
level 0 once it is complete is as flat but decompresses all of it again (0.6-0.7 s of a 6.5 s
convert there); one task per level-1 block fusing its 2 x 2 level-0 blocks still holds four
full blocks per thread. A resumed run feeds blocks a previous run already wrote to their
pending parents by reading them back from the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product

import dask.array as da
import numpy as np
from dask.base import get_scheduler, tokenize
from dask.callbacks import Callback
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from ngff_fuse.progress import Progress
from ngff_fuse.pyramid import Downsample, Pyramid, reduce_block
from ngff_fuse.storage import Location, Remote
from ngff_fuse.zarr_check import ChunkChecker, bounded_map
from ngff_fuse.stage_clock import CLOCK

def block_done(checker: ChunkChecker, region: tuple[slice, ...]) -> bool:
    """True when the block's store key exists and decodes, every inner chunk of a shard
    included (a killed write leaves neither a complete chunk nor a valid shard index, so it
    reads as not done; zarr alone would read a zero-byte shard as the fill value)."""
    return not checker.check(_coords(checker, region))


def _coords(checker: ChunkChecker, region: tuple[slice, ...]) -> tuple[int, ...]:
    return tuple(s.start // g for s, g in zip(region, checker.grid))


def undone_blocks(array, regions: list[tuple[slice, ...]], progress: Progress, label: str) -> list[int]:
    """Indices of the blocks (one per region) a resumed run must write: those missing or not
    decoding, checked side by side. A damaged block's file is removed: zarr reads a block at
    the array's edge back before writing it (it covers part of a chunk or shard), and would
    fail on the damage instead of replacing it."""
    checker = ChunkChecker(array)
    progress.start(label, len(regions), "blocks")
    undone = []
    for j, done in enumerate(bounded_map(lambda region: block_done(checker, region), regions)):
        if not done:
            undone.append(j)
            (checker.folder / checker.key(_coords(checker, regions[j]))).unlink(missing_ok=True)
        progress.advance(label)
    progress.finish(label)
    return undone


#: zarr writes a chunk to `<chunk>.<uuid hex>.partial` and renames it: a run killed meanwhile
#: leaves that file behind.
_PARTIAL = re.compile(r".+\.[0-9a-f]{32}\.partial")


def remove_partial_writes(folder: Location) -> None:
    """Files of chunk writes a killed run never finished, removed before it is resumed: a
    finished store holds nothing an uninterrupted run would not have written. An object store
    has none: an object is put whole or not at all."""
    if isinstance(folder, Remote):
        return
    for path in folder.rglob("*.partial"):
        if _PARTIAL.fullmatch(path.name) and path.is_file():
            path.unlink(missing_ok=True)


def _write_block(block: np.ndarray, array, region: tuple[slice, ...],
                 hand_up: tuple[int, ...] | None, method: Downsample) -> np.ndarray | None:
    """Write one block; return what the level above needs of it (reduced by `hand_up`)."""
    with CLOCK.timing("compressing and writing"):
        array[region] = block
    if hand_up is None:
        return None
    with CLOCK.timing("downsampling"):
        return reduce_block(block, hand_up, method)


def _read_block(array, region: tuple[slice, ...], hand_up: tuple[int, ...], method: Downsample) -> np.ndarray:
    """A block an earlier run wrote, as its pending parent needs it."""
    return reduce_block(array[region], hand_up, method)


def _assemble(pieces: list[np.ndarray], counts: tuple[int, ...], step: tuple[int, ...] | None,
              method: Downsample) -> np.ndarray:
    """One block from the pieces its children handed up, in C order; reduced by `step` when
    the children could not reduce themselves."""
    nested = np.empty(counts, dtype=object)
    for index, piece in zip(np.ndindex(*counts), pieces):
        nested[index] = piece
    block = np.block(nested.tolist())
    return block if step is None else reduce_block(block, step, method)


class _Counter(Callback):
    """Advances each level's progress as its write tasks finish (in-process schedulers)."""

    def __init__(self, progress: Progress, labels: list[str], prefixes: set[str]) -> None:
        super().__init__()
        self.progress, self.labels, self.prefixes = progress, labels, prefixes

    def _posttask(self, key, result, dsk, state, worker_id) -> None:
        if isinstance(key, tuple) and key[0] in self.prefixes:
            self.progress.advance(self.labels[key[1]])


def _graph(level0: da.Array, pyramid: Pyramid, arrays: list, pending: list[set[int]], name: str):
    """Write task `(name, k, j)` for each pending block j of level k (numbered in C order); a
    read task for each written block a pending parent is made from. Returns the tasks and the
    keys nothing else depends on."""
    read = name + "-read"
    layer: dict = {}
    consumed: set = set()
    top = len(arrays) - 1
    for k, (array, todo) in enumerate(zip(arrays, pending)):
        parents = pending[k + 1] if k < top else set()
        needed = {pyramid.flat(k, c) for p in parents
                  for c in product(*pyramid.sources(k + 1, pyramid.index(k + 1, p)))}
        # a block reduces itself where it can; otherwise its parent reduces it with its siblings
        hand_up = pyramid.steps[k] if k < top and pyramid.local(k) else (1,) * len(pyramid.shapes[k])
        for j in sorted(todo | needed):
            index = pyramid.index(k, j)
            region = pyramid.region(k, index)
            if j not in todo:
                layer[(read, k, j)] = (_read_block, array, region, hand_up, pyramid.method)
                continue
            if k == 0:
                block = (level0.name, *index)
            else:
                sources = pyramid.sources(k, index)
                keys = [(name if c in pending[k - 1] else read, k - 1, c)
                        for c in (pyramid.flat(k - 1, s) for s in product(*sources))]
                consumed.update(keys)
                step = None if pyramid.local(k - 1) else pyramid.steps[k - 1]
                block = (_assemble, keys, tuple(map(len, sources)), step, pyramid.method)
            layer[(name, k, j)] = (_write_block, block, array, region,
                                   hand_up if j in needed else None, pyramid.method)
    return layer, [key for key in layer if key not in consumed]


def _client():
    """The dask.distributed client dask computes on now, or None for in-process schedulers."""
    owner = getattr(get_scheduler(), "__self__", None)
    if owner is None:
        return None
    from distributed import Client

    return owner if isinstance(owner, Client) else None


@dataclass(frozen=True)
class PyramidWrite:
    """One image's pyramid to write: block `pending[k][j]` of level k into `arrays[k]`, from
    `level0` chunked in level 0's write blocks."""

    level0: da.Array
    pyramid: Pyramid
    arrays: list
    pending: list[list[int]]


def store_pyramids(images: list[PyramidWrite], progress: Progress) -> None:
    """Compute and write the pending blocks of every image in one graph, so images too small
    to keep every core busy alone (the wells of a plate) run side by side; the memory bound
    per thread is that of one image (a thread works on one block chain at a time)."""
    layer, roots, names = {}, [], set()
    for image in images:
        todo = [set(p) for p in image.pending]
        name = "ngff-fuse-write-" + tokenize(image.level0.name, image.pyramid, todo)
        tasks, ends = _graph(image.level0, image.pyramid, image.arrays, todo, name)
        layer.update(tasks)
        roots += ends
        names.add(name)
    levels = max(len(image.arrays) for image in images)
    labels = [f"writing level {k}" for k in range(levels)]
    for k, label in enumerate(labels):
        count = sum(len(image.pending[k]) for image in images if k < len(image.pending))
        # level 0's rate is the fusion speed; the others follow it, their rate says nothing
        pixels = sum(float(np.prod(image.level0.shape)) / float(np.prod(image.level0.numblocks))
                     * len(image.pending[0]) for image in images) if k == 0 else 0.0
        progress.start(label, count, "chunks", pixels_per_item=pixels / max(1, count))
    dependencies = [image.level0 for image in images]
    client = _client()
    if client is None:
        # the written blocks are the result: the final task depends on the last of each chain
        final = "ngff-fuse-write-done-" + tokenize(sorted(names))
        layer[final] = (len, roots)
        with _Counter(progress, labels, names):
            Delayed(final, HighLevelGraph.from_collections(final, layer, dependencies=dependencies)).compute()
    else:
        graph = HighLevelGraph.from_collections("ngff-fuse-write-" + tokenize(sorted(names)), layer,
                                                dependencies=dependencies)
        keys = [key for key in layer if isinstance(key, tuple) and key[0] in names]
        _run_distributed(client, graph, keys, progress, labels)
    for label in labels:
        progress.finish(label)


def _run_distributed(client, graph, keys: list, progress: Progress, labels: list[str]) -> None:
    """Every write task (`keys`) as a future, counted as it completes; each future is dropped
    once counted, so the cluster frees a handed-up block as soon as its parent has used it."""
    from distributed import as_completed

    for future in as_completed(client.get(graph, keys, sync=False)):
        if future.status == "error":
            future.result()  # raises the task's exception here
        progress.advance(labels[future.key[1]])
