"""A real image cut into a grid of tiles with small, uneven overlaps and an exact truth, then
placed at jittered stage positions: registration judged on real content, not on a generator's.

    image = convallaria(shared / "realdata" / "czi-convallaria" / "mosaic_test.czi")
    mosaic = cut_grid(image, grid=(5, 5), tile_shape=(122, 245), overlaps=(4, 15), seed=0)
    stage = jittered(mosaic, error_px=20.0, seed=0)   # a TileSet to register
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ngff_fuse import transforms
from ngff_fuse.model import TileSet
from ngff_fuse.testing import SyntheticMosaic, SyntheticTile, in_memory_tileset

#: Where the second tile of the Convallaria CZI sits in the first one's pixels (y, x), as
#: registration measures it (tests/test_register.py::test_czi_convallaria_two_tiles), rounded.
CONVALLARIA_OFFSET = (-2, 825)
#: The column of the first tile where the image switches to the second one (inside the overlap).
CONVALLARIA_SEAM = 900


def convallaria(path: Path) -> np.ndarray:
    """The real widefield Convallaria section of the Zeiss CZI (2 tiles) as one 2-D uint16
    image, 622 x 1749 px: the first tile up to the seam, the second one beyond it, at their
    measured whole-pixel offset, so the image holds no blend and no doubled structure."""
    from ngff_fuse.readers import read_input

    (tileset,) = read_input(path)
    first, second = (np.asarray(tile.data.values[0, 0, 0]) for tile in tileset.tiles)
    dy, dx = CONVALLARIA_OFFSET
    rows = first.shape[0] + dy
    return np.concatenate(
        [first[:rows, :CONVALLARIA_SEAM], second[-dy:, CONVALLARIA_SEAM - dx:]], axis=1
    )


def cut_grid(
    image: np.ndarray, grid: tuple[int, int], tile_shape: tuple[int, int],
    overlaps: tuple[int, int], seed: int,
) -> SyntheticMosaic:
    """Tiles of `tile_shape` (y, x) in a `grid` (rows, columns), each seam's overlap drawn
    uniformly from `overlaps` (first, last px), cut from the bottom right of `image` (where
    the Convallaria section fills the frame). Positions are exact whole pixels (1 um each)."""
    rng = np.random.default_rng(seed)
    starts = []
    for count, edge in zip(grid, tile_shape):
        steps = edge - rng.integers(overlaps[0], overlaps[1] + 1, count - 1)
        starts.append(np.concatenate([[0], np.cumsum(steps)]))
    extent = [int(s[-1]) + edge for s, edge in zip(starts, tile_shape)]
    if any(e > n for e, n in zip(extent, image.shape)):
        raise ValueError(f"a {grid} grid of {tile_shape} tiles needs {extent} px; image is {image.shape}")
    y0, x0 = (n - e for n, e in zip(image.shape, extent))
    tiles = []
    for y in starts[0]:
        for x in starts[1]:
            box = image[y0 + y : y0 + y + tile_shape[0], x0 + x : x0 + x + tile_shape[1]]
            position = (0.0, float(y), float(x))
            tiles.append(SyntheticTile(box[None, None, None].copy(), position, position))
    return SyntheticMosaic(
        truth=image[None, None, None], tiles=tuple(tiles), spacing=(1.0, 1.0, 1.0),
        origin=(0.0, float(-y0), float(-x0)), channel_names=("widefield",),
    )


def jittered(mosaic: SyntheticMosaic, error_px: float, seed: int) -> TileSet:
    """The mosaic's tiles at stage positions off the truth by a uniform +-error_px in y and x."""
    rng = np.random.default_rng(seed)
    errors = rng.uniform(-error_px, error_px, size=(len(mosaic.tiles), 2))
    affines = [
        transforms.placement(mosaic.spacing, np.add(tile.position, (0.0, *error)))
        for tile, error in zip(mosaic.tiles, errors)
    ]
    return in_memory_tileset(mosaic, affines=affines)


def errors_px(tileset: TileSet, mosaic: SyntheticMosaic) -> np.ndarray:
    """Each tile's distance (px) from the truth, the mosaic's common offset taken out by the
    median (a mosaic's absolute place is invisible in its pixels; the median ignores the
    misplaced tiles it is to expose)."""
    spacing = np.asarray(mosaic.spacing)
    found = np.array([t.origin for t in tileset.tiles]) / spacing
    truth = np.array([t.position for t in mosaic.tiles]) / spacing
    error = found - truth
    return np.linalg.norm(error - np.median(error, axis=0), axis=1)
