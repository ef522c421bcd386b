"""Open one image file (any format bioio reads) as lazy 5-D pixels plus its calibration.

A TIFF may be an object at a URL (a `storage.Remote`): tifffile parses its header through an
fsspec file and its pixels are read by range requests. Other formats, and TIFFs only bioio
can map, are read by libraries that open local files: refused at a URL, in one line."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import dask.array as da
import numpy as np
import tifffile

from ngff_fuse._axes import is_length_unit, length_in_um
from ngff_fuse.errors import InputError, reason
from ngff_fuse.readers.base import OME_TIFF_SUFFIXES, TIFF_SUFFIXES
from ngff_fuse.readers.picture_file import PICTURE_SUFFIXES, read_picture
from ngff_fuse.readers.pixel_size import PixelSize
from ngff_fuse.readers.samples import channel_labels, samples_as_channels
from ngff_fuse.readers.tiff_planes import tiff_dask_array, tiff_plane_table, tiff_series_shape
from ngff_fuse.readers.tiff_segments import SegmentCache, open_tiff
from ngff_fuse.storage import Location, Remote

_BIOIO_DEFAULT_NAME = re.compile(r"Channel:\d+:\d+")


@dataclass(frozen=True)
class ImageFile:
    """Pixels of one image (one series of a file) as (t, c, z, y, x), and what the file says."""

    data: da.Array
    pixel_size: PixelSize  # (z, y, x) um, None = unknown
    channel_names: tuple[str, ...]
    path: Location
    pixel_size_note: str | None = None  # why a resolution the file holds is not its pixel size
    channel_colors: tuple[str | None, ...] = ()  # RRGGBB per channel where the file implies one
    samples: int = 1  # samples per pixel (3: RGB), each a channel of `data` (see readers.samples)


def _bioio_reader_class(path: Location):
    """Pick the bioio plugin for TIFFs ourselves: bioio's own guess tries OME first and warns."""
    if path.suffix.lower() in TIFF_SUFFIXES:
        with open_tiff(path) as tif:
            is_ome = tif.is_ome
        if is_ome:
            from bioio_ome_tiff import Reader
        else:
            from bioio_tifffile import Reader
        return Reader
    return None


def open_bioimage(path: Location, reader=None):
    """A bioio BioImage for `path` (with `reader`, a bioio plugin's Reader class, or the one
    that fits), with a one-line InputError when it cannot be read. A TIFF at a URL is opened
    through fsspec, with the URL's file system options (bioio's TIFF plugins read it so)."""
    from bioio import BioImage

    remote = {"fs_kwargs": path.client_options()} if isinstance(path, Remote) else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return BioImage(str(path) if remote else path, reader=reader or _bioio_reader_class(path), **remote)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; check the path") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied; make the file readable") from None
    except Exception as exc:  # bioio plugins raise many kinds for a corrupt or foreign file
        why = tiff_damage(path) or reason(exc)
        raise InputError(
            f"{path}: cannot be read as an image ({why}); check that the file is complete "
            "and in a format bioio reads"
        ) from None


def local_only(path: Remote, library: str) -> str:
    """Why `path`, at a URL, is not read: `library` opens local files."""
    return (f"{path}: {library} opens local files, so it is not read from a URL; copy it to a local "
            "disk and give its path")


def url_refusal(path: Location) -> str | None:
    """Why `path`, an object at a URL, is not read (only TIFFs are); None when it is read."""
    if isinstance(path, Remote) and path.suffix.lower() not in TIFF_SUFFIXES:
        return local_only(path, f"the library reading {path.suffix or 'such'} files")
    return None


def tiff_damage(path: Location) -> str | None:
    """Why a TIFF bioio refused is damaged, in tifffile's words (bioio says only that none of
    its readers could read it); None for a file that is no TIFF or that tifffile reads."""
    if path.suffix.lower() not in TIFF_SUFFIXES:
        return None
    try:
        with open_tiff(path) as tif:
            if path.name.lower().endswith(OME_TIFF_SUFFIXES) and not tif.is_ome:
                return "its OME-XML is missing or damaged"
            if tif.is_ome:
                _ome_xml_damage(tif.ome_metadata)
            for series in tif.series:
                series.asarray()
    except Exception as exc:  # tifffile's own word for the damage
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def _ome_xml_damage(xml: str) -> None:
    """Parse OME-XML as bioio does; raises what is wrong with it (a flipped byte: a bad tag)."""
    from ome_types import from_xml

    try:
        from_xml(xml)
    except Exception as exc:
        raise ValueError(f"its OME-XML does not parse: {reason(exc)}") from exc


def fast_tiff_pixels(
    tif: tifffile.TiffFile, series: int, shape: tuple[int, ...], bioio_pixels: Callable[[], da.Array],
    cache: SegmentCache, source: Location, identity: tuple | None = None,
) -> da.Array:
    """Region-reading pixels for a TIFF series of (t, c, z, y, x) `shape` where its planes map
    simply, else bioio's, asked for only then: bioio re-parses every series of a file each
    time it opens one, which is quadratic in the tiles of a multi-series file. `source`: the
    file `tif` was opened on (`identity`: see `tiff_plane_table`)."""
    table = tiff_plane_table(tif, series, shape, source if isinstance(source, Remote) else None, identity)
    return bioio_pixels() if table is None else tiff_dask_array(table, cache)


def _ome_pixel_size(image) -> tuple[float | None, float | None, float | None]:
    sizes = image.physical_pixel_sizes
    return (sizes.Z, sizes.Y, sizes.X)


def read_image_file(path: Location, scene: int = 0, cache: SegmentCache | None = None) -> ImageFile:
    """Lazy pixels of one scene (series) of an image file, with its pixel size where known.
    Readers of many files pass one `cache` for all (decoded TIFF segments: see tiff_segments);
    without one, the file gets its own."""
    cache = cache or SegmentCache()
    why = url_refusal(path)
    if why:
        raise InputError(why)
    if path.suffix.lower() in PICTURE_SUFFIXES:
        if scene:
            raise IndexError(f"{path} holds one image")
        data, names, colors = read_picture(path)  # no microscope writes a calibration into these
        return ImageFile(data=data, pixel_size=(None, None, None), channel_names=names, path=path,
                         channel_colors=colors, samples=int(data.shape[1]))
    if path.suffix.lower() in TIFF_SUFFIXES:
        image = _read_plain_tiff(path, scene, cache)
        if image is not None:
            return image
    image = open_bioimage(path)
    if scene:
        image.set_scene(scene)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = image.get_image_dask_data("TCZYXS")  # S: the samples of RGB(A) pixels
        pixel_size = _ome_pixel_size(image)
        names = tuple(str(n) for n in image.channel_names or ())
    if all(_BIOIO_DEFAULT_NAME.fullmatch(n) for n in names):
        names = ()  # bioio's placeholders ("Channel:0:0") say nothing about the channel
    samples = int(data.shape[5])
    names, colors = channel_labels(data.shape[1], samples, names)
    data = samples_as_channels(data)
    note = None
    if path.suffix.lower() in TIFF_SUFFIXES:
        with open_tiff(path) as tif:
            data = fast_tiff_pixels(tif, scene, data.shape, lambda: data, cache, path)
            if not tif.is_ome or pixel_size == (None, None, None):  # OME PhysicalSize wins
                pixel_size, note = tiff_calibration(tif, scene)
    return ImageFile(data=data, pixel_size=pixel_size, channel_names=names, path=path,
                     pixel_size_note=note, channel_colors=colors, samples=samples)


def _read_plain_tiff(path: Location, scene: int, cache: SegmentCache) -> ImageFile | None:
    """A non-OME TIFF whose planes map simply, read with tifffile alone: one header parse
    instead of bioio's several (~0.3 ms of CPU a file instead of ~4 ms, which decides how long
    10,000 listed tiles take to open). None: let bioio read it (OME, odd axes, damage)."""
    source = path if isinstance(path, Remote) else None
    try:
        with open_tiff(path, is_mmstack=False) as tif:
            if tif.is_ome or scene >= len(tif.series):
                return None
            shape = tiff_series_shape(tif, scene)
            table = None if shape is None else tiff_plane_table(tif, scene, shape, source)
            if table is None:
                return None
            pixel_size, note = tiff_calibration(tif, scene)
    except OSError as exc:
        if source is not None and exc.errno is None and not isinstance(exc, tifffile.TiffFileError):
            raise  # the object store's failure (gone, unreachable), not the bytes'
        return None
    except (tifffile.TiffFileError, ValueError, KeyError, IndexError):
        return None
    # bioio names the channels of a non-OME TIFF only with placeholders: no names either way,
    # but the samples of RGB pixels are R, G and B
    names, colors = channel_labels(table.shape[1] // table.samples, table.samples)
    return ImageFile(data=tiff_dask_array(table, cache), pixel_size=pixel_size, channel_names=names, path=path,
                     pixel_size_note=note, channel_colors=colors, samples=table.samples)


# TIFF ResolutionUnit codes: the units of document software, and real lengths in micrometres
_INCH, _CENTIMETER = 2, 3
_RESOLUTION_UNIT_UM = {_INCH: 25400.0, _CENTIMETER: 1e4, 4: 1e3, 5: 1.0}
#: Screen, print and camera software write 72, 96, 300 dpi and the like in inches (Photoshop
#: in centimetres: 28.35 px/cm is 72 dpi) whatever the image shows; a microscope's pixel is
#: far finer (10 um is 2540 dpi). A resolution in inches or centimetres of at most this many
#: dots per inch (pixels of 42 um or more) is such a default, not a calibration.
WRITER_DEFAULT_MAX_DPI = 600.0

_UNCALIBRATED: PixelSize = (None, None, None)


def tiff_calibration(tif: tifffile.TiffFile, series: int = 0) -> tuple[PixelSize, str | None]:
    """Pixel size (z, y, x) in um of a TIFF as its writer meant it, None where unknown, and
    why a resolution the file holds was not taken as one (None when there was nothing to say).

    Decided here for every TIFF ngff-fuse opens (OME PhysicalSize, read by bioio, comes first):
    the ImageJ unit with the resolution tags (z from ImageJ's spacing); else the TIFF
    ResolutionUnit (absent means inch, as the TIFF specification says). A resolution in inches
    or centimetres at a document resolution (`WRITER_DEFAULT_MAX_DPI`) is a writer's default;
    ResolutionUnit none with 1 pixel per unit is tifffile's placeholder; both mean uncalibrated.
    """
    page = tif.series[series].keyframe
    xres, yres = page.tags.get("XResolution"), page.tags.get("YResolution")
    if xres is None or yres is None or not xres.value[0] or not yres.value[0]:
        return _UNCALIBRATED, None
    per_unit = np.array([yres.value[0] / yres.value[1], xres.value[0] / xres.value[1]])  # px/unit
    z, note = None, None
    if tif.is_imagej:
        meta = tif.imagej_metadata or {}
        unit = str(meta.get("unit", "")).replace("\\u00B5", "µ").strip()
        if not unit or not is_length_unit(unit):
            return _UNCALIBRATED, None  # ImageJ writes no unit (or "pixel") when uncalibrated
        um = length_in_um(unit)
        document = um in (_RESOLUTION_UNIT_UM[_INCH], _RESOLUTION_UNIT_UM[_CENTIMETER])
        where = f"ImageJ unit {unit}"
        z = meta.get("spacing")
    else:
        tag = page.tags.get("ResolutionUnit")
        code = _INCH if tag is None else int(tag.value)
        if code == 1:  # RESUNIT.NONE: "no absolute unit of measurement"
            if np.allclose(per_unit, 1.0):
                return _UNCALIBRATED, None
            um, note = 1.0, "its resolution has no unit (ResolutionUnit none): read as micrometres, as bioio does"
        elif code in _RESOLUTION_UNIT_UM:
            um = _RESOLUTION_UNIT_UM[code]
        else:
            return _UNCALIBRATED, f"its ResolutionUnit {code} is not a unit of length"
        document = code in (_INCH, _CENTIMETER)
        where = "ResolutionUnit " + {_INCH: "inch", _CENTIMETER: "centimeter"}.get(code, "")
    dpi = per_unit * 25400.0 / um
    if document and (dpi <= WRITER_DEFAULT_MAX_DPI * (1 + 1e-9)).any():
        shown = " x ".join(f"{v:.4g}" for v in dict.fromkeys(np.round(dpi, 2)))
        return _UNCALIBRATED, (f"its resolution, {shown} dpi ({where}), is a document resolution "
                               "as screen, print and camera software write (72, 96, 300 dpi), not a "
                               "microscope's calibration")
    sy, sx = (um * res.value[1] / res.value[0] for res in (yres, xres))
    return (float(z) * um if z else None, float(sy), float(sx)), note
