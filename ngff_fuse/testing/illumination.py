"""Synthetic acquisitions seen through a known vignetting, dark offset and tile gains, and the
error measure the illumination tests and benchmarks use."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ngff_fuse.testing import SyntheticMosaic, synthetic_mosaic


@dataclass(frozen=True)
class VignettedMosaic:
    mosaic: SyntheticMosaic  # its tiles as the camera saw them; its truth as the scene is
    flat: np.ndarray  # (y, x) the true vignetting, mean 1
    dark: float  # the true dark offset
    gains: np.ndarray  # (tiles,) the true gain of each tile


def vignetting(shape: tuple[int, int], corners: float = 0.6) -> np.ndarray:
    """A radial bowl, 1 at the centre and `corners` at the corners, divided by its mean."""
    u = 2 * (np.arange(shape[0]) + 0.5) / shape[0] - 1
    v = 2 * (np.arange(shape[1]) + 0.5) / shape[1] - 1
    r2 = u[:, None] ** 2 + v[None, :] ** 2
    flat = 1 - (1 - corners) * r2 / r2.max()
    return flat / flat.mean()


def vignetted_mosaic(grid=(5, 5), tile_shape=(160, 192), corners: float = 0.6, dark: float = 300.0,
                     gain_spread: float = 0.0, read_noise: float = 2.0, channels: int = 1,
                     overlap: float = 0.15, seed: int = 3) -> VignettedMosaic:
    """`synthetic_mosaic`'s tiles times a vignetting and a gain per tile, plus a dark offset and
    Gaussian read noise, rounded to uint16."""
    mosaic = synthetic_mosaic(grid=grid, tile_shape=tile_shape, overlap=overlap, jitter=2 if overlap else 0,
                              seed=seed, channels=channels)
    flat = vignetting(tile_shape, corners)
    rng = np.random.default_rng(seed)
    gains = rng.uniform(1 - gain_spread, 1 + gain_spread, len(mosaic.tiles))
    tiles = []
    for tile, gain in zip(mosaic.tiles, gains):
        seen = tile.data * flat * gain + dark + rng.normal(0, read_noise, tile.data.shape)
        tiles.append(replace(tile, data=np.clip(np.rint(seen), 0, 65535).astype(np.uint16)))
    return VignettedMosaic(replace(mosaic, tiles=tuple(tiles)), flat, dark, gains)


def covered(mosaic: SyntheticMosaic) -> tuple[tuple[slice, ...], np.ndarray]:
    """The truth's (y, x) box the fused mosaic spans, and which of its pixels a tile covers."""
    first, stop = mosaic.truth_extent()
    mask = np.zeros(tuple(stop - first)[1:], dtype=bool)
    for tile in mosaic.tiles:
        low = np.rint(tile.pixel_offset).astype(int)[1:] - first[1:]
        mask[low[0]:low[0] + tile.data.shape[3], low[1]:low[1] + tile.data.shape[4]] = True
    return (slice(first[1], stop[1]), slice(first[2], stop[2])), mask


def relative_rms(fused: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """RMS of fused - truth over `mask`, after the one gain and offset that fit them best, as a
    fraction of the truth's mean: what the correction got wrong beyond the overall level."""
    values, target = np.asarray(fused, dtype=float)[mask], np.asarray(truth, dtype=float)[mask]
    design = np.stack([values, np.ones(values.size)], axis=1)
    fit = np.linalg.lstsq(design, target, rcond=None)[0]
    return float(np.sqrt(np.mean((design @ fit - target) ** 2)) / target.mean())
