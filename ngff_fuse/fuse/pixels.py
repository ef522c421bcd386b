"""Tile regions for chunk tasks, read straight from the array a tile's dask array slices.

A chunk task reads a few tile regions. Through dask (slice the lazy array, then compute it
synchronously) each read builds, optimises and runs a small graph: ~3 ms a read, as much as
reading 2048 x 1024 pixels from the page cache. Most readers build their lazy pixels as
`da.from_array(source, inline_array=True)` does (one `getter(source, block)` task per block),
and then `source[region]` is exactly what dask would compute, without the graph. Any other
dask array (bioio's, `map_blocks`, lazily generated tiles) is read through `read_pixels`.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
# Private, on purpose: no public dask API hands back the source behind a block, and the public
# graphs cost 2.2x or hide it (benchmarks/README.md, "Private APIs"); floor pinned in pyproject.
from dask._task_spec import DataNode, Task
from dask.array.core import getter, slices_from_chunks
from dask.core import flatten

from ngff_fuse.errors import DamagedFile, NgffFuseError, reason
from ngff_fuse.model import read_pixels

_UNSEEN = object()


def sliced_source(array) -> object | None:
    """The array-like behind a dask array made of one `getter(source, block)` task per block
    (blocks in the source's own coordinates, no lock), else None."""
    if not isinstance(array, da.Array):
        return None
    layers = array.__dask_graph__().layers
    if len(layers) != 1:
        return None
    (layer,) = layers.values()
    source = None
    for key, block in zip(flatten(array.__dask_keys__()), slices_from_chunks(array.chunks)):
        task = layer.get(key)
        if not (isinstance(task, Task) and task.func is getter and not task.kwargs
                and len(task.args) == 2 and all(isinstance(a, DataNode) for a in task.args)):
            return None
        node, where = task.args
        if where.value != block or (source is not None and node.value is not source):
            return None
        source = node.value
    return source


class TilePixels:
    """The tiles' lazy arrays, shipped once per worker; reads one (t, c) region at a time.

    `names` (each tile's source) name the file in the one-line error a failed read becomes:
    a damaged tile is found only when fusion decodes it, deep inside a dask task."""

    def __init__(self, arrays: tuple, names: tuple[str, ...] = ()) -> None:
        self.arrays = arrays
        self.names = names
        self._sources: dict[int, object] = {}  # filled per process, on first read of a tile

    def read(self, index: int, t: int, c: int, box: tuple[slice, slice, slice]) -> np.ndarray:
        try:
            return self._read(index, (t, c, *box))
        except (MemoryError, NgffFuseError):
            raise
        except Exception as exc:  # decoders, tifffile, vendor readers and I/O all raise their own
            name = self.names[index] if index < len(self.names) else f"tile {index}"
            if isinstance(exc, OSError) and exc.errno is not None:  # the machine's, not the file's
                raise OSError(exc.errno, exc.strerror, name) from exc
            raise DamagedFile(
                f"{name}: reading its pixels failed ({reason(exc)}); the file may be damaged: "
                "check it, or copy it again"
            ) from exc

    def _read(self, index: int, key: tuple) -> np.ndarray:
        source = self._sources.get(index, _UNSEEN)
        if source is _UNSEEN:
            source = self._sources[index] = sliced_source(self.arrays[index])
        if source is None:
            return read_pixels(self.arrays[index], key)
        return np.asarray(getter(source, key))
