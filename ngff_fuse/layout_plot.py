"""Pictures of a tile set in physical space: the layout before fusing (`ngff-fuse layout`),
and the frame the registration QC plot draws on. PNG, SVG or PDF by suffix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from ngff_fuse.errors import InputError
from ngff_fuse.model import TileSet


def tile_boxes(tileset: TileSet) -> list:
    """One rectangle per tile over the (y, x) plane, at the tile's position (3-D: projected)."""
    from matplotlib.patches import Rectangle

    spacing = np.asarray(tileset.spacing, dtype=float)
    return [
        Rectangle((tile.origin[2], tile.origin[1]), tile.spatial_shape[2] * spacing[2],
                  tile.spatial_shape[1] * spacing[1])
        for tile in tileset.tiles
    ]


def tile_centres(tileset: TileSet) -> np.ndarray:
    """(n, 2) tile centres (y, x) in the tile set's unit."""
    return np.array([np.mean(tile.physical_bounds(), axis=0)[1:] for tile in tileset.tiles])


def tile_figure(tileset: TileSet, extra_width: float = 2.4):
    """A bare matplotlib Figure (Agg, pyplot untouched) sized to the mosaic, and its axes
    framed on the tiles with y down as in the image and labels in the tile set's unit."""
    from matplotlib.figure import Figure

    unit = "µm" if tileset.unit == "micrometer" else (tileset.unit or "px")
    spacing = np.asarray(tileset.spacing, dtype=float)
    low, high = tileset.bounds()
    high = high + spacing  # to the far edge of the last pixels
    extent = np.maximum(high - low, spacing)[1:]
    width = 9.0
    height = float(np.clip(width * extent[0] / extent[1], 3.0, 12.0)) + 1.6
    figure = Figure(figsize=(width + extra_width, height), layout="constrained")
    axes = figure.add_subplot()
    pad = 0.03 * extent
    axes.set_xlim(low[2] - pad[1], high[2] + pad[1])
    axes.set_ylim(high[1] + pad[0], low[1] - pad[0])
    axes.set_aspect("equal")
    axes.set_xlabel(f"x ({unit})")
    axes.set_ylabel(f"y ({unit})")
    return figure, axes


def layout_plot(tileset: TileSet, path: str | Path) -> Path:
    """Tile outlines at their stage positions with their indices, overlaps shaded; the
    reader's notes (assumed pixel sizes, fallback positions) printed under the title."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    from ngff_fuse.register.pairs import overlap_box, overlapping_pairs, stage_pixels

    figure, axes = tile_figure(tileset, extra_width=0.5)
    axes.add_collection(PatchCollection(tile_boxes(tileset), facecolor="none", edgecolor="black",
                                        linewidth=0.8))
    spacing = np.asarray(tileset.spacing, dtype=float)
    try:
        positions, shapes = stage_pixels(tileset)
        pairs = overlapping_pairs(positions, shapes)
    except InputError:  # rotated tiles: outlines only, overlaps are not boxes
        pairs = []
    overlaps = []
    for pair in pairs:
        low, high = (corner * spacing for corner in overlap_box(pair.a, pair.b, positions, shapes))
        overlaps.append(Rectangle((low[2], low[1]), high[2] - low[2], high[1] - low[1]))
    axes.add_collection(PatchCollection(overlaps, facecolor="tab:blue", alpha=0.25, edgecolor="none"))
    for index, (y, x) in enumerate(tile_centres(tileset)):
        axes.text(x, y, str(index), ha="center", va="center", fontsize=8)
    lines = [f"{tileset.name}: {len(tileset.tiles)} tiles, {len(pairs)} overlaps (shaded); "
             f"positions from {tileset.position_source or 'the input'}",
             *(f"note: {n}" for n in tileset.notes[:4])]
    # long position sources and notes must wrap, not run off a narrow figure
    width = max(40, int(figure.get_figwidth() * 11))
    axes.set_title("\n".join(textwrap.fill(line, width) for line in lines), fontsize=9)
    path = Path(path)
    figure.savefig(path, dpi=110)
    return path
