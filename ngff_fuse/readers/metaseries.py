"""MetaXpress exports: what a plane's file name says (plate, well, site, channel) and what
its MetaSeries XML says (stage position, calibration, wavelength, illumination, projection)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ngff_fuse._axes import is_length_unit, length_in_um

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
    )
