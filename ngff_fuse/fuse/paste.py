"""Chunks that only translated tiles reach: paste where one tile covers, blend where several do.

Most of a mosaic is covered by one tile only, and there every blend mode gives that tile's
value: it is copied straight into the output dtype (integer offsets: a slice copy, no float
at all). The chunk is cut along the edges of the tiles' footprints into cells, each covered by
one fixed set of tiles, and only cells with two or more tiles run a fuser. Each pixel goes
through the same arithmetic, in the same tile order, as in the general path
(`core.blend_chunk`), so both give the same bytes; `tests/test_fuse_paths.py` checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import product

import numpy as np

from ngff_fuse.fuse.blend import (
    BlendMode, accumulator_dtype, cast_to, edge_weighting, holds_exactly, new_fuser, relative_weights,
    score_dtype,
)
from ngff_fuse.fuse.sample import Piece, edge_scores, translated_piece

Box = tuple[slice, slice, slice]
ReadTile = Callable[[int, Box], np.ndarray]


def paste_chunk(task, read_tile: ReadTile) -> np.ndarray:
    """Fuse one (z, y, x) chunk of a `core.ChunkTask` whose placements are all translations."""
    start, stop = np.asarray(task.start), np.asarray(task.stop)
    shape = tuple(int(n) for n in stop - start)
    acc = accumulator_dtype(task.dtype)
    pieces, scores = [], []
    weighting = edge_weighting(task.blend, task.widths)
    for placement in task.placements:
        def read(box, index=placement.index):
            return read_tile(index, box)

        piece = translated_piece(placement, start, stop, read, acc)
        if piece is not None:
            pieces.append(piece)
            scores.append(None if weighting is None else piece.scores(placement.shape, weighting))
    kernel = _CellKernel(task, acc, pieces, scores, np.empty(shape, dtype=task.dtype))
    for cell, members in cells(shape, [p.box for p in pieces]):
        kernel.fill(cell, members)
    return kernel.out


def cells(shape: tuple[int, ...], boxes: list[Box]) -> Iterator[tuple[Box, list[int]]]:
    """Cut a chunk along every box edge; yields each cell and the boxes that cover it."""
    intervals, covers = [], []
    for a, n in enumerate(shape):
        cuts = sorted({0, n, *(b[a].start for b in boxes), *(b[a].stop for b in boxes)})
        spans = list(zip(cuts[:-1], cuts[1:]))
        intervals.append(spans)
        covers.append(np.array([[b[a].start <= lo and hi <= b[a].stop for lo, hi in spans]
                                for b in boxes], dtype=bool).reshape(len(boxes), len(spans)))
    for index in product(*(range(len(s)) for s in intervals)):
        inside = covers[0][:, index[0]] & covers[1][:, index[1]] & covers[2][:, index[2]]
        cell = tuple(slice(*intervals[a][i]) for a, i in enumerate(index))
        yield cell, [int(i) for i in np.flatnonzero(inside)]


class _CellKernel:
    """Writes the fused values of one cell (or part of one) into `out`."""

    def __init__(self, task, acc: np.dtype, pieces: list[Piece], scores: list, out: np.ndarray):
        self.task, self.acc, self.pieces, self.scores, self.out = task, acc, pieces, scores, out
        self.fill_value = cast_to(np.array([task.fill], dtype=acc), task.dtype)[0]

    def local(self, i: int, cell: Box) -> Box:
        """`cell` in the coordinates of piece i."""
        return tuple(slice(c.start - b.start, c.stop - b.start) for c, b in zip(cell, self.pieces[i].box))

    def fill(self, cell: Box, members: list[int]) -> None:
        if not members:
            self.out[cell] = self.fill_value
        elif self.task.blend is BlendMode.FIRST or len(members) == 1:
            self.paste(cell, members[0])  # one tile: its feather weight is exactly 1 (w v / w)
        else:
            self.blend(cell, members)

    def paste(self, cell: Box, i: int) -> None:
        """One tile's value, as the output dtype: what any fuser gives a pixel only it covers."""
        piece, dtype = self.pieces[i], self.out.dtype
        values = piece.values[self.local(i, cell)]
        exact_in_acc = holds_exactly(self.acc, dtype)
        if piece.exact and values.dtype == dtype and exact_in_acc:
            self.out[cell] = values
        elif not piece.exact and piece.pixel_dtype == dtype and dtype.kind in "ui" and exact_in_acc:
            # Linear steps between pixels of `dtype` never leave their range, so cast_to's clip
            # would change nothing: round in place, convert while copying into the chunk.
            self.out[cell] = np.rint(values, out=values)
        else:  # a float copy for an exact piece; a resampled piece's own pixels otherwise
            self.out[cell] = cast_to(values.astype(self.acc) if piece.exact else values, dtype)

    def blend(self, cell: Box, members: list[int]) -> None:
        shape = tuple(c.stop - c.start for c in cell)
        fuser = new_fuser(self.task.blend, shape, self.task.dtype)
        whole = (slice(None),) * 3
        locals_ = {i: self.local(i, cell) for i in members}
        scores = {}
        if self.scores[members[0]] is not None:
            kind = score_dtype(self.acc)
            scores = {i: edge_scores([s[k] for s, k in zip(self.scores[i], locals_[i])], kind) for i in members}
            best = np.maximum.reduce(list(scores.values()))
        for i in members:
            piece = self.pieces[i]
            values = piece.values[locals_[i]]
            # the fuser may overwrite its values: a copy of an exact piece (the tile's pixels),
            # a resampled piece's own pixels otherwise (no other cell reads them)
            values = values.astype(self.acc) if piece.exact else values
            weights = relative_weights(scores[i], best, self.acc) if scores else None
            fuser.add(whole, values, weights, None)
        self.out[cell] = fuser.result(self.task.fill, self.task.dtype)
