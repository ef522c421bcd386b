"""Layer data napari understands, from what ngff-fuse knows: multiscale image layers placed in
micrometres (one per channel), and tile outlines as a shapes layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from napari.utils.colormaps import Colormap

from ngff_fuse._axes import SPATIAL
from ngff_fuse.model import TileSet

LayerData = tuple


@dataclass(frozen=True)
class Channel:
    label: str
    color: str | None  # RRGGBB; None: grey
    window: tuple[float, float] | None  # contrast limits (start, end); None: napari's own


def colormap(color: str | None) -> Colormap | str:
    """Black to the channel's colour (RRGGBB), as OME-Zarr viewers draw it; grey without one."""
    if color is None:
        return "gray"
    rgb = [int(color[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    return Colormap([[0.0, 0.0, 0.0, 1.0], [*rgb, 1.0]], name=f"#{color.upper()}")


def image_layer(
    levels: Sequence, dims: Sequence[str], scale: dict[str, float], origin: dict[str, float],
    channels: Sequence[Channel], title: str, metadata: dict,
) -> LayerData:
    """One multiscale image layer per channel of `levels` (arrays over `dims`, level 0 first):
    level 0's pixel size as scale and its first pixel's position as translate, per axis but c
    (t gets 1 and 0). napari relates the other levels to level 0 by their shapes."""
    axes = [ax for ax in dims if ax != "c"]
    kwargs = {
        "multiscale": len(levels) > 1,
        "scale": [scale.get(ax, 1.0) for ax in axes],
        "translate": [origin.get(ax, 0.0) for ax in axes],
        "axis_labels": axes,
        "metadata": metadata,
        "blending": "additive" if len(channels) > 1 else "translucent_no_depth",
    }
    names = [f"{title}: {ch.label}" if title else ch.label for ch in channels]
    maps = [colormap(ch.color) for ch in channels]
    limits = [list(ch.window) for ch in channels] if all(ch.window for ch in channels) else None
    if "c" in dims:
        kwargs.update(channel_axis=list(dims).index("c"), name=names, colormap=maps)
    else:
        kwargs.update(name=names[0], colormap=maps[0])
        limits = limits and limits[0]
    if limits:
        kwargs["contrast_limits"] = limits
    data = list(levels) if len(levels) > 1 else levels[0]
    return data, kwargs, "image"


def outline_layer(tilesets: Sequence[TileSet], title: str) -> LayerData:
    """Each tile's footprint on y/x (its pixels' areas, in micrometres) as a rectangle, named
    after the tile; hidden until asked for."""
    boxes, names = [], []
    width = 2 * max(tileset.spacing[2] for tileset in tilesets)  # two pixels wide
    for tileset in tilesets:
        for tile in tileset.tiles:
            corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
            shape = np.asarray(tile.spatial_shape[1:], dtype=float)
            pixels = corners * shape - 0.5  # pixel i covers [i - 1/2, i + 1/2)
            boxes.append(pixels @ tile.affine[1:3, 1:3].T + tile.affine[1:3, 3])
            names.append(tile.name)
    kwargs = {
        "name": f"{title}: tiles" if title else "tiles",
        "shape_type": "polygon",
        "edge_color": "yellow",
        "face_color": "transparent",
        "edge_width": width,
        "features": {"tile": names},
        "text": {"string": "{tile}", "color": "yellow", "visible": False},
        "visible": False,
        "axis_labels": list(SPATIAL[1:]),
    }
    return boxes, kwargs, "shapes"
