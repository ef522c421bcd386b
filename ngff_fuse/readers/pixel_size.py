"""Which pixel size a tile set gets: the one rule every reader follows.

`--pixel-size` wins over the file's calibration; without either a reader that places tiles by
stage positions cannot work (refused), one whose positions may be pixels works uncalibrated;
a missing z step is 1 micrometre, said in a note when the tiles have depth. Readers only
extract what their format records (in micrometres, `_axes.length_in_um`) and hand it here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ngff_fuse._axes import MICROMETER
from ngff_fuse.errors import InputError

PixelSize = tuple[float | None, float | None, float | None]  # (z, y, x) um, None = unknown


@dataclass(frozen=True)
class Calibration:
    """The pixel size every tile shares, and what was assumed to get it."""

    spacing: tuple[float, float, float]  # (z, y, x), in `unit`
    unit: str | None  # None: uncalibrated, sizes and positions are in pixels
    notes: tuple[str, ...] = ()


def decide_pixel_size(found: PixelSize, override: tuple[float, float, float] | None, *,
                      has_depth: bool, where: str, source: str, uncalibrated_ok: bool = False,
                      why: str = "") -> Calibration:
    """(z, y, x) um from `override` (--pixel-size), else `found` in `source` (what was read:
    "the metadata", a file name), for the tiles of `where` (the input, in messages).

    The option gives sizes only: an axis the file stores backwards (a negative step) keeps
    that direction, or its planes would be mirrored. No y/x size: refused, or with
    `uncalibrated_ok` 1 pixel = 1 unit and no unit (`why` says why the file's was not used)."""
    if override is not None:
        signs = [-1.0 if v is not None and v < 0 else 1.0 for v in found]
        return Calibration(tuple(sign * float(v) for sign, v in zip(signs, override)), MICROMETER)
    z, y, x = found
    if y is None or x is None:
        if not uncalibrated_ok:
            raise InputError(f"{where}: no pixel size in {source}, so stage positions cannot be "
                             "turned into pixels; pass --pixel-size")
        return Calibration((1.0, 1.0, 1.0), None, (
            f"{source} has no pixel size{why}: assumed 1 pixel = 1 unit (uncalibrated); pass "
            "--pixel-size to set it",
        ))
    notes = ()
    if z is None:
        z = 1.0
        if has_depth:
            notes = (f"no z step in {source}: assumed 1 micrometer; pass --pixel-size to set it",)
    return Calibration((float(z), float(y), float(x)), MICROMETER, notes)
