"""Writing pyramid blocks into zarr arrays, skipping blocks a previous run already wrote.

Every write block is exactly one zarr chunk, or one shard when sharding, so no two tasks
ever write the same store key and a block is done exactly when its key decodes.
"""

from __future__ import annotations

import os
import signal
import threading
from itertools import product

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.callbacks import Callback
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from ngff_fuse.progress import Progress

#: Test hook: SIGKILL this process after writing this many blocks (a crash at a known point).
KILL_AFTER_ENV = "NGFF_FUSE_TEST_KILL_AFTER_BLOCKS"
_written = 0
_written_lock = threading.Lock()


def block_regions(level: da.Array) -> list[tuple[slice, ...]]:
    bounds = [np.concatenate([[0], np.cumsum(c)]) for c in level.chunks]
    return [
        tuple(slice(int(b[i]), int(b[i + 1])) for b, i in zip(bounds, index))
        for index in product(*(range(len(c)) for c in level.chunks))
    ]


def block_done(array, region: tuple[slice, ...]) -> bool:
    """True when the block's store key exists and decodes (a killed write leaves neither a
    complete chunk nor a valid shard index, so it reads as not done)."""
    grid = array.shards or array.chunks
    coords = tuple(s.start // g for s, g in zip(region, grid))
    key = array.metadata.encode_chunk_key(coords)
    path = os.path.join(str(array.store_path.store.root), array.store_path.path, key)
    if not os.path.exists(path):
        return False
    try:
        array[region]
    except Exception:  # any decoding failure means the block must be written again
        return False
    return True


def _write_block(block: np.ndarray, array, region: tuple[slice, ...]) -> int:
    array[region] = block
    limit = os.environ.get(KILL_AFTER_ENV)
    if limit:
        global _written
        with _written_lock:
            _written += 1
            if _written >= int(limit):
                os.kill(os.getpid(), signal.SIGKILL)
    return 1


class _Counter(Callback):
    """Advances each level's progress as its write tasks finish (in-process schedulers)."""

    def __init__(self, progress: Progress, labels: list[str], prefix: str) -> None:
        super().__init__()
        self.progress, self.labels, self.prefix = progress, labels, prefix

    def _posttask(self, key, result, dsk, state, worker_id) -> None:
        if isinstance(key, tuple) and key[0] == self.prefix:
            self.progress.advance(self.labels[key[1]])


def store_blocks(
    levels: list[da.Array],
    arrays: list,
    pending: list[list[int]],
    progress: Progress,
) -> None:
    """Compute and write block `pending[k][j]` of `levels[k]` into `arrays[k]`, all levels in
    one graph so level k+1 reuses the level-k blocks it is made from."""
    name = "ngff-fuse-write-" + tokenize([lv.name for lv in levels], pending)
    layer: dict = {}
    for k, (level, array, indices) in enumerate(zip(levels, arrays, pending)):
        regions = block_regions(level)
        keys = list(product(*(range(len(c)) for c in level.chunks)))
        for j in indices:
            layer[(name, k, j)] = (_write_block, (level.name, *keys[j]), array, regions[j])
    final = name + "-done"
    layer[final] = (sum, list(layer))
    graph = HighLevelGraph.from_collections(final, layer, dependencies=levels)
    labels = [f"writing level {k}" for k in range(len(levels))]
    for k, (label, level, indices) in enumerate(zip(labels, levels, pending)):
        # level 0's rate is the fusion speed; the others follow it, their rate says nothing
        per_block = float(np.prod(level.shape) / np.prod(level.numblocks)) if k == 0 else 0.0
        progress.start(label, len(indices), "chunks", pixels_per_item=per_block)
    with _Counter(progress, labels, name):
        Delayed(final, graph).compute()
    for label in labels:
        progress.finish(label)
