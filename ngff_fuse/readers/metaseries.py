"""MetaXpress exports: what a plane's file name says (plate, well, site, channel) and what
its MetaSeries XML says (stage position, calibration, wavelength, illumination, projection);
opening one plane file, damaged ones named in one line."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import tifffile

from ngff_fuse._axes import is_length_unit, length_in_um
from ngff_fuse.errors import InputError
from ngff_fuse.readers.tiff_planes import tiff_dask_array, tiff_plane_table
from ngff_fuse.readers.tiff_segments import SegmentCache
from ngff_fuse.readers.base import refuse_empty

_GUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
# The GUID has a fixed length, so the site or channel number before it is never ambiguous; the
# plate name is the shortest prefix that leaves a well (upper case, as MetaXpress writes it).
_NAME = re.compile(
    rf"(?P<plate>.+?)_(?P<well>[A-Z]{{1,2}}\d{{1,2}})(?:_s(?P<site>\d+))?(?:_w(?P<channel>\d+))?"
    rf"(?P<thumb>_thumb)?(?:{_GUID})?(?i:\.tiff?)"
)


@dataclass(frozen=True)
class PlaneName:
    """What a MetaXpress file name says: plate, well, site and channel (both from 1)."""

    plate: str
    well: str  # e.g. "E07"
    site: int
    channel: int
    thumbnail: bool


def parse_name(name: str) -> PlaneName | None:
    """The parts of a MetaXpress TIFF name, or None for any other name."""
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    return PlaneName(
        plate=match.group("plate"),
        well=match.group("well"),
        site=int(match.group("site") or 1),
        channel=int(match.group("channel") or 1),
        thumbnail=match.group("thumb") is not None,
    )


@dataclass(frozen=True)
class MetaSeriesPlane:
    """What one TIFF's MetaSeries XML says about its plane; None where it says nothing."""

    stage_x: float | None  # um, centre of the field
    stage_y: float | None
    z_position: float | None  # um
    pixel_size: tuple[float, float] | None  # (y, x) um; None: uncalibrated
    wavelength: float | None  # nm
    illumination: str | None
    projection: str | None  # e.g. "Maximum" when the plane is a projection of a z stack
    projection_step: float | None  # um between the planes that were projected
    exposure: str | None = None  # e.g. "15 ms"


def metaseries_plane(meta: dict) -> MetaSeriesPlane:
    """The plane's facts from tifffile's parsed MetaSeries metadata."""
    info = meta.get("PlaneInfo", {})

    def number(key: str) -> float | None:
        value = info.get(key)
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None

    def text(key: str) -> str | None:
        return str(info.get(key) or "").strip() or None

    pixel_size = None
    units = str(info.get("spatial-calibration-units", "")).strip()
    sx, sy = number("spatial-calibration-x"), number("spatial-calibration-y")
    if info.get("spatial-calibration-state") and sx and sy and is_length_unit(units):
        pixel_size = (sy * length_in_um(units), sx * length_in_um(units))
    return MetaSeriesPlane(
        stage_x=number("stage-position-x"),
        stage_y=number("stage-position-y"),
        z_position=number("z-position"),
        pixel_size=pixel_size,
        wavelength=number("wavelength"),
        illumination=text("_IllumSetting_"),
        projection=text("Z Projection Method"),
        projection_step=number("Z Projection Step Size"),
        exposure=text("Exposure Time"),
    )


def channel_label(meta: MetaSeriesPlane, channel: int) -> str:
    """The illumination setting's name, else the wavelength, else the file name's w<N>."""
    if meta.illumination:
        return meta.illumination
    return f"{meta.wavelength:g} nm" if meta.wavelength else f"w{channel}"


def distinct_channel_labels(metas: Sequence[MetaSeriesPlane], channels: Sequence[int]) -> tuple[str, ...]:
    """One label per channel, told apart where several share one (four "FITC_05" in a real
    export): by the first of projection method, wavelength or exposure that differs between
    every one of them, else by the file name's w<N>, which always does."""
    labels = [channel_label(meta, c) for meta, c in zip(metas, channels)]
    facts = (
        lambda m, c: m.projection,
        lambda m, c: f"{m.wavelength:g} nm" if m.wavelength else None,
        lambda m, c: m.exposure,
        lambda m, c: f"w{c}",
    )
    out = list(labels)
    for label in set(labels):
        group = [i for i, other in enumerate(labels) if other == label]
        if len(group) < 2:
            continue
        for fact in facts:
            values = [fact(metas[i], channels[i]) for i in group]
            if all(values) and len(set(values)) == len(values):
                for i, value in zip(group, values):
                    out[i] = f"{label} ({value})"
                break
    return tuple(out)


def read_metaseries(path: Path) -> MetaSeriesPlane:
    """The MetaSeries facts of one TIFF; InputError when it has none or is damaged."""
    return open_plane(path)[1]


def open_plane(path: Path) -> tuple[da.Array, MetaSeriesPlane]:
    """A plane file's lazy (1, 1, 1, y, x) pixels and its MetaSeries facts, opening it once.
    Each file gets its own segment cache: MetaXpress writes uncompressed strips, which are
    read in place and never cached."""
    refuse_empty(path)
    try:
        with tifffile.TiffFile(path) as tif:
            damage = plane_damage(tif)
            if damage is None:
                page = tif.pages.first
                table = tiff_plane_table(tif, 0, (1, 1, 1, *page.shape)) if page.ndim == 2 else None
                meta = tif.metaseries_metadata if page.is_metaseries else None
    except (tifffile.TiffFileError, OSError, ValueError, IndexError) as exc:
        damage = str(exc) or type(exc).__name__
    if damage is not None:
        raise InputError(f"{path}: cannot be read as a TIFF ({damage}); the file is truncated or "
                         "damaged: copy it again from the microscope or export the plate again")
    if meta is None:
        raise InputError(f"{path}: no MetaSeries XML in its ImageDescription, so no stage "
                         "position; give the positions with a tile manifest instead")
    if table is None:
        raise InputError(f"{path}: not one grayscale plane, as MetaXpress writes; export the "
                         "plate again without colour composites")
    return tiff_dask_array(table, SegmentCache()), metaseries_plane(meta)


def plane_damage(tif: tifffile.TiffFile) -> str | None:
    """What shows a MetaXpress TIFF cut short, or None. MetaXpress writes the pixels before
    the page's tags, so a truncated file loses its page, or the tags that locate its pixels
    (tifffile then drops them with a log line and opens the file regardless)."""
    if len(tif.pages) == 0:
        return "no image in it"
    page = tif.pages.first
    offsets, counts = page.dataoffsets, page.databytecounts
    if not offsets or len(offsets) != len(counts):
        return "the tags that locate its pixels are missing"
    end = max(o + n for o, n in zip(offsets, counts))
    if end > tif.filehandle.size:
        return f"its pixels run to byte {end} but the file has {tif.filehandle.size}"
    return None
