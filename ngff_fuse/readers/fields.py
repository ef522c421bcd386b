"""Plate fields placed by their stage centres, on whole pixels of the well's first field.

Screening stages (ImageXpress, CellVoyager) record each field's centre in 0.1 um steps and lay
a well's fields out to abut: a fraction of a pixel between them is the stage's rounding, and
honouring it would only resample every other field. So each field's first pixel sits a whole
number of pixels from the first field's, the rounding said in a note.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def field_corners(centres: Sequence[Sequence[float]], shapes: Sequence[Sequence[int]],
                  pixel_size: Sequence[float]) -> tuple[np.ndarray, float]:
    """The (y, x) physical position of each field's first pixel, from its (y, x) stage centre
    and (y, x) shape, and the most any field moved in rounding (in pixels)."""
    centres, shapes = np.asarray(centres, dtype=float), np.asarray(shapes, dtype=float)
    size = np.asarray(pixel_size, dtype=float)
    corners = centres - (shapes - 1) / 2 * size  # the first pixel's centre, (n - 1) / 2 before
    steps = (corners - corners[0]) / size
    rounded = corners[0] + np.round(steps) * size
    return rounded, float(np.max(np.abs(steps - np.round(steps)), initial=0.0))


def rounding_note(shift: float, kind: str) -> list[str]:
    """The note saying fields were moved onto whole pixels, when any moved noticeably."""
    return [f"{kind} positions rounded to whole pixels (at most {shift:.2f} px)"] if shift >= 0.005 else []
