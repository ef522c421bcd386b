"""The tile set in physical space: fixing stage axes that disagree with the image axes.

Many stages count x or y the other way round from the camera, or swap them. The tiles' pixels
are right; only their arrangement is mirrored or transposed. Re-orienting mirrors (or swaps)
the tile centres about the mosaic's centre, so the mosaic stays where the stage put it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ngff_fuse import transforms
from ngff_fuse.model import Tile, TileSet


@dataclass(frozen=True)
class Orientation:
    flip_x: bool = False
    flip_y: bool = False
    swap_xy: bool = False

    def __str__(self) -> str:
        parts = [name for name, on in (("--swap-xy", self.swap_xy), ("--flip-x", self.flip_x),
                                       ("--flip-y", self.flip_y)) if on]
        return " ".join(parts) or "as recorded"

    @property
    def is_identity(self) -> bool:
        return not (self.flip_x or self.flip_y or self.swap_xy)

    def matrix(self) -> np.ndarray:
        """Applied to (z, y, x) offsets from the mosaic centre: swap first, then flip."""
        m = np.eye(3)
        if self.swap_xy:
            m = m[[0, 2, 1]]
        flips = np.diag([1.0, -1.0 if self.flip_y else 1.0, -1.0 if self.flip_x else 1.0])
        return flips @ m


def reorient(tileset: TileSet, orientation: Orientation) -> TileSet:
    """The same tiles with their stage arrangement mirrored/swapped as `orientation` says."""
    if orientation.is_identity:
        return tileset
    centres = np.array([np.mean(tile.physical_bounds(), axis=0) for tile in tileset.tiles])
    middle = (centres.min(axis=0) + centres.max(axis=0)) / 2
    moved = (centres - middle) @ orientation.matrix().T + middle
    tiles = []
    for tile, old, new in zip(tileset.tiles, centres, moved):
        affine = transforms.translation(new - old) @ tile.affine
        data = tile.data.assign_coords({
            ax: tile.data.coords[ax] + (new - old)[i] for i, ax in enumerate(("z", "y", "x"))
        })
        tiles.append(Tile(data=data, affine=affine, name=tile.name, source=tile.source))
    return replace(
        tileset, tiles=tuple(tiles),
        notes=(*tileset.notes, f"stage axes re-oriented as asked: {orientation}"),
    )
