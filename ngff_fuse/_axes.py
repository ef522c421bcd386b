"""The single home of axis order, spatial axes and length units."""

from __future__ import annotations

import math

#: Axis order of every tile and of the fused mosaic (NGFF order: time, channel, space).
AXES: tuple[str, ...] = ("t", "c", "z", "y", "x")
#: Spatial axes, in the order used by every affine and position in this package.
SPATIAL: tuple[str, ...] = ("z", "y", "x")
#: Unit of every physical coordinate inside ngff-fuse.
MICROMETER = "micrometer"

# Length units by every spelling found in OME-XML, NGFF, ImageJ and user manifests,
# as their size in micrometres.
_LENGTH_UM: dict[str, float] = {
    "pm": 1e-6, "picometer": 1e-6,
    "å": 1e-4, "angstrom": 1e-4,
    "nm": 1e-3, "nanometer": 1e-3,
    "µm": 1.0, "μm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
    "mm": 1e3, "millimeter": 1e3,
    "cm": 1e4, "centimeter": 1e4,
    "m": 1e6, "meter": 1e6,
    "in": 25400.0, "inch": 25400.0,
}
#: Spellings of "positions are pixel indices, not lengths".
PIXEL_UNITS = frozenset({"px", "pixel", "pixels", "reference frame"})


def length_in_um(unit: str) -> float:
    """Size of one `unit` in micrometres; raises KeyError for an unknown unit."""
    return _LENGTH_UM[unit.strip().lower().replace("micrometre", "micrometer")]


def is_length_unit(unit: str) -> bool:
    try:
        length_in_um(unit)
    except KeyError:
        return False
    return True


def finite(values) -> bool:
    return all(math.isfinite(float(v)) for v in values)


def present_dims(shape: tuple[int, ...]) -> tuple[str, ...]:
    """The axes a 5-D (t, c, z, y, x) shape really uses: those longer than 1, and always y, x."""
    return tuple(ax for ax, n in zip(AXES, shape) if n > 1 or ax in ("y", "x"))
