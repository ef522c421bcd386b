"""Open one image file (any format bioio reads) as lazy 5-D pixels plus its calibration."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import tifffile

from ngff_fuse.errors import InputError
from ngff_fuse.readers.tiff_planes import tiff_dask_array, tiff_layout

_TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2")
_BIOIO_DEFAULT_NAME = re.compile(r"Channel:\d+:\d+")


@dataclass(frozen=True)
class ImageFile:
    """Pixels of one image (one series of a file) as (t, c, z, y, x), and what the file says."""

    data: da.Array
    pixel_size: tuple[float | None, float | None, float | None]  # (z, y, x) um, None = unknown
    channel_names: tuple[str, ...]
    path: Path


def _bioio_reader_class(path: Path):
    """Pick the bioio plugin for TIFFs ourselves: bioio's own guess tries OME first and warns."""
    if path.suffix.lower() in _TIFF_SUFFIXES:
        with tifffile.TiffFile(path) as tif:
            is_ome = tif.is_ome
        if is_ome:
            from bioio_ome_tiff import Reader
        else:
            from bioio_tifffile import Reader
        return Reader
    return None


def open_bioimage(path: Path, reader=None):
    """A bioio BioImage for `path` (with `reader`, a bioio plugin's Reader class, or the one
    that fits), with a one-line InputError when it cannot be read."""
    from bioio import BioImage

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return BioImage(path, reader=reader or _bioio_reader_class(path))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; check the path") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied; make the file readable") from None
    except Exception as exc:  # bioio plugins raise many kinds for a corrupt or foreign file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            f"{path}: cannot be read as an image ({reason}); check that the file is complete "
            "and in a format bioio reads"
        ) from None


def fast_tiff_pixels(tif: tifffile.TiffFile, series: int, bioio_data: da.Array) -> da.Array:
    """Region-reading pixels for a TIFF series where its planes map simply, else bioio's."""
    layout = tiff_layout(tif, series, bioio_data.shape)
    return bioio_data if layout is None else tiff_dask_array(layout)


def _ome_pixel_size(image) -> tuple[float | None, float | None, float | None]:
    sizes = image.physical_pixel_sizes
    return (sizes.Z, sizes.Y, sizes.X)


def read_image_file(path: Path, scene: int = 0) -> ImageFile:
    """Lazy pixels of one scene (series) of an image file, with its pixel size where known."""
    image = open_bioimage(path)
    if scene:
        image.set_scene(scene)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = image.get_image_dask_data("TCZYX")
        pixel_size = _ome_pixel_size(image)
        names = tuple(str(n) for n in image.channel_names or ())
    if all(_BIOIO_DEFAULT_NAME.fullmatch(n) for n in names):
        names = ()  # bioio's placeholders ("Channel:0:0") say nothing about the channel
    if path.suffix.lower() in _TIFF_SUFFIXES:
        with tifffile.TiffFile(path) as tif:
            data = fast_tiff_pixels(tif, scene, data)
        if pixel_size == (None, None, None):
            pixel_size = imagej_pixel_size(path)
    return ImageFile(data=data, pixel_size=pixel_size, channel_names=names, path=path)


def imagej_pixel_size(path: Path) -> tuple[float | None, float | None, float | None]:
    """Pixel size from an ImageJ/plain TIFF's resolution tags and ImageJ unit, where present."""
    from ngff_fuse._axes import is_length_unit, length_in_um

    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        meta = tif.imagej_metadata or {}
        unit = meta.get("unit")
        xres = page.tags.get("XResolution")
        yres = page.tags.get("YResolution")
        if not unit or not xres or not yres or not is_length_unit(str(unit).replace("\\u00B5", "µ")):
            return (None, None, None)
        um = length_in_um(str(unit).replace("\\u00B5", "µ"))
        sx = um * xres.value[1] / xres.value[0]
        sy = um * yres.value[1] / yres.value[0]
        sz = meta.get("spacing")
        return (float(sz) * um if sz else None, sy, sx)
