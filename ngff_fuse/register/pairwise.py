"""Measure the offset between two overlap regions: exhaustive NCC search, sub-pixel peak.

Both regions have the same shape (z, y, x) and are cut so that the stage predicts content of
`b` at index j to show the content of `a` at index j + `expected`. The measured shift `s` is the
same relation as found in the pixels: b[j] ~ a[j + s].

Why not plain phase correlation: the regions are grown by the maximum shift (pairs.regions),
so the content the two tiles share sits at the tile edges and fills only part of each region.
Windowing (needed against the wrap-around of phase correlation) then fades exactly that shared
strip, and whitening gives the noise-only high frequencies as much weight as the signal. On
noisy, optically smooth synthetic overlaps (15 % overlap, +-25 px stage error) the whitened
phase-correlation peak was the true shift for 10 of 53 links (16 of 53 within its top 8 peaks,
the candidates Fiji's Stitching and MIST check by NCC); the search below found all 53.

Method (the NCC check of Fiji Stitching / BigStitcher / MIST, made exhaustive):

1. Coarse: on block-mean downsampled regions (at most COARSE_BUDGET pixels, so a 2048 x 600
   overlap costs as much as a 512 x 150 one), the normalised cross-correlation for EVERY integer
   shift, normalised over exactly the pixels that shift overlays (Padfield's masked NCC for box
   masks: one zero-padded FFT cross-correlation plus box sums from cumulative sums). No window
   and no wrap-around. The shifts searched reach twice the maximum shift from the stage
   prediction and must overlay the pair's minimum overlap (pairs.regions); the best one is the
   match, and a match beyond the maximum shift (ASHLAR's `max_shift`) is reported as such.
   A best candidate next to a shift that overlays too little but scores higher is only the
   shoulder of a match that overlays too little (a corner of a few pixels): nothing is
   measured, rather than an offset a pixel or two off the truth.
   Where every shift scores alike (a flat or featureless overlap, a linear ramp), the content
   says nothing about the offset, and nothing is measured.
2. Fine: at full resolution, the part the regions share at the coarse shift (cropped to
   FINE_BUDGET pixels about the centre) is searched again within one block (one pixel when the
   coarse search was at full resolution), and a parabola through the NCC peak and its
   neighbours gives the sub-pixel shift on each axis.

The link's score is the NCC of all full-resolution pixels that overlap at the final shift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft

#: Pixels a coarse region may have; the block-mean factor is the smallest that fits.
COARSE_BUDGET = 1 << 15
#: Pixels of the full-resolution crop searched for the fine, sub-pixel shift.
FINE_BUDGET = 1 << 17
#: Below this spread of NCC over all candidate shifts, every shift scores alike.
FLAT_SURFACE = 1e-3


@dataclass(frozen=True)
class Measurement:
    """What the pixels say about one pair of regions."""

    shift: np.ndarray  # (z, y, x) px: b[j] ~ a[j + shift]
    score: float  # NCC of the overlapping pixels at `shift`, in [-1, 1]
    within_limit: bool  # False: no shift within the maximum shift; `shift` is the best outside
    failure: str = ""  # why nothing was measured ("" when something was)


def block_factors(shape: tuple[int, ...], axis_scale: np.ndarray, budget: int) -> tuple[int, ...]:
    """Smallest in-plane block size f fitting `budget` (z blocks: f over the pixel aspect)."""
    f = 1
    while True:
        factors = tuple(
            min(n, max(1, round(f / scale))) for n, scale in zip(shape, axis_scale)
        )
        if math.prod(n // k for n, k in zip(shape, factors)) <= budget or factors == tuple(shape):
            return factors
        f += 1


def block_mean(image: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """Mean over non-overlapping blocks; the remainder at the high end of each axis is dropped,
    so coarse pixel i covers full pixels [f i, f i + f) on every axis."""
    if all(f == 1 for f in factors):
        return image
    cut = image[tuple(slice(0, n - n % f) for n, f in zip(image.shape, factors))]
    shape = [m for n, f in zip(cut.shape, factors) for m in (n // f, f)]
    return cut.reshape(shape).mean(axis=(1, 3, 5), dtype=np.float64)


def _box_sums(values: np.ndarray, side: int, shifts: list[np.ndarray]) -> np.ndarray:
    """Sums of each of the stacked `values` (k, z, y, x) over the box one region overlays, for
    each listed shift s per axis: region a's box [max(0, s), min(n, n + s)) (side +1), region
    b's the mirror (-1).

    Separable: along each axis in turn, a prefix sum and one difference per shift; the axes
    whose window narrows the array most go first, so later passes work on less.
    """
    out = values
    order = sorted(range(len(shifts)), key=lambda axis: len(shifts[axis]) / values.shape[axis + 1])
    for axis in order:
        n, s = values.shape[axis + 1], shifts[axis] * side
        if n == 1:
            continue  # the only shift is 0, the box the whole (single) plane
        shape = list(out.shape)
        shape[axis + 1] += 1
        prefix = np.zeros(shape)
        np.cumsum(out, axis=axis + 1, out=prefix[(slice(None),) * (axis + 1) + (slice(1, None),)])
        high = np.take(prefix, np.minimum(n, n + s), axis=axis + 1)
        out = high - np.take(prefix, np.maximum(0, s), axis=axis + 1)
    return out


def ncc_surface(
    a: np.ndarray, b: np.ndarray, window: list[tuple[int, int]] | None = None
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """NCC and overlap pixel count for every integer shift in `window` ((first, last) per axis,
    default: every shift that overlaps), where b[j] ~ a[j + shift]; flat overlaps score 0.
    Also returns the shifts along each axis, shaped to broadcast against the surface."""
    window = window or [(-(n - 1), n - 1) for n in a.shape]
    shifts = [np.arange(first, last + 1) for first, last in window]
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    # Zero-padded to n + the largest |shift|, so no shift in the window wraps around and the
    # correlation is linear: cross[s] = sum_j a[j + s] b[j]. Single precision: the NCC of any
    # overlap of the budgeted sizes stays within ~1e-5 of the exact value.
    size = [
        scipy.fft.next_fast_len(n + max(abs(first), abs(last)), real=True)
        for n, (first, last) in zip(a.shape, window)
    ]
    spectrum = scipy.fft.rfftn(a.astype(np.float32), size)
    spectrum *= np.conj(scipy.fft.rfftn(b.astype(np.float32), size))
    cross = scipy.fft.irfftn(spectrum, size)
    count = np.ones([1] * a.ndim)
    grid = []
    for axis, (n, m, s) in enumerate(zip(a.shape, size, shifts)):
        cross = np.take(cross, s % m, axis=axis)
        shape = [-1 if i == axis else 1 for i in range(a.ndim)]
        count = count * (n - np.abs(s)).astype(np.float64).reshape(shape)
        grid.append(s.reshape(shape))
    sum_a, sum_aa = _box_sums(np.stack([a, a * a]), 1, shifts)
    sum_b, sum_bb = _box_sums(np.stack([b, b * b]), -1, shifts)
    numerator = cross - sum_a * sum_b / count
    variance = (sum_aa - sum_a**2 / count) * (sum_bb - sum_b**2 / count)
    # Relative to the signal energy, anything this small is rounding noise of a flat overlap.
    floor = 1e-12 * float(np.sum(a * a)) * float(np.sum(b * b)) + 1e-300
    surface = np.where(variance > floor, numerator / np.sqrt(np.maximum(variance, floor)), 0.0)
    return surface, count, grid


def _deviation_size(grid, factors, expected, axis_scale, slack) -> np.ndarray:
    """Length (x pixels) of every candidate's deviation from the stage, less `slack` per axis."""
    total = 0.0
    for g, f, e, s, k in zip(grid, factors, expected, axis_scale, slack):
        total = total + (np.maximum(np.abs(g * f - e) - k, 0) * s) ** 2
    return np.sqrt(total)


def _best(surface: np.ndarray, usable: np.ndarray) -> tuple[int, ...] | None:
    if not usable.any():
        return None
    return np.unravel_index(int(np.argmax(np.where(usable, surface, -np.inf))), surface.shape)


def _is_local_maximum(surface: np.ndarray, peak: tuple[int, ...]) -> bool:
    """No shift next to `peak` (one step per axis, diagonals too) scores higher, including
    shifts that overlay too little to be candidates: where one of those does, the true match
    overlays too little, and the best candidate is only its shoulder."""
    box = tuple(slice(max(0, i - 1), i + 2) for i in peak)
    return bool(surface[box].max() <= surface[peak])


def _parabola(surface: np.ndarray, peak: tuple[int, ...]) -> np.ndarray:
    """Sub-pixel offset of the peak: a parabola through it and its two neighbours, per axis."""
    offset = np.zeros(surface.ndim)
    for axis, i in enumerate(peak):
        if 0 < i < surface.shape[axis] - 1:
            line = surface[peak[:axis] + (slice(i - 1, i + 2),) + peak[axis + 1 :]]
            left, centre, right = line
            curvature = left - 2 * centre + right
            if curvature < 0:
                offset[axis] = np.clip(0.5 * (left - right) / curvature, -0.5, 0.5)
    return offset


def _overlay(shape: tuple[int, ...], shift) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Index boxes of a and b that coincide when b[j] ~ a[j + shift] (integer shift)."""
    box_a, box_b = [], []
    for n, s in zip(shape, shift):
        s = int(np.clip(round(float(s)), -n, n))
        box_a.append(slice(max(0, s), min(n, n + s)))
        box_b.append(slice(max(0, -s), min(n, n - s)))
    return tuple(box_a), tuple(box_b)


def _central_crop(box_a, box_b, budget: int):
    """Shrink two equal-size boxes about their centre until they hold at most `budget` pixels."""
    sizes = [s.stop - s.start for s in box_a]
    while math.prod(sizes) > budget:
        axis = int(np.argmax(sizes))
        sizes[axis] = max(1, sizes[axis] * 3 // 4)
    out_a, out_b = [], []
    for sa, sb, n in zip(box_a, box_b, sizes):
        trim = (sa.stop - sa.start - n) // 2
        out_a.append(slice(sa.start + trim, sa.start + trim + n))
        out_b.append(slice(sb.start + trim, sb.start + trim + n))
    return tuple(out_a), tuple(out_b)


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two equal-shape arrays; 0 when either is flat."""
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    denominator = math.sqrt(float(np.sum(a * a)) * float(np.sum(b * b)))
    return float(np.sum(a * b) / denominator) if denominator > 0 else 0.0


def _refine(a: np.ndarray, b: np.ndarray, coarse: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """Full-resolution sub-pixel shift near the coarse one (within one block per axis).

    On the two regions' common part at the coarse shift, so that every shift tried loses a
    pixel row or column of shared content only, never gains content that only one tile has.
    """
    box_a, box_b = _central_crop(*_overlay(a.shape, coarse), FINE_BUDGET)
    oa, ob = a[box_a], b[box_b]
    reach = [min(f, n - 1) for f, n in zip(factors, oa.shape)]
    surface, count, grid = ncc_surface(oa, ob, [(-r, r) for r in reach])
    peak = _best(surface, count >= 0.5 * oa.size)
    if peak is None:
        return coarse.astype(float)
    residual = np.array([g.ravel()[i] for g, i in zip(grid, peak)], dtype=float)
    return coarse + residual + _parabola(surface, peak)


def measure(
    a: np.ndarray,
    b: np.ndarray,
    expected: np.ndarray,
    max_shift: float,
    axis_scale: np.ndarray,
    min_overlap: float,
    factors: tuple[int, ...] | None = None,
) -> Measurement:
    """Measure the shift between regions `a` and `b` (same shape, (z, y, x)).

    A shift may deviate from `expected` by at most `max_shift` x pixels (`axis_scale`: pixel
    size over the x pixel size, per axis) and must overlay `min_overlap` pixels; `factors`
    forces the coarse block-mean factors (None: the smallest that fits COARSE_BUDGET).
    """
    if factors is None:
        factors = block_factors(a.shape, axis_scale, COARSE_BUDGET)
    factors = tuple(min(f, n) for f, n in zip(factors, a.shape))
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return Measurement(expected, 0.0, True, "no contrast in the overlap")
    ca, cb = block_mean(a, factors), block_mean(b, factors)
    # Search up to twice the maximum shift, to tell "the match lies beyond the limit" apart
    # from "no match".
    reach = 2 * max_shift / np.asarray(axis_scale, dtype=float)
    window = [
        (max(-(n - 1), math.floor((e - r) / f)), min(n - 1, math.ceil((e + r) / f)))
        for n, e, r, f in zip(ca.shape, expected, reach, factors)
    ]
    surface, count, grid = ncc_surface(ca, cb, window)
    enough = count >= min_overlap / math.prod(factors)
    # A block of f pixels blurs a shift by up to f/2: the coarse search allows for that and the
    # full-resolution shift is judged exactly.
    slack = [f / 2 if f > 1 else 0 for f in factors]
    inside = _deviation_size(grid, factors, expected, axis_scale, slack) <= max_shift + 1e-9
    # The best match anywhere in the window: one beyond the limit is reported, never swapped
    # for a lesser one within it (ASHLAR drops such links too).
    peak = _best(surface, enough)
    if peak is None:
        return Measurement(expected, 0.0, True, "no offset leaves enough of the overlap")
    if np.count_nonzero(enough) > 1 and surface[peak] - np.min(surface[enough]) < FLAT_SURFACE:
        return Measurement(expected, 0.0, True, "featureless overlap: every offset matches alike")
    if not _is_local_maximum(surface, peak):
        return Measurement(expected, 0.0, True, "the best match overlays too little of the tiles")
    within = bool(inside[peak])
    coarse = np.array([g.ravel()[i] * f for g, i, f in zip(grid, peak, factors)])
    shift = _refine(a, b, coarse, factors)
    box_a, box_b = _overlay(a.shape, shift)
    deviation = float(np.linalg.norm((shift - expected) * axis_scale))
    return Measurement(
        shift=shift,
        score=ncc(a[box_a], b[box_b]),
        within_limit=within and deviation <= max_shift + 1e-9,
    )
