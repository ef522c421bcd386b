"""The per-tile transform the fusion tasks apply to every tile region they read.

It works on the region as read (`box`: z, y, x slices in the tile's own pixels), so correcting
costs one multiply-add per pixel read and no pass over the output: the profile slices are views
of arrays shipped to each worker once, with the tiles.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ngff_fuse.illumination.profiles import Profiles
from ngff_fuse.model import TileSet

if TYPE_CHECKING:  # the gains' module imports scipy's solvers: only estimating needs them
    from ngff_fuse.illumination.equalize import TileGains


class Correction:
    """value = gain[tile, c] * (raw - dark[c]) / flat[c] + offset[tile, c], in floating point;
    the fusers round and clip into the output dtype as for any float values."""

    def __init__(self, profiles: Profiles | None = None, gains: TileGains | None = None) -> None:
        self.profiles, self.gains = profiles, gains
        self._inverse = None if profiles is None else (1.0 / profiles.flat).astype(np.float32)


    def __call__(self, index: int, c: int, box: tuple[slice, slice, slice], values: np.ndarray) -> np.ndarray:
        kind = np.result_type(values.dtype, np.float32)
        out = values.astype(kind)
        if self.profiles is not None:
            p = min(c, self.profiles.n_channels - 1)
            out -= self.profiles.dark[p][box[1:]]
            out *= self._inverse[p][box[1:]]
        if self.gains is not None:
            out *= self.gains.gain[index, c]
            out += self.gains.offset[index, c]
        return out

    def __dask_tokenize__(self) -> tuple:
        """The same profiles and gains give the same graph keys (a resume, a cached graph)."""
        parts = [] if self.profiles is None else [self.profiles.flat.tobytes(), self.profiles.dark.tobytes()]
        if self.gains is not None:
            parts += [self.gains.gain.tobytes(), self.gains.offset.tobytes()]
        return ("illumination-correction", hashlib.sha1(b"".join(parts)).hexdigest())

    def metadata(self) -> dict:
        """What was corrected, for the output's metadata (the profiles themselves are stored
        beside the image, see `files.write_into_image`)."""
        record: dict = {}
        if self.profiles is not None:
            record.update(self.profiles.method)
            record["channels"] = self.profiles.summary()
        if self.gains is not None:
            record["tile_gains"] = self.gains.summary()
        return record


def corrected_tiles(tileset: TileSet, correction: Correction) -> TileSet:
    """The tile set with every tile's lazy pixels corrected (float32 or wider), block by block:
    for what reads tiles outside the fusion (registration)."""
    tiles = []
    for index, tile in enumerate(tileset.tiles):
        def correct(block: np.ndarray, block_info=None, index=index) -> np.ndarray:
            where = block_info[0]["array-location"]
            box = tuple(slice(lo, hi) for lo, hi in where[2:])
            out = np.empty(block.shape, dtype=np.result_type(block.dtype, np.float32))
            for t, c in np.ndindex(*block.shape[:2]):
                out[t, c] = correction(index, where[1][0] + c, box, block[t, c])
            return out

        data = tile.data.data.map_blocks(correct, dtype=np.result_type(tile.data.dtype, np.float32))
        tiles.append(replace(tile, data=tile.data.copy(data=data)))
    return replace(tileset, tiles=tuple(tiles))
