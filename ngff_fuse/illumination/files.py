"""Profiles in and out of files: read a flat- or dark-field image (TIFF, OME-TIFF or NGFF, as
BaSiC, ASHLAR and BigStitcher use), write the estimated ones (NGFF with a channel axis, or
OME-TIFF), and store them beside the fused image (`<image>/illumination`).

A file may hold both profiles: an NGFF group with `flatfield` and `darkfield` images, or an
OME-TIFF whose images are named so (what `ngff-fuse illumination` writes); any other image is
the one profile it is given as.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tifffile
import xarray as xr
import zarr

from ngff_fuse.errors import InputError, blaming_the_file
from ngff_fuse.illumination.correct import Correction
from ngff_fuse.illumination.profiles import Profiles
from ngff_fuse.ngff.groups import is_zarr_group
from ngff_fuse.storage import Location, remove_tree, zarr_store
from ngff_fuse.writer import Amend, WriteOptions, write_image

KINDS = ("flatfield", "darkfield")
#: The group beside the fused image's levels that holds its profiles.
GROUP = "illumination"
TIFF_SUFFIXES = (".tif", ".tiff")


def read_profile(path: str | Path, kind: str) -> np.ndarray:
    """A profile (c, y, x) float32 from `path`: its image named `kind`, or its only image.
    A flat-field is divided by its mean per channel (only how pixels compare matters)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such {kind} file; give a TIFF, OME-TIFF or NGFF (.zarr) profile")
    with blaming_the_file(lambda exc: InputError(f"{path}: cannot read it as a {kind} ({exc}); give a "
                                                 "TIFF, OME-TIFF or NGFF (.zarr) profile")):
        if is_zarr_group(path):
            pixels = _zarr_image(path, kind)
        elif path.suffix.lower() in TIFF_SUFFIXES:
            pixels = _tiff_image(path, kind)
        else:
            raise InputError(f"{path}: not a TIFF or an NGFF store; give the {kind} as a TIFF, "
                             "OME-TIFF or NGFF (.zarr) image")
    profile = _as_channels(np.asarray(pixels, dtype=np.float32), path)
    if not np.isfinite(profile).all():
        raise InputError(f"{path}: the {kind} has pixels that are not numbers; give a finite profile")
    if kind == "flatfield":
        if not (profile > 0).all():
            raise InputError(f"{path}: the flat-field has pixels at or below 0, which no correction "
                             "can divide by; give a positive profile")
        profile = profile / profile.mean(axis=(1, 2), keepdims=True)
    return profile


def _zarr_image(path: Path, kind: str) -> np.ndarray:
    group = zarr.open_group(path, mode="r")
    if kind in group:
        group = group[kind]
    datasets = _multiscales(dict(group.attrs))
    name = datasets[0]["path"] if datasets else "0"
    if name not in group:
        raise InputError(f"{path}: no image to read the profile from (no multiscales, no array '0')")
    return group[name][...]


def _multiscales(attrs: dict) -> list:
    multiscales = attrs.get("ome", attrs).get("multiscales") or [{}]
    return multiscales[0].get("datasets", [])


def _tiff_image(path: Path, kind: str) -> np.ndarray:
    with tifffile.TiffFile(path) as tif:
        named = [s for s in tif.series if (s.name or "").lower() == kind]
        return (named or tif.series)[0].asarray()


def _as_channels(pixels: np.ndarray, path: Path) -> np.ndarray:
    """(y, x) -> (1, y, x); any axes of length 1 before (c, y, x) dropped."""
    while pixels.ndim > 3 and pixels.shape[0] == 1:
        pixels = pixels[0]
    if pixels.ndim == 4 and pixels.shape[1] == 1:  # (c, z=1, y, x)
        pixels = pixels[:, 0]
    if pixels.ndim == 2:
        pixels = pixels[None]
    if pixels.ndim != 3:
        raise InputError(f"{path}: a profile is one (y, x) image per channel, not shape {pixels.shape}")
    return pixels


def write_profiles(profiles: Profiles, path: str | Path, names: tuple[str, ...], ngff: str = "0.5") -> Path:
    """Save both profiles: an NGFF group (`flatfield`, `darkfield`, each a c, y, x image) for a
    `.zarr` path, else an OME-TIFF with two images named so."""
    path = Path(path)
    if path.suffix.lower() in TIFF_SUFFIXES:
        with tifffile.TiffWriter(path, ome=True) as tif:
            for kind in KINDS:
                tif.write(getattr(profiles, kind[:4]), metadata={"axes": "CYX", "Name": kind,
                                                                  "Channel": {"Name": list(names)}})
        return path
    write_profile_group(profiles, path, names, ngff)
    return path


def write_profile_group(profiles: Profiles, path: Location, names: tuple[str, ...], ngff: str) -> None:
    """`path` as a zarr group holding the two profiles as NGFF images (replaced if there)."""
    if path.exists():
        remove_tree(path)
    group = zarr.open_group(zarr_store(path), mode="w", zarr_format=3 if ngff != "0.4" else 2)
    group.attrs.put({"ngff_fuse_illumination": json.loads(json.dumps(
        {**profiles.method, "channels": profiles.summary()}, default=str))})
    options = WriteOptions(ngff=ngff, levels=1, shard=0 if ngff != "0.4" else None)
    for kind in KINDS:
        image = xr.DataArray(getattr(profiles, kind[:4]), dims=("c", "y", "x"), name=kind,
                             coords={"c": list(names[: profiles.n_channels]) or None,
                                     "y": np.arange(profiles.shape[0], dtype=float),
                                     "x": np.arange(profiles.shape[1], dtype=float)},
                             attrs={"units": "pixel"})
        write_image(image, path / kind, False, options)


def store_beside(correction: Correction, names: tuple[str, ...], ngff: str) -> Amend:
    """The fused image's `Amend` hook: its profiles (and tile gains) into `<image>/illumination`,
    rewritten on a resume (the same request estimates the same profiles)."""
    def amend(image: Location, attributes: dict, resuming: bool) -> dict:
        if correction.profiles is not None:
            write_profile_group(correction.profiles, image / GROUP, names, ngff)
        else:
            if (image / GROUP).exists():
                remove_tree(image / GROUP)
            zarr.open_group(zarr_store(image / GROUP), mode="w", zarr_format=3 if ngff != "0.4" else 2)
        if correction.gains is not None:
            group = zarr.open_group(zarr_store(image / GROUP), mode="a")
            group.create_array("tile_gains", data=np.stack([correction.gains.gain, correction.gains.offset], axis=-1))
        return attributes

    return amend
