"""From `--flatfield/--darkfield/--equalize` to the correction fusion applies to a tile set."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ngff_fuse.errors import InputError
from ngff_fuse.illumination.correct import Correction
from ngff_fuse.illumination.equalize import equalize
from ngff_fuse.illumination.estimate import estimate_profiles, tile_shape
from ngff_fuse.illumination.files import read_profile
from ngff_fuse.illumination.options import IlluminationOptions
from ngff_fuse.model import TileSet
from ngff_fuse.progress import NoProgress, Progress


def given(value: str | Path | None, kind: str, tileset: TileSet):
    """A profile read from a file and checked against the tiles, or None for "auto", "none"
    and not given."""
    if value is None or str(value) in ("auto", "none"):
        return None
    profile = read_profile(value, kind)
    check_fits(profile, tileset, str(value))
    return profile


def check_fits(profile: np.ndarray, tileset: TileSet, what: str) -> None:
    """A profile (c, y, x) fits the tiles: their (y, x) size, one profile per channel (or one
    for all)."""
    shape = tile_shape(tileset)
    if tuple(profile.shape[1:]) != shape:
        raise InputError(f"{what}: the profile is {profile.shape[1]} x {profile.shape[2]} px but the tiles "
                         f"are {shape[0]} x {shape[1]}; give a profile made for these tiles")
    if profile.shape[0] not in (1, tileset.n_channels):
        raise InputError(f"{what}: the profile has {profile.shape[0]} channels, the tiles "
                         f"{tileset.n_channels}; give one per channel (or one for all)")


def prepare_correction(tileset: TileSet, options: IlluminationOptions,
                       progress: Progress | None = None) -> Correction | None:
    """The tile set's correction, or None when nothing was asked: profiles read or estimated
    (each sampled tile read once), then tile gains (every tile read once more, in blocks)."""
    if not (options.profiles_wanted or options.equalize):
        return None
    progress = progress or NoProgress()
    tile_shape(tileset)
    flat, dark = given(options.flatfield, "flatfield", tileset), given(options.dark, "darkfield", tileset)
    profiles = None
    if options.profiles_wanted:
        label = f"illumination profiles of {tileset.name}"
        progress.start(label, min(len(tileset.tiles), options.max_tiles) * tileset.n_channels, "tiles")
        profiles = estimate_profiles(tileset, options, flat, dark, lambda: progress.advance(label))
        progress.finish(label)
        for name, summary in zip(tileset.channel_names, profiles.summary()):
            progress.note(f"{tileset.name}: {name}: flat-field falls {summary['falloff_percent']:.1f} %, "
                          f"dark level {summary['dark_level']:g}")
    gains = None
    if options.equalize:
        label = f"tile gains of {tileset.name}"
        progress.start(label, len(tileset.tiles) * tileset.n_channels, "tiles")
        gains = equalize(tileset, profiles, lambda: progress.advance(label))
        progress.finish(label)
    return Correction(profiles, gains)
