"""Tiles, tile sets and the output grid: frozen dataclasses around xarray DataArrays.

Every tile is 5-D (t, c, z, y, x) inside ngff-fuse; `TileSet.dims` remembers which of those
axes the source really has, so the output is written with the same axes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from xarray.indexes import PandasIndex

from ngff_fuse import transforms
from ngff_fuse._axes import AXES, MICROMETER, SPATIAL
from ngff_fuse.errors import InputError

#: Tile positions farther than this from 0, in pixels, are refused: beyond it grid indices and
#: extents stop being exact in float64 / int64 (a position of 1e308 overflowed to a crash).
MAX_POSITION_PX = 2.0**50


def tile_array(data, spacing, origin, name: str, channel_names=None) -> xr.DataArray:
    """Wrap 5-D (t, c, z, y, x) lazy pixels as a DataArray with physical coordinates (um).

    Built from ready-made indexes through xarray's fast path: the general constructor
    re-checks and re-aligns what is right by construction, and at ~0.5 ms a tile it was most
    of the time 10,000 listed tiles took to open. Private, on purpose: the public
    `xr.Coordinates(coords, indexes)` costs 30x (benchmarks/README.md, "Private APIs")."""
    if data.ndim != 5:
        raise ValueError(f"tile data must be 5-D (t, c, z, y, x), got shape {data.shape}")
    if not isinstance(data, da.Array):
        data = da.from_array(data, chunks=(1, 1, 1, *data.shape[3:]))
    axes = [
        _axis_coordinate(ax, float(origin[i]), float(spacing[i]), int(data.shape[2 + i]))
        for i, ax in enumerate(SPATIAL)
    ]
    if channel_names is not None:
        if len(channel_names) != data.shape[1]:
            raise ValueError(f"{len(channel_names)} channel names for {data.shape[1]} channels")
        axes.append(_channel_coordinate(tuple(channel_names)))
    indexes, coords = {}, {}
    for ax, index, variables in axes:
        indexes[ax] = index
        coords.update(variables)
    pixels = xr.Variable(AXES, data, attrs={"units": MICROMETER})
    return xr.DataArray(pixels, coords=coords, name=name, indexes=indexes, fastpath=True)


@lru_cache(maxsize=4096)
def _axis_coordinate(ax: str, first: float, step: float, size: int):
    """The indexed coordinate first + step * i: made once and shared (indexes are immutable),
    as the tiles of one plane, row or column of a grid have the same one."""
    return _indexed(ax, first + step * np.arange(size))


@lru_cache(maxsize=64)
def _channel_coordinate(names: tuple[str, ...]):
    return _indexed("c", np.asarray(names))


def _indexed(ax: str, labels: np.ndarray) -> tuple[str, PandasIndex, dict]:
    index = PandasIndex(pd.Index(labels, copy=False), ax, coord_dtype=labels.dtype)
    return ax, index, index.create_variables()


def _with_plane(data: xr.DataArray, z: float) -> xr.DataArray:
    """A one-plane tile's DataArray with its z coordinate at `z`, through the same fast path
    as `tile_array`: `assign_coords` took ~5 ms a tile (50 s for 10,000 tiles)."""
    ax, index, variables = _axis_coordinate("z", z, 1.0, 1)
    coords = {**data.coords.variables, **variables}
    indexes = {**data.xindexes, ax: index}
    return xr.DataArray(data.variable, coords=coords, name=data.name, indexes=indexes, fastpath=True)


def read_pixels(data, key: tuple) -> np.ndarray:
    """A small region of lazy pixels, read now in this thread. Inside a dask task the slice is
    computed synchronously, so it never goes back to the (possibly distributed) scheduler."""
    region = data[key]
    if isinstance(region, da.Array):
        return region.compute(scheduler="sync")
    return np.asarray(region)


@dataclass(frozen=True)
class TileSource:
    """Where a tile's pixels come from, as data: the file (or store folder), the series within
    a multi-image file, and what else names the tile there (a CZI scene and mosaic index).
    Printed, it is the one-line name every message gives the tile."""

    path: str
    series: int | None = None
    part: str = ""

    def __str__(self) -> str:
        series = "" if self.series is None else f" series {self.series}"
        return f"{self.path}{series}{' ' + self.part if self.part else ''}"


@dataclass(frozen=True)
class Tile:
    """One tile: lazy pixels and the affine from its pixel index (z, y, x) to physical um."""

    data: xr.DataArray
    affine: np.ndarray
    name: str
    source: TileSource
    # A 2-D tile's stage z (um) where it differs from the plane its mosaic is fused in (set by
    # TileSet); None: the affine's z is the stage's.
    stage_z: float | None = None

    @property
    def recorded_z(self) -> float:
        """The z the stage recorded for the tile's first pixel."""
        return float(self.affine[0, 3]) if self.stage_z is None else self.stage_z

    def in_plane(self, z: float) -> Tile:
        """The 2-D tile moved along z to `z`, remembering the z it was recorded at."""
        affine = self.affine.copy()
        affine[0, 3] = z
        return replace(self, data=_with_plane(self.data, z), affine=affine, stage_z=self.recorded_z)

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


def in_increasing_order(tile: Tile) -> Tile:
    """The tile with every spatial axis running towards higher physical coordinates.

    A file may store an axis backwards (a negative step: LIF z-stacks recorded top-down, a
    mirrored camera row order); its pixels are then reversed lazily and the affine's column
    for that axis negated, its origin moved to what was the last pixel. Every pixel stays at
    the same physical place; downstream code can count on planes in increasing physical order
    and positive steps. Only an axis whose column runs along its own axis is a step: a rotated
    tile keeps its affine, which fusion samples as it is."""
    backwards = _backward_axes(tile.affine)
    if not backwards:
        return tile
    affine = tile.affine.copy()
    for i in backwards:
        affine[:3, 3] += affine[:3, i] * (tile.spatial_shape[i] - 1)
        affine[:3, i] = -affine[:3, i]
    data = tile.data.isel({SPATIAL[i]: slice(None, None, -1) for i in backwards})
    return replace(tile, data=data, affine=affine)


def _backward_axes(affine: np.ndarray) -> list[int]:
    """Spatial axes whose affine column is a negative step along that same axis."""
    linear = affine[:3, :3]
    off_axis = np.abs(linear - np.diag(np.diagonal(linear))).max(axis=0)
    return [i for i in range(3) if linear[i, i] < 0 and off_axis[i] <= 1e-12 * abs(linear[i, i])]


@dataclass(frozen=True)
class PlateWell:
    """Where a mosaic lies on a multi-well plate, for the NGFF HCS layout: the plate's name and
    size, the well's 0-based row and column, and which acquisition of the well the mosaic is
    (a well imaged as planes and as projections holds one image of each)."""

    plate: str
    row: int
    column: int
    rows: int
    columns: int
    acquisition: str = ""

    @property
    def name(self) -> str:
        """"B03": the row's letters and the column number, as plates are labelled."""
        return f"{row_name(self.row)}{self.column + 1:02d}"


def row_name(index: int) -> str:
    """A plate row's letters from its 0-based index: A..Z, then AA, AB, ... (1536-well plates)."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[index] if index < 26 else letters[index // 26 - 1] + letters[index % 26]


#: Plate formats (rows, columns) from the smallest; a plate whose size no file states is the
#: smallest of these that holds its wells.
STANDARD_PLATES = ((2, 3), (3, 4), (4, 6), (6, 8), (8, 12), (16, 24), (32, 48))


def plate_size(rows: int, columns: int) -> tuple[int, int]:
    """The smallest standard plate with at least `rows` rows and `columns` columns."""
    return next(((r, c) for r, c in STANDARD_PLATES if r >= rows and c >= columns), (rows, columns))


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
    well: PlateWell | None = None  # set by readers of multi-well plates

    def __post_init__(self) -> None:
        if not self.tiles:
            raise InputError(f"{self.name}: no tiles found; check the input lists at least one tile")
        self._put_axes_in_increasing_order()
        self._check_pixels_agree()
        self._as_viewable_pixels()
        self._check_depths()
        self._into_one_plane()
        self._check_positions()
        if not self.channel_names:
            object.__setattr__(
                self, "channel_names", tuple(f"Channel {i}" for i in range(self.n_channels))
            )
        if not self.channel_colors:
            object.__setattr__(self, "channel_colors", (None,) * self.n_channels)

    def _put_axes_in_increasing_order(self) -> None:
        """Axes stored with a negative step become increasing (see `in_increasing_order`), the
        spacing positive; a no-op once done, so `dataclasses.replace` keeps it."""
        diagonals = np.stack([np.diagonal(tile.affine)[:3] for tile in self.tiles])
        if (diagonals >= 0).all() and all(s >= 0 for s in self.spacing):
            return
        backwards = {i for tile in self.tiles for i in _backward_axes(tile.affine)}
        reversed_axes = [ax for i, ax in enumerate(SPATIAL) if i in backwards]
        object.__setattr__(self, "tiles", tuple(in_increasing_order(tile) for tile in self.tiles))
        object.__setattr__(self, "spacing", tuple(abs(float(s)) for s in self.spacing))
        if reversed_axes:
            object.__setattr__(self, "notes", (
                *self.notes,
                f"{', '.join(reversed_axes)} stored with a negative step: planes reversed into "
                "increasing physical order",
            ))

    def _check_depths(self) -> None:
        """2-D tiles (one plane) and z-stacks do not mix: a plane among stacks is neither a
        stack nor a plane of one, and a stack among 2-D tiles would lose all but one plane."""
        depths = np.array([tile.data.shape[2] for tile in self.tiles])
        stacks = np.flatnonzero(depths > 1)
        if not stacks.size:
            return
        stack = self.tiles[int(stacks[0])]
        planes = np.flatnonzero(depths == 1)
        if planes.size:
            plane = self.tiles[int(planes[0])]
            raise InputError(
                f"{plane.source}: one z plane but {stack.source} has {stack.data.shape[2]}; 2-D "
                "tiles and z-stacks cannot be fused into one image: convert them separately"
            )
        if not self.is_3d:
            raise ValueError(f"{self.name}: tiles have {stack.data.shape[2]} z planes but dims "
                             f"{self.dims} have no z")

    def _into_one_plane(self) -> None:
        """2-D tiles are fused in one plane whatever z the stage recorded for each (autofocus
        moves it from tile to tile): the median of their z. Each tile keeps its own z as
        `stage_z`; without this, tiles more than half a z step off the lowest were dropped."""
        if self.is_3d:
            return
        z = np.array([tile.affine[0, 3] for tile in self.tiles])
        if np.all(z == z[0]) or not np.isfinite(z).all():
            return
        plane = float(np.median(z))
        object.__setattr__(self, "tiles", tuple(
            tile if tile.affine[0, 3] == plane else tile.in_plane(plane) for tile in self.tiles
        ))
        recorded = [tile.recorded_z for tile in self.tiles]
        unit = self.unit or "px"
        object.__setattr__(self, "notes", (
            *self.notes,
            f"2-D tiles recorded at stage z {min(recorded):g} to {max(recorded):g} {unit}: fused "
            f"into one plane at z = {plane:g} {unit} (their median); each tile's z is kept as "
            "its stage_z",
        ))

    def _check_positions(self) -> None:
        """Every affine finite and within reach, no two tiles at the same one: one array pass
        for all tiles."""
        affines = np.stack([tile.affine for tile in self.tiles])
        finite = np.isfinite(affines).all(axis=(1, 2))
        if not finite.all():
            tile = self.tiles[int(np.argmin(finite))]
            raise InputError(
                f"{tile.source}: position {tile.origin.tolist()} is not a finite number; "
                "fix the tile's stage position"
            )
        with np.errstate(over="ignore"):
            pixels = np.abs(affines[:, :3, 3] / np.asarray(self.spacing, dtype=float)).max(axis=1)
        beyond = np.flatnonzero(~(pixels <= MAX_POSITION_PX))
        if beyond.size:
            tile = self.tiles[int(beyond[0])]
            raise InputError(
                f"{tile.source}: position {tile.origin.tolist()} {self.unit or 'px'} lies "
                f"{pixels[beyond[0]]:.3g} pixels from 0, beyond any stage; fix the tile's position, "
                "its unit or the pixel size"
            )
        keys = np.round(affines, 6).reshape(len(affines), -1) + 0.0  # + 0.0: -0.0 == 0.0
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        repeated = np.flatnonzero(first[inverse.ravel()] != np.arange(len(keys)))
        if repeated.size:
            tile = self.tiles[int(repeated[0])]
            other = self.tiles[int(first[inverse.ravel()[repeated[0]]])]
            planes = "" if self.is_3d or tile.recorded_z == other.recorded_z else (
                f" at stage z {other.recorded_z:g} and {tile.recorded_z:g}; 2-D tiles share one "
                "plane, so"
            )
            raise InputError(
                f"{tile.source}: same position as {other.source} "
                f"({tile.origin.tolist()}){planes}; give each tile its own position"
            )

    def _check_pixels_agree(self) -> None:
        """One dtype, and the same channels and timepoints, in every tile."""
        first = self.tiles[0]
        odd = next((tile for tile in self.tiles if tile.data.dtype != first.data.dtype), None)
        if odd is not None:
            raise InputError(
                f"{odd.source}: dtype {odd.data.dtype} differs from {first.data.dtype} of "
                f"{first.source}; convert the tiles to one dtype first"
            )
        leading = np.array([tile.data.shape[:2] for tile in self.tiles])
        differs = np.flatnonzero((leading != leading[0]).any(axis=1))
        if differs.size:
            odd = self.tiles[int(differs[0])]
            raise InputError(
                f"{odd.source}: {odd.data.shape[1]} channels x {odd.data.shape[0]} "
                f"timepoints differ from {first.data.shape[1]} x {first.data.shape[0]} of "
                f"{first.source}; every tile needs the same channels and timepoints"
            )

    def _as_viewable_pixels(self) -> None:
        """Pixels every NGFF viewer shows: bool tiles (masks) become uint8 0 and 1, which
        OME-XML, web viewers and blending all handle (zarr's bool is shown by few viewers and
        cannot be feathered); complex and non-numeric pixels are refused: viewers show real
        values only, and which real part (magnitude, phase, real) is the user's choice."""
        first = self.tiles[0]
        dtype = np.dtype(first.data.dtype)
        if dtype.kind == "b":
            object.__setattr__(self, "tiles", tuple(
                replace(tile, data=tile.data.astype(np.uint8)) for tile in self.tiles
            ))
            object.__setattr__(self, "notes", (*self.notes, "bool pixels written as uint8 (0 and 1)"))
        elif dtype.kind not in "uif":
            raise InputError(
                f"{first.source}: {dtype} pixels, which OME-Zarr viewers cannot show (they show "
                "real numbers); convert the tiles to integers or floats first (e.g. the magnitude)"
            )

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

    def moved(self, shifts: np.ndarray, position_source: str | None = None, notes=()) -> TileSet:
        """The same tiles, each translated by its row of `shifts` (n, 3) um, pixels and pixel
        size unchanged: the one way tiles move (stage orientation, registration, positions
        files). The affine and the pixel coordinates move together."""
        tiles = []
        for tile, shift in zip(self.tiles, np.asarray(shifts, dtype=float)):
            data = tile.data.assign_coords({ax: tile.data.coords[ax] + shift[i] for i, ax in enumerate(SPATIAL)})
            tiles.append(replace(tile, data=data, affine=transforms.translation(shift) @ tile.affine))
        return replace(self, tiles=tuple(tiles), notes=(*self.notes, *notes),
                       position_source=self.position_source if position_source is None else position_source)

    def moved_to(self, origins: np.ndarray, position_source: str, notes=()) -> TileSet:
        """The same tiles with their first pixels at `origins` (n, 3) um."""
        return self.moved(np.asarray(origins, dtype=float) - [t.origin for t in self.tiles], position_source, notes)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Physical extent of all pixel centres: (lowest, highest) per axis (z, y, x); the
        corners of every tile's box mapped in one batched product, as 10,000 tiles one by one
        took ~0.4 s a call."""
        affines = np.stack([tile.affine for tile in self.tiles])
        last = np.maximum(np.array([tile.spatial_shape for tile in self.tiles]) - 1, 0)
        corners = np.array(list(np.ndindex(2, 2, 2)), dtype=float)[None] * last[:, None, :]
        physical = corners @ affines[:, :3, :3].transpose(0, 2, 1) + affines[:, None, :3, 3]
        return physical.min(axis=(0, 1)), physical.max(axis=(0, 1))


@dataclass(frozen=True)
class OutputGrid:
    """The fused mosaic's pixel grid: pixel (0, 0, 0) sits at `origin`, steps of `spacing`."""

    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    shape: tuple[int, int, int]

    @property
    def affine(self) -> np.ndarray:
        return transforms.placement(self.spacing, self.origin)
