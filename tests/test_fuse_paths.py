"""The paste path (translated tiles: copy where one tile covers, blend only on overlaps) gives
the general path's bytes, chunk by chunk, for every blend mode and layout."""

from __future__ import annotations

import numpy as np
import pytest

from ngff_fuse.fuse.blend import BlendMode
from ngff_fuse.fuse.core import blend_chunk, chunk_tasks
from ngff_fuse.fuse.paste import cells, paste_chunk
from ngff_fuse.fuse.pixels import TilePixels
from ngff_fuse.fuse.plan import plan_fusion
from ngff_fuse.fuse.sample import translated_piece
from ngff_fuse.testing import SyntheticMosaic, in_memory_tileset, synthetic_mosaic


def noisy_mosaic(threed: bool, subpixel: bool, dtype, seed: int) -> SyntheticMosaic:
    """A jittered grid whose tiles disagree everywhere (independent noise), so every overlap
    pixel depends on the blend and its arithmetic; some tiles are missing, leaving holes."""
    if threed:
        mosaic = synthetic_mosaic(grid=(2, 2, 2), tile_shape=(12, 26, 30), overlap=0.35, jitter=1.5,
                                  subpixel=subpixel, dtype=dtype, seed=seed)
    else:
        mosaic = synthetic_mosaic(grid=(3, 3), tile_shape=(40, 46), overlap=0.25, jitter=3.5,
                                  subpixel=subpixel, dtype=dtype, seed=seed, channels=2)
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "ui" else None
    kept = mosaic.tiles if threed else mosaic.tiles[:-1]  # 2-D: the last tile missing, a hole
    tiles = []
    for tile in kept:
        if info is None:
            data = rng.normal(100, 30, tile.data.shape).astype(dtype)
        else:
            data = rng.integers(info.min, info.max, tile.data.shape, endpoint=True, dtype=dtype)
        tiles.append(type(tile)(data=data, position=tile.position, pixel_offset=tile.pixel_offset))
    return SyntheticMosaic(mosaic.truth, tuple(tiles), mosaic.spacing, mosaic.origin,
                           mosaic.channel_names)


CHUNKS = {  # chunk edges cutting through overlaps, single tiles and corners; one whole chunk
    False: [(1, 9, 11), (1, 30, 17), (1, 1024, 1024)],
    True: [(3, 9, 11), (16, 22, 25)],
}
BLENDS = [b.value for b in BlendMode]


@pytest.mark.parametrize("blend", BLENDS)
@pytest.mark.parametrize("subpixel", [False, True], ids=["integer", "subpixel"])
@pytest.mark.parametrize("threed", [False, True], ids=["2d", "3d"])
def test_paste_path_gives_the_general_path_bytes(blend, subpixel, threed):
    assert_same_bytes(noisy_mosaic(threed, subpixel, np.uint16, seed=0), blend, CHUNKS[threed],
                      corner=8 if threed else 4)


@pytest.mark.parametrize("blend", BLENDS)
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.uint64, np.int64, np.float64],
                         ids=["uint8", "int16", "float32", "uint64", "int64", "float64"])
def test_paste_path_gives_the_general_path_bytes_for_other_dtypes(blend, dtype):
    assert_same_bytes(noisy_mosaic(False, True, dtype, seed=1), blend, CHUNKS[False], corner=4)


def assert_same_bytes(mosaic: SyntheticMosaic, blend: str, chunks, corner: int) -> None:
    tileset = in_memory_tileset(mosaic)
    pixels = TilePixels(tuple(t.data.data for t in tileset.tiles))
    most_tiles_in_a_cell = 0
    for chunk in chunks:
        plan = plan_fusion(tileset, chunk)
        for _, task in chunk_tasks(tileset, plan, BlendMode(blend), fill=3):
            def read_tile(index, box, task=task):
                return pixels.read(index, task.t, task.c, box)

            assert all(p.offset is not None for p in task.placements)
            fast = paste_chunk(task, read_tile)
            general = blend_chunk(task, read_tile)
            assert fast.dtype == general.dtype == tileset.dtype
            assert fast.tobytes() == general.tobytes(), f"chunk {chunk} at {task.start}"
            most_tiles_in_a_cell = max(most_tiles_in_a_cell, deepest_cell(task))
    # the chunkings reach the corners where all neighbours overlap
    assert most_tiles_in_a_cell == corner


def deepest_cell(task) -> int:
    """The most tiles covering one cell of this chunk."""
    start, stop = np.asarray(task.start), np.asarray(task.stop)
    boxes = []
    for p in task.placements:
        piece = translated_piece(p, start, stop, lambda box: np.zeros([s.stop - s.start for s in box]),
                                 np.dtype(np.float32))
        if piece is not None:
            boxes.append(piece.box)
    shape = tuple(int(n) for n in stop - start)
    return max((len(members) for _, members in cells(shape, boxes)), default=0)


def test_cells_partition_the_chunk_by_coverage():
    boxes = [(slice(0, 1), slice(0, 6), slice(0, 5)), (slice(0, 1), slice(4, 10), slice(3, 8))]
    seen = np.zeros((1, 10, 8), dtype=int)
    for cell, members in cells((1, 10, 8), boxes):
        seen[cell] += 1
        expected = [i for i, b in enumerate(boxes)
                    if all(b[a].start <= cell[a].start and cell[a].stop <= b[a].stop for a in range(3))]
        assert members == expected
    assert np.all(seen == 1)  # every pixel in exactly one cell
