"""What the vendor mosaic readers (CZI, LIF, ND2) share: the optional bioio plugin, scene
selection, stage centres -> first pixels, and the TileSet they build.

Each vendor module gathers plain facts from its plugin (stage positions, pixel boxes, channel
names) and hands them to these small pure functions, so the mapping is tested without the
vendor's files.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np

from ngff_fuse import transforms
from ngff_fuse._axes import MICROMETER, present_dims
from ngff_fuse.errors import InputError
from ngff_fuse.model import Tile, TileSet, TileSource, tile_array
from ngff_fuse.readers.base import ReadOptions, pick_scenes  # noqa: F401 (the vendor readers' import)
from ngff_fuse.readers.samples import samples_as_channels

def plugin(path: Path, module: str, fmt: str, package: str, extra: str):
    """Import the optional bioio plugin (or its backend) `module`, else say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(
            f"{path}: reading {fmt} needs {package}: pip install 'ngff-fuse[{extra}]'"
        ) from None


def first_pixel(centre, size, step):
    """Position of a tile's first pixel when `centre` is the position of its centre pixel,
    index size // 2 along the axis (how CZI subblocks and the nd2 SDK define it)."""
    return np.asarray(centre, dtype=float) - (np.asarray(size) // 2) * np.asarray(step, dtype=float)


@dataclass(frozen=True)
class Placement:
    """Where a reader put a mosaic's tiles, and in words how."""

    origins: np.ndarray  # (n, 3) first-pixel positions (z, y, x) um
    source: str  # the TileSet's position_source
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Anchored:
    """Positions along one axis: the stage's where usable, else the fallback layout."""

    values: np.ndarray  # (n,) um
    missing: np.ndarray  # (n,) bool: the tile had no stage value
    disagreeing: np.ndarray  # (n,) bool: its stage value disagreed with the fallback layout
    deviation: np.ndarray  # (n,) um: |stage - fallback after anchoring|, 0 where missing


def anchor(stage: np.ndarray, fallback: np.ndarray, tolerance) -> Anchored:
    """Stage positions where present and within `tolerance` of the fallback layout (pixel
    boxes, a tile grid); every other tile takes its fallback position shifted by the median
    offset between the two layouts, so it lines up with the tiles placed by the stage."""
    stage = np.asarray(stage, dtype=float)
    fallback = np.asarray(fallback, dtype=float)
    have = np.isfinite(stage)
    if not have.any():
        zero = np.zeros(stage.shape)
        return Anchored(fallback.copy(), ~have, np.zeros(stage.shape, bool), zero)
    offset = np.median(stage[have] - fallback[have])
    deviation = np.where(have, np.abs(stage - fallback - offset), 0.0)
    disagreeing = have & (deviation > tolerance)
    usable = have & ~disagreeing
    if usable.any():
        offset = np.median(stage[usable] - fallback[usable])
    return Anchored(np.where(usable, stage, fallback + offset), ~have, disagreeing, deviation)


def stack_z(z, depth: int) -> tuple[np.ndarray, bool]:
    """z (um) where each tile's stack starts, and whether the file said so for every tile.

    Only z-stacks use it: the focus of single planes differs from tile to tile without making
    the mosaic 3-D, so 2-D tiles all sit at z = 0.
    """
    z = np.asarray(z, dtype=float)
    if depth > 1 and np.all(np.isfinite(z)):
        return z, True
    return np.zeros(z.shape), depth <= 1


def tile_list(names: Sequence[str], limit: int = 8) -> str:
    """'M3, M11 and M12' or 'M0, M1, ... (20 tiles)' for notes."""
    names = list(names)
    if len(names) > limit:
        return ", ".join(names[:limit]) + f", ... ({len(names)} tiles)"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def wavelength_color(nm: float | None) -> str | None:
    """A display colour "RRGGBB" for an emission wavelength: the hue of that light at full
    brightness (violet below 440 nm, red from 645 nm on, including the far red)."""
    if nm is None or not np.isfinite(nm) or nm <= 0:
        return None
    stops = [  # (nm, r, g, b): hue corners of the visible spectrum, linear in between
        (380, 0.5, 0.0, 1.0), (440, 0.0, 0.0, 1.0), (490, 0.0, 1.0, 1.0),
        (510, 0.0, 1.0, 0.0), (580, 1.0, 1.0, 0.0), (645, 1.0, 0.0, 0.0),
    ]
    xs = [s[0] for s in stops]
    rgb = [np.interp(nm, xs, [s[k] for s in stops]) for k in (1, 2, 3)]
    return "".join(f"{int(round(v * 255)):02X}" for v in rgb)


def bioio_tiles(data: da.Array, dims: Sequence[str]) -> tuple[list[da.Array], int]:
    """One lazy (t, c, z, y, x) array per tile from a bioio reader's array with `dims` (among
    M, T, C, Z, Y, X and S, the samples of RGB images), and the samples per pixel: each sample
    of each channel is a channel of the tiles (`samples.samples_as_channels`; name them with
    `samples.channel_labels`)."""
    dims = list(dims)
    sizes = dict(zip(dims, data.shape))
    extra = [d for d in dims if d not in "MTCZYXS"]
    if any(sizes[d] > 1 for d in extra):
        raise ValueError(f"axes {extra} besides M, T, C, Z, Y, X")
    for d in extra:
        data = data[tuple(0 if ax == d else slice(None) for ax in dims)]
        dims.remove(d)
    order = ["M", "T", "C", "Z", "Y", "X", "S"]
    for ax in order:
        if ax not in dims:
            data, dims = data[None], [ax, *dims]
    data = da.transpose(data, [dims.index(ax) for ax in order])
    return [samples_as_channels(data[m]) for m in range(data.shape[0])], int(data.shape[6])


@dataclass(frozen=True)
class TileFacts:
    """One tile as a reader found it: lazy pixels and where its first pixel sits."""

    data: da.Array  # (t, c, z, y, x)
    origin: tuple[float, float, float]  # (z, y, x) um
    name: str


def mosaic_tileset(
    path: Path, name: str, tiles: Sequence[TileFacts], spacing: tuple[float, float, float],
    channel_names: Sequence[str | None], channel_colors: Sequence[str | None],
    position_source: str, notes: Sequence[str],
) -> TileSet:
    """The TileSet of one mosaic, tiles placed at their origins on the pixel grid `spacing`.
    Channel names and colours that do not match the channel count are left out."""
    count = int(tiles[0].data.shape[1])
    names = tuple(channel_names) if len(channel_names) == count and any(channel_names) else ()
    labels = tuple(n or f"Channel {i}" for i, n in enumerate(names)) or None
    colors = tuple(channel_colors) if len(channel_colors) == count and any(channel_colors) else ()
    built = tuple(
        Tile(
            data=tile_array(tile.data, spacing, tile.origin, tile.name, labels),
            affine=transforms.placement(spacing, tile.origin),
            name=tile.name,
            source=TileSource(str(path), part=f"{name} {tile.name}"),
        )
        for tile in tiles
    )
    shape = tuple(max(int(t.data.shape[i]) for t in tiles) for i in range(5))
    return TileSet(
        tiles=built,
        spacing=spacing,
        dims=present_dims(shape),
        name=name,
        unit=MICROMETER,
        channel_names=labels or (),
        channel_colors=colors,
        position_source=position_source,
        notes=tuple(notes),
    )
