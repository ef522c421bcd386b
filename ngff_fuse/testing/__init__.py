"""Synthetic acquisitions with a known ground truth, for tests, examples, demo and benchmarks.

A realistic image (structure at several scales plus shot noise) is cut into an overlapping grid
of tiles at jittered, optionally sub-pixel, stage positions. Fusing the tiles must give the
image back: exactly for integer positions, within interpolation error for sub-pixel ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ngff_fuse._axes import present_dims


@dataclass(frozen=True)
class SyntheticTile:
    data: np.ndarray  # (t, c, z, y, x)
    position: tuple[float, float, float]  # physical (z, y, x) um of the tile's first pixel
    pixel_offset: tuple[float, float, float]  # the same in pixels of the ground truth


@dataclass(frozen=True)
class SyntheticMosaic:
    truth: np.ndarray  # (t, c, z, y, x); pixel (0, 0, 0) sits at `origin`
    tiles: tuple[SyntheticTile, ...]
    spacing: tuple[float, float, float]  # pixel size (z, y, x) um
    origin: tuple[float, float, float]  # physical position (um) of truth pixel (0, 0, 0)
    channel_names: tuple[str, ...]

    @property
    def dims(self) -> tuple[str, ...]:
        return present_dims(self.truth.shape)

    def truth_extent(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel box of the truth that the tiles cover: (first, stop) per (z, y, x)."""
        offsets = np.array([t.pixel_offset for t in self.tiles])
        shapes = np.array([t.data.shape[2:] for t in self.tiles])
        first = np.ceil(offsets.min(axis=0) - 1e-9).astype(int)
        stop = np.floor((offsets + shapes - 1).max(axis=0) + 1e-9).astype(int) + 1
        return first, stop

    def covered_truth(self) -> tuple[np.ndarray, np.ndarray]:
        """The truth cut to `truth_extent`, and which of its (z, y, x) pixels some tile covers
        (a jittered grid leaves corners uncovered); for whole-pixel tile offsets."""
        first, stop = self.truth_extent()
        covered = np.zeros(tuple(stop - first), dtype=bool)
        for tile in self.tiles:
            low = np.rint(tile.pixel_offset).astype(int) - first
            covered[tuple(slice(a, a + n) for a, n in zip(low, tile.data.shape[2:]))] = True
        return self.truth[(slice(None), slice(None), *map(slice, first, stop))], covered


def ground_truth(
    shape: tuple[int, ...], dtype=np.uint16, seed: int = 0, smooth: bool = False
) -> np.ndarray:
    """A microscopy-like image of `shape` (t, c, z, y, x): cells, fibres, background, noise.

    `smooth` leaves out the per-pixel shot noise, for sub-pixel tests that should measure the
    interpolation of positions rather than the (unrecoverable) resampling of noise.
    """
    rng = np.random.default_rng(seed)
    t, c, z, y, x = shape
    out = np.empty(shape, dtype=dtype)
    top = 4000.0 if np.dtype(dtype).itemsize > 1 else 200.0
    for ti in range(t):
        for ci in range(c):
            field = np.zeros((z, y, x))
            for sigma, weight in ((24.0, 0.5), (6.0, 0.35), (1.5, 0.15)):
                # a blur wider than the image would leave a constant: cap it per axis
                sig = tuple(min(sigma, max(n / 4, 0.5)) for n in (z, y, x))
                layer = ndimage.gaussian_filter(rng.standard_normal((z, y, x)), sig, mode="wrap")
                layer = (layer - layer.mean()) / (layer.std() or 1.0)  # unit variance, zero mean
                field += weight * layer
            field = np.clip(field + 1.0, 0, None) ** 2
            field = field / field.max() * top + top * 0.05 * (ci + 1)
            if not smooth:
                field = rng.poisson(field).astype(float)
            out[ti, ci] = np.clip(np.rint(field), 0, np.iinfo(dtype).max if out.dtype.kind in "ui" else None)
    return out


def synthetic_mosaic(
    grid: tuple[int, int] | tuple[int, int, int] = (2, 3),
    tile_shape: tuple[int, int] | tuple[int, int, int] = (64, 80),
    overlap: float = 0.15,
    jitter: float = 3.0,
    subpixel: bool = False,
    channels: int = 1,
    timepoints: int = 1,
    spacing: tuple[float, float, float] = (2.0, 0.65, 0.65),
    origin: tuple[float, float, float] = (10.0, -1234.5, 5678.25),
    dtype=np.uint16,
    smooth: bool = False,
    seed: int = 0,
) -> SyntheticMosaic:
    """Cut a ground-truth image into a jittered overlapping grid of tiles.

    2-D grids and tile shapes (y, x) give 2-D tiles; 3-D ones (z, y, x) cut z as well.
    With `subpixel`, stage positions carry fractional pixels and each tile samples the truth
    by linear interpolation, as a camera would at that position.
    """
    grid3 = (1, *grid) if len(grid) == 2 else tuple(grid)
    shape3 = (1, *tile_shape) if len(tile_shape) == 2 else tuple(tile_shape)
    rng = np.random.default_rng(seed + 1)
    steps = [max(1, round(n * (1 - overlap))) if g > 1 else 0 for n, g in zip(shape3, grid3)]
    margin = int(np.ceil(jitter)) + 2
    truth_shape = [
        (g - 1) * s + n + 2 * margin if g > 1 else n for g, s, n in zip(grid3, steps, shape3)
    ]
    truth = ground_truth((timepoints, channels, *truth_shape), dtype=dtype, seed=seed, smooth=smooth)
    tiles = []
    for index in np.ndindex(*grid3):
        offset = []
        for axis, i in enumerate(index):
            if grid3[axis] == 1:
                offset.append(0.0)
                continue
            shift = rng.uniform(-jitter, jitter)
            offset.append(margin + i * steps[axis] + (shift if subpixel else round(shift)))
        data = _sample(truth, offset, shape3)
        position = tuple(o + p * s for o, p, s in zip(origin, offset, spacing))
        tiles.append(SyntheticTile(data=data, position=position, pixel_offset=tuple(offset)))
    names = tuple(f"Ch{i}-{w}" for i, w in zip(range(channels), (488, 561, 640, 405) * 4))
    return SyntheticMosaic(
        truth=truth, tiles=tuple(tiles), spacing=tuple(spacing), origin=tuple(origin),
        channel_names=names,
    )


def _sample(truth: np.ndarray, offset, shape3) -> np.ndarray:
    """The tile whose pixel j shows the truth at offset + j (linear interpolation if fractional)."""
    whole = [float(o).is_integer() for o in offset]
    if all(whole):
        box = tuple(slice(int(o), int(o) + n) for o, n in zip(offset, shape3))
        return truth[(slice(None), slice(None), *box)].copy()
    # Crop one pixel more than the tile, then shift by the fractional part only.
    start = [int(np.floor(o)) for o in offset]
    frac = [o - s for o, s in zip(offset, start)]
    box = tuple(slice(s, min(s + n + 1, size)) for s, n, size in zip(start, shape3, truth.shape[2:]))
    out = np.empty(truth.shape[:2] + tuple(shape3), dtype=truth.dtype)
    for ti, ci in np.ndindex(*truth.shape[:2]):
        region = truth[(ti, ci, *box)].astype(np.float64)
        moved = ndimage.shift(region, [-f for f in frac], order=1, mode="nearest")
        out[ti, ci] = moved[tuple(slice(0, n) for n in shape3)].round().astype(truth.dtype)
    return out


def in_memory_tileset(mosaic: SyntheticMosaic, order: list[int] | None = None, affines=None):
    """The mosaic's tiles as a TileSet straight from memory, optionally reordered, or placed
    by explicit affines (pixel index -> um) instead of their stage positions."""
    from ngff_fuse import transforms
    from ngff_fuse.model import Tile, TileSet, TileSource, tile_array

    order = list(range(len(mosaic.tiles))) if order is None else order
    tiles = []
    for i in order:
        tile = mosaic.tiles[i]
        affine = transforms.placement(mosaic.spacing, tile.position) if affines is None else affines[i]
        tiles.append(Tile(
            data=tile_array(tile.data, mosaic.spacing, tile.position, f"tile {i}", mosaic.channel_names),
            affine=affine, name=f"tile {i}", source=TileSource(f"memory tile {i}"),
        ))
    return TileSet(
        tiles=tuple(tiles), spacing=mosaic.spacing, dims=mosaic.dims, name="synthetic",
        channel_names=mosaic.channel_names, position_source="synthetic positions",
    )
