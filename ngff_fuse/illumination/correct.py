"""The per-tile transform the fusion tasks apply to every tile region they read.

It works on the region as read (`box`: z, y, x slices in the tile's own pixels), so correcting
costs one multiply-add per pixel read and no pass over the output: the profile slices are views
of arrays shipped to each worker once, with the tiles.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ngff_fuse.errors import InputError
from ngff_fuse.illumination.equalize import TileGains
from ngff_fuse.illumination.profiles import Profiles


class Correction:
    """value = gain[tile, c] * (raw - dark[c]) / flat[c] + offset[tile, c], in floating point;
    the fusers round and clip into the output dtype as for any float values."""

    def __init__(self, profiles: Profiles | None = None, gains: TileGains | None = None) -> None:
        self.profiles, self.gains = profiles, gains
        self._inverse = None if profiles is None else (1.0 / profiles.flat).astype(np.float32)

    def check(self, tile_shapes: list[tuple[int, int, int]], n_channels: int, name: str) -> None:
        """The profiles fit the tiles: one (y, x) shape for all, one profile per channel."""
        if self.profiles is None:
            return
        shapes = {s[1:] for s in tile_shapes}
        if len(shapes) > 1:
            raise InputError(f"{name}: the tiles differ in size ({', '.join(map(str, sorted(shapes)))}); "
                             "a flat-field is one profile for tiles of one size: convert without --flatfield")
        (shape,) = shapes
        if shape != self.profiles.shape:
            raise InputError(f"{name}: the flat-field profile is {self.profiles.shape[0]} x "
                             f"{self.profiles.shape[1]} px but the tiles are {shape[0]} x {shape[1]}; "
                             "give a profile made for these tiles")
        if self.profiles.n_channels not in (1, n_channels):
            raise InputError(f"{name}: the profiles have {self.profiles.n_channels} channels, the tiles "
                             f"{n_channels}; give one profile per channel (or one for all)")

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
            record["equalize"] = self.gains.summary()
        return record
