"""Multi-series OME-TIFF: each series is one tile; Plane PositionX/Y/Z place it on the stage."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from functools import cache, partial
from pathlib import Path

import dask.array as da
import numpy as np
import tifffile

from ngff_fuse import byte_ranges, transforms
from ngff_fuse._axes import (
    MICROMETER,
    PIXEL_UNITS,
    REFERENCE_FRAME,
    length_in_um,
    present_dims,
)
from ngff_fuse.errors import InputError
from ngff_fuse.model import Tile, TileSet, TileSource, tile_array
from ngff_fuse.readers.base import OME_TIFF_SUFFIXES, TIFF_SUFFIXES, ReadOptions, pick_scenes
from ngff_fuse.readers.image_file import fast_tiff_pixels, open_bioimage, tiff_damage
from ngff_fuse.readers.ome_images import OmeImages, parse_ome_images
from ngff_fuse.readers.pixel_size import PixelSize, decide_pixel_size
from ngff_fuse.readers.samples import channel_labels, samples_as_channels
from ngff_fuse.readers.tiff_segments import SegmentCache, open_tiff
from ngff_fuse.storage import Location, Remote

_UNITLESS_NOTE = ("the stage positions have no unit (OME \"reference frame\"): read as micrometres, "
                  "as stages record them; if the tiles land wrong, give their positions in a tile "
                  "manifest with a position_unit")


def _unit_name(unit) -> str:
    """An ome-types UnitsLength (or its value) as its OME symbol; None is OME's default, um."""
    return "µm" if unit is None else str(getattr(unit, "value", unit))


def _size_um(value: float, unit, path: Path, what: str) -> float:
    """A PhysicalSize in micrometres; a size in pixels or in the stage's frame is no size."""
    name = _unit_name(unit)
    if name in PIXEL_UNITS:
        raise InputError(f"{path}: {what} is given in {name!r}, not in a unit of length; "
                         "pass --pixel-size")
    return value * length_in_um(name)


def _position_um(value: float, unit, size_um: float) -> float:
    """A Plane Position in micrometres: pixels times the pixel size; OME's "reference frame"
    (no unit, as files without PositionXUnit say) as micrometres, what stages record."""
    name = _unit_name(unit)
    if name == REFERENCE_FRAME:
        return value
    if name in PIXEL_UNITS:
        return value * size_um
    return value * length_in_um(name)


def _color_hex(color) -> str | None:
    if color is None:
        return None
    r, g, b = color.as_rgb_tuple(alpha=False)
    return f"{r:02X}{g:02X}{b:02X}"


def _first_plane_position(
    pixels, path: Path, series: int, spacing: tuple[float, float, float]
) -> tuple[float, float, float]:
    """Stage position (z, y, x) um of the series' first plane (T=0, C=0, Z=0)."""
    plane = _first_plane(pixels)
    if plane is None or plane.position_x is None or plane.position_y is None:
        raise InputError(
            f"{path}: series {series} has no Plane PositionX/PositionY; give positions with a "
            "tile manifest or a TileConfiguration.txt instead"
        )
    z = 0.0 if plane.position_z is None else _position_um(plane.position_z, plane.position_z_unit,
                                                          spacing[0])
    return (
        z,
        _position_um(plane.position_y, plane.position_y_unit, spacing[1]),
        _position_um(plane.position_x, plane.position_x_unit, spacing[2]),
    )


def _first_plane(pixels):
    """The plane at T=0, C=0, Z=0 (the lowest listed), or None when none is listed."""
    return min(pixels.planes, key=lambda p: (p.the_t, p.the_c, p.the_z), default=None)


def _in_reference_frame(pixels) -> bool:
    """Whether the first plane's x or y position has no unit (OME's "reference frame")."""
    plane = _first_plane(pixels)
    return any(_unit_name(u) == REFERENCE_FRAME for u in (plane.position_x_unit, plane.position_y_unit))


def _found_pixel_size(pixels, path: Path) -> PixelSize:
    """(z, y, x) um from PhysicalSizeZ/Y/X, None where not given."""
    return tuple(
        None if size is None else _size_um(size, unit, path, f"PhysicalSize{ax}")
        for ax, size, unit in (
            ("Z", pixels.physical_size_z, pixels.physical_size_z_unit),
            ("Y", pixels.physical_size_y, pixels.physical_size_y_unit),
            ("X", pixels.physical_size_x, pixels.physical_size_x_unit),
        )
    )


class OmeTiffReader:
    """Reads the OME-XML's positions, sizes and channels with `ome_images` and the pixels with
    tifffile (bioio-ome-tiff for a series whose planes tifffile cannot map). A file at a URL
    too: its header through fsspec, its pixels by range requests (see `tiff_segments`)."""

    name = "ome-tiff"
    description = "multi-series OME-TIFF (one series per tile)"
    reads_urls = True

    def can_open(self, path: Location) -> bool:
        if path.suffix.lower() not in TIFF_SUFFIXES or not path.is_file():
            return False
        if path.name.lower().endswith(OME_TIFF_SUFFIXES):
            return True  # claimed by name, so a damaged file gets this reader's error message
        try:
            with open_tiff(path) as tif:
                return tif.is_ome
        except Exception:  # not a readable TIFF: not ours to claim
            return False

    def read(self, path: Location, options: ReadOptions) -> list[TileSet]:
        with open_tiff(path) as tif:
            xml = tif.ome_metadata
            if not xml:
                why = tiff_damage(path) or "no OME-XML in its first ImageDescription"
                raise InputError(f"{path}: cannot be read as an OME-TIFF ({why}); if it was copied, "
                                 "copy it again, else give the positions with a tile manifest")
            ome = parse_ome_images(xml, path)
            return [ome_tileset(ome, _series_pixels(tif, ome, path), path, options)]


def ome_tileset(ome, pixels: Sequence[da.Array], path: Path, options: ReadOptions) -> TileSet:
    """One mosaic from OME-XML images, one tile per image: `pixels[i]` holds image i's lazy
    (t, c, z, y, x) planes; Plane PositionX/Y/Z place it. Shared by every OME-XML input."""
    mosaic_name = path.name.split(".")[0]
    pick_scenes(path, [mosaic_name], options.scenes)
    tiles = []
    spacings = []
    notes: dict[str, None] = {}  # in order, each once
    unitless = False
    for series, data in enumerate(pixels):
        image_pixels = ome.images[series].pixels
        # OME sizes are positive, so the option needs nothing of the file's (not even its units)
        found = (None, None, None) if options.pixel_size else _found_pixel_size(image_pixels, path)
        calibration = decide_pixel_size(found, options.pixel_size, has_depth=data.shape[2] > 1,
                                        where=str(path), source="the OME metadata (PhysicalSizeX/Y/Z)")
        spacing = calibration.spacing
        notes.update(dict.fromkeys(calibration.notes))
        origin = _first_plane_position(image_pixels, path, series, spacing)
        unitless = unitless or _in_reference_frame(image_pixels)
        names, _ = _channel_labels(image_pixels)
        name = ome.images[series].name or f"series {series}"
        tiles.append(
            Tile(
                data=tile_array(data, spacing, origin, name, names),
                affine=transforms.placement(spacing, origin),
                name=name,
                source=TileSource(str(path), series),
            )
        )
        spacings.append(spacing)
    _check_same_spacing(spacings, tiles)
    names, colors = _channel_labels(ome.images[0].pixels)
    return TileSet(
        tiles=tuple(tiles),
        spacing=spacings[0],
        dims=present_dims(tiles[0].data.shape),
        name=mosaic_name,
        unit=MICROMETER,
        channel_names=names,
        channel_colors=colors,
        position_source="OME-XML Plane PositionX/Y/Z of each series (first plane)",
        notes=(*notes, *((_UNITLESS_NOTE,) if unitless else ())),
    )


def _channel_labels(pixels) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
    """Names and colours of an OME image's channels, one per sample of RGB channels
    (SamplesPerPixel 3: SizeC counts the samples, and one Channel element describes them)."""
    channels = pixels.channels
    names = tuple(ch.name or f"Channel {i}" for i, ch in enumerate(channels))
    colors = tuple(_color_hex(ch.color) for ch in channels)
    samples = (channels[0].samples_per_pixel or 1) if channels else 1
    return channel_labels(len(channels), samples, names, colors)


def _series_pixels(tif: tifffile.TiffFile, ome: OmeImages, path: Location) -> list:
    """Lazy (t, c, z, y, x) pixels of every series from one parse of the TIFF, each series'
    shape from its OME-XML Pixels; bioio (opened once, and only then) reads a series whose
    planes do not map simply."""
    bioimage = cache(lambda: open_bioimage(path, _bioio_ome_tiff_reader()))
    segments = SegmentCache()  # decoded TIFF segments, shared by every series' reads
    identity = byte_ranges.identity(path) if isinstance(path, Remote) else None  # one request, not one a series
    pixels = []
    for series, ome_image in enumerate(ome.images):
        p = ome_image.pixels
        shape = (p.size_t, p.size_c, p.size_z, p.size_y, p.size_x)
        pixels.append(fast_tiff_pixels(tif, series, shape, partial(_bioio_pixels, bioimage, series), segments,
                                       path, identity))
    return pixels


def _bioio_ome_tiff_reader():
    from bioio_ome_tiff import (
        Reader,  # ~1 s to import: only for a series tifffile cannot map
    )

    return Reader


def _bioio_pixels(bioimage: Callable, series: int) -> da.Array:
    image = bioimage()
    image.set_scene(series)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return samples_as_channels(image.get_image_dask_data("TCZYXS"))


def _check_same_spacing(spacings: list[tuple[float, float, float]], tiles: list[Tile]) -> None:
    for spacing, tile in zip(spacings[1:], tiles[1:]):
        if not np.allclose(spacing, spacings[0], rtol=1e-6):
            raise InputError(
                f"{tile.source}: pixel size {spacing} um differs from {spacings[0]} um of "
                f"{tiles[0].source}; resample the tiles to one pixel size or pass --pixel-size"
            )
