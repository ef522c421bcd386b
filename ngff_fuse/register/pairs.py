"""Which tiles may overlap, given their stage positions, and which region of each to compare.

All geometry here is in pixels of the tile grid: a tile's stage position in pixels is its
origin (um) divided by the pixel size, so tile b's first pixel sits at index
`stage_offset = position_b - position_a` of tile a's pixel frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ngff_fuse.boxes import meeting_pairs
from ngff_fuse.errors import InputError
from ngff_fuse.model import TileSet

#: A pair overlaps by the stage when its stage overlap holds at least this fraction of the
#: smaller tile: face neighbours in a grid from 2 % overlap, corner (diagonal) neighbours once
#: the overlap exceeds ~14 % (what `info`, the layout plot and the orientation check show).
MIN_OVERLAP_FRACTION = 0.02
#: Registration compares a pair when some offset within the search radius overlays at least
#: this fraction of the smaller tile, and accepts only offsets that overlay that much: a 4 px
#: strip along the long edge of a 245 x 122 px tile (1.6 %) still counts, a few pixels of a
#: corner (where NCC is high by chance) do not.
MIN_MATCH_FRACTION = 0.01
#: ... and at least this share of the overlap the pair keeps wherever the radius puts it
#: (against chance matches over a sliver of a wide overlap).
MIN_MATCH_SHARE = 0.25


@dataclass(frozen=True)
class Pair:
    """Two tiles that overlap by the stage, a < b in tile order."""

    a: int
    b: int
    stage_offset: np.ndarray  # (z, y, x) px: b's first pixel in a's pixel frame, by the stage


@dataclass(frozen=True)
class Regions:
    """The equal-shape boxes cut from both tiles of a pair for measuring their offset.

    The stage predicts b[j] ~ a[j + expected] between the two regions (indices within them).
    """

    start_a: tuple[int, int, int]
    start_b: tuple[int, int, int]
    shape: tuple[int, int, int]
    expected: np.ndarray  # (z, y, x) px
    min_overlap: int  # pixels a measured offset must overlay

    def box_a(self) -> tuple[slice, slice, slice]:
        return tuple(slice(s, s + n) for s, n in zip(self.start_a, self.shape))

    def box_b(self) -> tuple[slice, slice, slice]:
        return tuple(slice(s, s + n) for s, n in zip(self.start_b, self.shape))


def stage_pixels(tileset: TileSet) -> tuple[np.ndarray, np.ndarray]:
    """Stage positions (n, 3) in pixels and tile shapes (n, 3), for translated tiles only."""
    spacing = np.asarray(tileset.spacing, dtype=float)
    positions, shapes = [], []
    for tile in tileset.tiles:
        if not np.allclose(tile.affine[:3, :3], np.diag(spacing), rtol=1e-9, atol=0):
            raise InputError(
                f"{tile.source}: the tile is rotated, skewed or scaled differently from the "
                "others; registration refines translations only, so fuse without --register"
            )
        positions.append(tile.origin / spacing)
        shapes.append(tile.spatial_shape)
    return np.array(positions), np.array(shapes, dtype=np.int64)


def overlap_box(a: int, b: int, positions: np.ndarray, shapes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and one-past-highest pixel (z, y, x) of tiles a and b's stage boxes' intersection
    (empty where high <= low)."""
    low = np.maximum(positions[a], positions[b])
    high = np.minimum(positions[a] + shapes[a], positions[b] + shapes[b])
    return low, high


def overlapping_pairs(positions: np.ndarray, shapes: np.ndarray) -> list[Pair]:
    """Every pair whose stage boxes overlap by MIN_OVERLAP_FRACTION of the smaller tile."""
    pairs = []
    for a, b in zip(*meeting_pairs(positions, positions + shapes)):
        low, high = overlap_box(a, b, positions, shapes)
        if np.prod(high - low) >= MIN_OVERLAP_FRACTION * min(np.prod(shapes[a]), np.prod(shapes[b])):
            pairs.append(Pair(a=int(a), b=int(b), stage_offset=positions[b] - positions[a]))
    return pairs


def _overlap_widths(pair: Pair, shape_a, shape_b) -> np.ndarray:
    """Per axis, the px the two stage boxes share (negative: the gap between them)."""
    d = np.asarray(pair.stage_offset, dtype=float)
    return np.minimum(np.asarray(shape_a), d + np.asarray(shape_b)) - np.maximum(0.0, d)


def _reachable_overlap(widths: np.ndarray, shape_a, shape_b, padding) -> float:
    """The most pixels the pair can share at an offset within `padding` px per axis."""
    widest = np.minimum(widths + np.asarray(padding), np.minimum(shape_a, shape_b))
    return float(np.prod(np.clip(widest, 0, None)))


def min_match(shape_a, shape_b) -> float:
    """Pixels a measured offset must overlay at the least, whatever the stage says."""
    return MIN_MATCH_FRACTION * min(float(np.prod(shape_a)), float(np.prod(shape_b)))


def candidate_pairs(positions: np.ndarray, shapes: np.ndarray, padding: np.ndarray) -> list[Pair]:
    """Every pair that some offset within `padding` px per axis (the search radius) of the stage
    gives an overlap of `min_match` pixels: boxes that come within the radius of each other,
    not only boxes that overlap, since a stage error as large as the overlap can leave true
    neighbours apart (or corner to corner) by the stage.
    """
    pairs = []
    for a, b in zip(*meeting_pairs(positions, positions + shapes, padding)):
        pair = Pair(a=int(a), b=int(b), stage_offset=positions[b] - positions[a])
        widths = _overlap_widths(pair, shapes[a], shapes[b])
        if _reachable_overlap(widths, shapes[a], shapes[b], padding) >= min_match(shapes[a], shapes[b]):
            pairs.append(pair)
    return pairs


def regions(pair: Pair, shape_a, shape_b, padding) -> Regions:
    """Boxes around the stage overlap, grown by `padding` px per axis into each tile.

    Phase correlation sees shifts of at most half its window and needs the shared content
    inside both windows, so along an axis where the overlap is w px the window is grown to
    w + 2 * padding (at most the smaller tile), each tile's box extending into its own interior
    (ASHLAR's padded intersection). Integer offset d = round(stage_offset); in a's frame the
    overlap is [lo, hi) = [max(0, d), min(Na, d + Nb)), in b's frame [lo - d, hi - d); where
    the stage boxes leave a gap (hi < lo) the grown boxes are each tile's edge strip facing the
    other, wide enough for every true overlap within the padding.
    """
    d = np.round(pair.stage_offset).astype(np.int64)
    na, nb = np.asarray(shape_a), np.asarray(shape_b)
    lo, hi = np.maximum(0, d), np.minimum(na, d + nb)
    width = hi - lo
    size = np.minimum(width + 2 * np.asarray(padding, dtype=np.int64), np.minimum(na, nb))
    size = np.maximum(size, width)
    grow = size - width
    start_a = np.clip(lo - grow, 0, na - size)
    start_b = np.clip(lo - d - grow, 0, nb - size)
    # b[j] shows b's pixel start_b + j = a's pixel start_b + j + offset, i.e. a's region index
    # start_b + j + offset - start_a.
    expected = pair.stage_offset - start_a + start_b
    kept = np.prod(np.clip(_overlap_widths(pair, na, nb) - np.asarray(padding), 0, None))
    return Regions(
        start_a=tuple(int(v) for v in start_a),
        start_b=tuple(int(v) for v in start_b),
        shape=tuple(int(v) for v in size),
        expected=expected,
        min_overlap=int(math.ceil(max(min_match(na, nb), MIN_MATCH_SHARE * kept))),
    )


def padding_px(max_shift_px: float, spacing) -> np.ndarray:
    """The maximum shift (x pixels) as whole pixels along each axis (z is often coarser)."""
    spacing = np.asarray(spacing, dtype=float)
    return np.array([math.ceil(max_shift_px * spacing[2] / s) for s in spacing], dtype=np.int64)
