"""The keys ngff-fuse writes into its stores and the helpers that read any zarr group's NGFF
attributes, for the writer, the kept-tiles reader, validate, preview and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import zarr

from ngff_fuse.errors import InputError
from ngff_fuse.storage import zarr_store
from ngff_fuse.zarr_check import unreadable_metadata

#: ngff-fuse's own key: its status record in a store, its provenance in the tiles group, and
#: the full affine of a tile that NGFF 0.4 / 0.5 transforms cannot express.
NGFF_FUSE_KEY = "ngff_fuse"
#: Group inside an image that holds its kept tiles, and the attribute of it listing them.
TILES_GROUP = "tiles"
TILES_KEY = "tiles"
#: Name of a kept tile's own coordinate system (NGFF 0.6).
TILE_SPACE = "tile"


def is_zarr_group(path: Path) -> bool:
    return path.is_dir() and any((path / m).is_file() for m in ("zarr.json", ".zgroup", ".zattrs"))


def attributes(path: Path) -> dict:
    """A zarr group's attributes, zarr v2 or v3 ({} when there is no group; an InputError
    naming the file when its metadata is not JSON)."""
    try:
        return dict(zarr.open_group(zarr_store(path), mode="r").attrs.asdict())
    except (FileNotFoundError, zarr.errors.GroupNotFoundError):
        return {}
    except json.JSONDecodeError:  # a damaged store must not read as one without metadata
        raise InputError(f"{unreadable_metadata(path) or path}; the store is damaged") from None


def ome(attrs: dict) -> dict:
    """The NGFF namespace: `ome` (0.5 and later) or the attributes themselves (0.4)."""
    return attrs.get("ome", attrs)


def ngff_version(path: Path) -> str | None:
    """The NGFF version of a store: its own, or for a 0.4 collection that of its first image."""
    attrs = ome(attributes(path))
    version = attrs.get("version") or (attrs.get("multiscales") or [{}])[0].get("version")
    if version is None and "bioformats2raw.layout" in attrs:
        return ngff_version(path / "0")
    return version


def image_axes(multiscale: dict) -> list[dict]:
    """A multiscale's axes: `axes` (0.4 / 0.5) or those of its first coordinate system (0.6,
    the one its levels map into)."""
    return multiscale.get("axes") or multiscale["coordinateSystems"][0]["axes"]
