"""The single home of axis order, spatial axes and length units."""

from __future__ import annotations

import math

#: Axis order of every tile and of the fused mosaic (NGFF order: time, channel, space).
AXES: tuple[str, ...] = ("t", "c", "z", "y", "x")
#: Spatial axes, in the order used by every affine and position in this package.
SPATIAL: tuple[str, ...] = ("z", "y", "x")
#: Unit of every physical coordinate inside ngff-fuse.
MICROMETER = "micrometer"

# Length units as their size in micrometres. OME-XML's symbols (its UnitsLength) are matched as
# written, since case tells them apart ("Mm" megametre, "mm" millimetre; "Pm", "pm"); the
# spellings of NGFF, ImageJ and user manifests are matched in any case, symbols in lower case
# meaning the microscope's scale ("MM" is a millimetre, never a megametre).
_INCH_UM = 25400.0
_OME_SYMBOLS_UM: dict[str, float] = {
    "Ym": 1e30, "Zm": 1e27, "Em": 1e24, "Pm": 1e21, "Tm": 1e18, "Gm": 1e15, "Mm": 1e12,
    "km": 1e9, "hm": 1e8, "dam": 1e7, "m": 1e6, "dm": 1e5, "cm": 1e4, "mm": 1e3, "µm": 1.0,
    "nm": 1e-3, "pm": 1e-6, "fm": 1e-9, "am": 1e-12, "zm": 1e-15, "ym": 1e-18, "Å": 1e-4,
    "thou": _INCH_UM / 1000, "li": _INCH_UM / 12, "in": _INCH_UM, "ft": _INCH_UM * 12,
    "yd": _INCH_UM * 36, "mi": _INCH_UM * 63360, "ua": 1.495978707e17, "ly": 9.4607304725808e21,
    "pc": 3.0856775814913673e22, "pt": _INCH_UM / 72,
}
_SPELLINGS_UM: dict[str, float] = {
    "pm": 1e-6, "picometer": 1e-6,
    "å": 1e-4, "angstrom": 1e-4,
    "nm": 1e-3, "nanometer": 1e-3,
    "µm": 1.0, "μm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
    "mm": 1e3, "millimeter": 1e3,
    "cm": 1e4, "centimeter": 1e4,
    "m": 1e6, "meter": 1e6,
    "in": _INCH_UM, "inch": _INCH_UM,
}
#: OME's unit of a position in "the stage's own frame", its default when a file names none.
REFERENCE_FRAME = "reference frame"
#: Spellings of "positions are pixel indices, not lengths" (in a manifest, "reference frame" too).
PIXEL_UNITS = frozenset({"px", "pixel", "pixels", REFERENCE_FRAME})


def length_in_um(unit: str) -> float:
    """Size of one `unit` in micrometres; raises KeyError for an unknown unit."""
    unit = unit.strip()
    if unit in _OME_SYMBOLS_UM:
        return _OME_SYMBOLS_UM[unit]
    return _SPELLINGS_UM[unit.lower().replace("micrometre", "micrometer").replace("metre", "meter")]


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
