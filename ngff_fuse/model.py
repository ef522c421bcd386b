"""Tiles, tile sets and the output grid: frozen dataclasses around xarray DataArrays.

Every tile is 5-D (t, c, z, y, x) inside ngff-fuse; `TileSet.dims` remembers which of those
axes the source really has, so the output is written with the same axes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dask.array as da
import numpy as np
import xarray as xr

from ngff_fuse import transforms
from ngff_fuse._axes import AXES, MICROMETER, SPATIAL
from ngff_fuse.errors import InputError


def tile_array(data, spacing, origin, name: str, channel_names=None) -> xr.DataArray:
    """Wrap 5-D (t, c, z, y, x) lazy pixels as a DataArray with physical coordinates (um)."""
    if data.ndim != 5:
        raise ValueError(f"tile data must be 5-D (t, c, z, y, x), got shape {data.shape}")
    if not isinstance(data, da.Array):
        data = da.from_array(data, chunks=(1, 1, 1, *data.shape[3:]))
    coords = {
        ax: origin[i] + spacing[i] * np.arange(data.shape[2 + i]) for i, ax in enumerate(SPATIAL)
    }
    if channel_names is not None:
        coords["c"] = list(channel_names)
    return xr.DataArray(data, dims=AXES, coords=coords, name=name, attrs={"units": MICROMETER})


def read_pixels(data, key: tuple) -> np.ndarray:
    """A small region of lazy pixels, read now in this thread. Inside a dask task the slice is
    computed synchronously, so it never goes back to the (possibly distributed) scheduler."""
    region = data[key]
    if isinstance(region, da.Array):
        return region.compute(scheduler="sync")
    return np.asarray(region)


@dataclass(frozen=True)
class Tile:
    """One tile: lazy pixels and the affine from its pixel index (z, y, x) to physical um."""

    data: xr.DataArray
    affine: np.ndarray
    name: str
    source: str

    @property
    def spatial_shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.data.shape[2:])

    def physical_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest physical coordinate of any pixel centre, per axis (z, y, x)."""
        corners = transforms.apply(self.affine, transforms.box_corners(self.spatial_shape))
        return corners.min(axis=0), corners.max(axis=0)

    @property
    def origin(self) -> np.ndarray:
        """Physical position (um) of the tile's first pixel."""
        return self.affine[:3, 3].copy()


@dataclass(frozen=True)
class TileSet:
    """The tiles of one mosaic (one scene) and what they share."""

    tiles: tuple[Tile, ...]
    spacing: tuple[float, float, float]  # pixel size (z, y, x), in `unit`
    dims: tuple[str, ...]  # axes the source has, a subsequence of AXES ending in y, x
    name: str = "mosaic"
    unit: str | None = MICROMETER  # None: uncalibrated, positions and sizes are in pixels
    channel_names: tuple[str, ...] = ()
    channel_colors: tuple[str | None, ...] = ()
    position_source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.tiles:
            raise InputError(f"{self.name}: no tiles found; check the input lists at least one tile")
        for tile in self.tiles:
            if not np.all(np.isfinite(tile.affine)):
                raise InputError(
                    f"{tile.source}: position {tile.origin.tolist()} is not a finite number; "
                    "fix the tile's stage position"
                )
        seen: dict[bytes, Tile] = {}
        for tile in self.tiles:
            key = np.round(tile.affine, 6).tobytes()
            if key in seen:
                raise InputError(
                    f"{tile.source}: same position as {seen[key].source} "
                    f"({tile.origin.tolist()}); give each tile its own position"
                )
            seen[key] = tile
        first = self.tiles[0]
        for tile in self.tiles[1:]:
            if tile.data.dtype != first.data.dtype:
                raise InputError(
                    f"{tile.source}: dtype {tile.data.dtype} differs from {first.data.dtype} of "
                    f"{first.source}; convert the tiles to one dtype first"
                )
            if tile.data.shape[:2] != first.data.shape[:2]:
                raise InputError(
                    f"{tile.source}: {tile.data.shape[1]} channels x {tile.data.shape[0]} "
                    f"timepoints differ from {first.data.shape[1]} x {first.data.shape[0]} of "
                    f"{first.source}; every tile needs the same channels and timepoints"
                )
        if not self.channel_names:
            object.__setattr__(
                self, "channel_names", tuple(f"Channel {i}" for i in range(self.n_channels))
            )
        if not self.channel_colors:
            object.__setattr__(self, "channel_colors", (None,) * self.n_channels)

    @property
    def dtype(self) -> np.dtype:
        return self.tiles[0].data.dtype

    @property
    def n_channels(self) -> int:
        return int(self.tiles[0].data.shape[1])

    @property
    def n_timepoints(self) -> int:
        return int(self.tiles[0].data.shape[0])

    @property
    def is_3d(self) -> bool:
        return "z" in self.dims

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Physical extent of all pixel centres: (lowest, highest) per axis (z, y, x)."""
        lows, highs = zip(*(tile.physical_bounds() for tile in self.tiles))
        return np.min(lows, axis=0), np.max(highs, axis=0)


@dataclass(frozen=True)
class OutputGrid:
    """The fused mosaic's pixel grid: pixel (0, 0, 0) sits at `origin`, steps of `spacing`."""

    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    shape: tuple[int, int, int]

    @property
    def affine(self) -> np.ndarray:
        return transforms.placement(self.spacing, self.origin)
