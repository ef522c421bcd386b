"""Shared by the readers whose input lists image files and where they sit (TileConfiguration,
tile manifests): opening a listed file, and deciding one pixel size for all of them."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from ngff_fuse.errors import InputError, blaming_the_file, reason
from ngff_fuse.readers.base import refuse_empty
from ngff_fuse.readers.image_file import ImageFile, read_image_file, url_refusal
from ngff_fuse.readers.pixel_size import Calibration, PixelSize, decide_pixel_size
from ngff_fuse.readers.tiff_segments import SegmentCache
from ngff_fuse.storage import Location, is_url, location


def open_listed(listing: Location, file: str, series: int | None, where: str, cache: SegmentCache,
                storage: dict | None = None) -> ImageFile:
    """Open `file` (relative to the listing's folder, which may be at a URL, or a URL itself,
    its file system given `storage` options) with InputErrors that point at `where`."""
    path = location(file, storage) if is_url(file) else listing.parent / file
    if path.exists() and not path.is_file():
        what = "a folder" if path.is_dir() else "not a regular file (a device or a pipe)"
        raise InputError(f"{where}: {path} is {what}, not an image file; list the image files")
    if not path.is_file() and is_url(file):
        raise InputError(f"{where}: {file}: no such object; check the URL")
    if not path.is_file():
        raise InputError(
            f"{where}: tile file {file!r} not found in {listing.parent}; file paths are "
            f"relative to the folder of {listing.name}"
        )
    refuse_empty(path, where)
    why = url_refusal(path)
    if why:
        raise InputError(f"{where}: {why}")

    def unreadable(exc: Exception) -> InputError:
        if isinstance(exc, IndexError):  # the readers' answer to a series the file lacks
            return InputError(f"{where}: {path} has no series {series}; series are counted from 0")
        return InputError(f"{where}: {path} cannot be read as a tile ({reason(exc)}); check that "
                          "it is one image with axes among t, c, z, y, x, or rerun with --debug")

    with blaming_the_file(unreadable):
        return read_image_file(path, scene=series or 0, cache=cache)


def first_repeat(files: Sequence[tuple[str, int | None]]) -> tuple[int, int] | None:
    """Indices (earlier, later) of the first (file, series) listed twice, however the path is
    spelled (`a.tif`, `./a.tif`, `sub/../a.tif`), no series being series 0: the same pixels
    as two tiles (or two planes of one) make a wrong mosaic without any error."""
    seen: dict[tuple[str, int], int] = {}
    for index, (file, series) in enumerate(files):
        key = (os.path.normpath(file), series or 0)
        if key in seen:
            return seen[key], index
        seen[key] = index
    return None


def listed_channel_names(image: ImageFile) -> tuple[str, ...] | None:
    """The file's channel names, when it names every channel."""
    names = image.channel_names
    return names if names and len(names) == image.data.shape[1] else None


def listed_channel_colors(image: ImageFile) -> tuple[str | None, ...]:
    """The file's channel colours (R, G, B of RGB pixels), when it gives one per channel."""
    colors = image.channel_colors
    return colors if len(colors) == image.data.shape[1] else ()


def calibration(
    images: Sequence[ImageFile],
    override: tuple[float, float, float] | None,
    declared: PixelSize | None = None,
) -> Calibration:
    """Pixel size by precedence: the user's option, then the listing, then the image files
    (which must agree); the listing's z step, when it gives none, from the first file."""
    first = images[0]
    is_3d = any(image.data.shape[2] > 1 for image in images)
    name = first.path.name
    if override is not None or declared is not None:
        found = first.pixel_size if declared is None else (declared[0] if declared[0] is not None
                                                           else first.pixel_size[0], *declared[1:])
        return decide_pixel_size(found, override, has_depth=is_3d, where=name, source=name)
    for image in images[1:]:
        if not _same(image.pixel_size, first.pixel_size):
            raise InputError(
                f"{image.path}: pixel size {_show(image.pixel_size)} differs from "
                f"{_show(first.pixel_size)} of {first.path}; give every tile the same pixel size "
                "or pass --pixel-size"
            )
    note = first.pixel_size_note
    found = decide_pixel_size(first.pixel_size, None, has_depth=is_3d, where=name, source=name,
                              uncalibrated_ok=True, why=f" ({note})" if note else "")
    if note and found.unit is not None:
        return Calibration(found.spacing, found.unit, (f"{name}: {note}", *found.notes))
    return found


def _same(a: PixelSize, b: PixelSize) -> bool:
    return all(
        (u is None and v is None)
        or (u is not None and v is not None and math.isclose(u, v, rel_tol=1e-9))
        for u, v in zip(a, b)
    )


def _show(size: PixelSize) -> str:
    return "(z, y, x) = (" + ", ".join("unknown" if v is None else f"{v:g}" for v in size) + ") um"
