"""Blending: per-pixel tile weights and the fusers that combine tiles into one chunk.

Contract of a fuser: `add(box, values, weights, mask)` takes float `values` (its own to
overwrite) for the sub-box `box` (a tuple of slices into the chunk), optional `weights` (the
shape of values, > 0 where the tile counts) and an optional boolean `mask` of valid pixels
(None: all valid);
`result(fill, dtype)` returns the fused chunk, `fill` where no tile contributed, rounded and
clipped into `dtype`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np


class BlendMode(str, Enum):
    FEATHER = "feather"  # a smooth cross-fade centred on the middle of each overlap: no seams
    LINEAR = "linear"  # Fiji's and BigStitcher's blending: ramps from each tile's edge, averages beyond
    MEAN = "mean"  # plain average of every tile covering the pixel
    MAX = "max"  # brightest tile wins (DaskFusion's rule)
    FIRST = "first"  # the first tile in input order wins; later tiles never overwrite it


def feather_score(coord: np.ndarray, length: int, width: float) -> np.ndarray:
    """Feather weight of tile pixel coordinates along one axis, as its natural log.

    The weight is e^(2x) (1 - e^(-3x))^2 with x = (d + 1) ln 9 / (2 width), d the distance
    to the tile's nearer edge. Inside the tile it grows like e^(d ln 9 / width), so where two
    tiles overlap the ratio of their weights depends only on the difference of their
    distances: the cross-fade is a logistic centred on the middle of the overlap whose
    10-90 % span is `width` px however wide the overlap (within 1 px from 3.5 widths on;
    narrower overlaps fade over most of their width). A ramp from each tile's own edge instead averages both
    tiles over all of a wide overlap and smears stage error across it. Within ~width/5 px of
    the edge the weight falls like d^2 to a small positive value, so a tile's edge never makes
    a step and a pixel covered by one tile only keeps a weight. Logs, as e^(d / tau)
    overflows float64 deep inside large tiles; only differences of scores are used.
    """
    if width <= 0 or length <= 1:
        return np.zeros_like(coord, dtype=np.float64)
    distance = np.minimum(coord, (length - 1) - coord)  # down to -1/2 at the footprint's edge
    x = (np.maximum(distance, -0.5) + 1.0) * (np.log(9.0) / (2.0 * width))
    return 2.0 * (x + np.log(-np.expm1(-3.0 * x)))


def ramp_score(coord: np.ndarray, length: int, width: float) -> np.ndarray:
    """Log of a cosine ramp from ~0 at the tile's edge to 1 at `width` px inside it, flat
    beyond: Fiji's and BigStitcher's linear blending, so overlapping tiles are averaged
    wherever both are more than `width` px from their edges. Edge pixels keep a small positive
    weight, so a pixel covered by one tile only is never divided by zero."""
    if width <= 0 or length <= 1:
        return np.zeros_like(coord, dtype=np.float64)
    distance = np.minimum(coord, (length - 1) - coord)  # down to -1/2 at the footprint's edge
    t = np.clip((distance + 1.0) / (width + 1.0), 0.0, 1.0)
    return np.log(0.5 - 0.5 * np.cos(np.pi * t))


EDGE_SCORES = {BlendMode.FEATHER: feather_score, BlendMode.LINEAR: ramp_score}


@dataclass(frozen=True)
class EdgeWeighting:
    """How a weighted blend scores tile pixels by their distance to the tile's edges: the log
    of a weight per axis, so a pixel's score is their sum."""

    score: Callable[[np.ndarray, int, float], np.ndarray]
    widths: tuple[float, float, float]  # tile px, (z, y, x)

    def axis_scores(self, coords, shape: tuple[int, int, int]) -> list[np.ndarray]:
        return [self.score(c, n, w) for c, n, w in zip(coords, shape, self.widths)]


def edge_weighting(blend: BlendMode, widths: tuple[float, float, float]) -> EdgeWeighting | None:
    """The edge weighting of a blend mode; None for modes without one (mean, max, first)."""
    score = EDGE_SCORES.get(blend)
    return None if score is None else EdgeWeighting(score, widths)


def score_dtype(acc: np.dtype) -> np.dtype:
    """Scores and weights in float32 where pixels blend in float32 (half the memory, twice the
    speed of exp), else float64: a long double exp is slow and weights need no more."""
    return np.dtype(np.float32) if np.dtype(acc) == np.float32 else np.dtype(np.float64)


def relative_weights(scores: np.ndarray, best: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Weights from summed scores, relative to the best score at each pixel (1 there): no
    overflow however deep inside a tile, and the tile that dominates a pixel weighs 1."""
    with np.errstate(invalid="ignore"):
        weights = np.subtract(scores, best)
        np.exp(weights, out=weights)
    np.nan_to_num(weights, copy=False, nan=0.0)  # -inf - -inf: outside an affine tile's footprint
    return weights.astype(dtype, copy=False)


def accumulator_dtype(dtype: np.dtype) -> np.dtype:
    """The float type pixels of `dtype` are blended in: float32 holds every 8/16-bit value
    exactly; 32-bit values need float64 (whose range a sum of float32 maxima cannot leave);
    64-bit values need the extended long double (64-bit significand, 15-bit exponent: every
    int64/uint64 exactly, and sums of float64 maxima without overflow). Where the platform's
    long double is only a float64 (Windows, ARM macOS) 64-bit integers beyond 2**53 round."""
    itemsize = np.dtype(dtype).itemsize
    if itemsize <= 2:
        return np.dtype(np.float32)
    return np.dtype(np.float64) if itemsize <= 4 else np.dtype(np.longdouble)


def holds_exactly(acc: np.dtype, dtype: np.dtype) -> bool:
    """Whether float type `acc` represents every value of `dtype` exactly."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "ui":
        wide, narrow = np.finfo(acc), np.finfo(dtype)
        return wide.nmant >= narrow.nmant and wide.maxexp >= narrow.maxexp
    return np.finfo(acc).nmant + 1 >= 8 * dtype.itemsize - (dtype.kind == "i")


def cast_to(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round (integers) and clip into the output dtype's range; `values` may be overwritten."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        if values.dtype.kind != "f":
            values = values.astype(np.float64)
        elif not values.flags.writeable:
            values = values.copy()
        np.rint(values, out=values)
        np.clip(values, info.min, info.max, out=values)
        return values.astype(dtype)
    return values.astype(dtype)


class _Fuser:
    def __init__(self, shape: tuple[int, ...], acc: np.dtype) -> None:
        self.shape = shape
        self.acc = acc
        self.covered = np.zeros(shape, dtype=bool)

    def _final(self, values: np.ndarray, fill: float, dtype: np.dtype) -> np.ndarray:
        values[~self.covered] = fill
        return cast_to(values, dtype)


class WeightedFuser(_Fuser):
    """feather, linear and mean: sum(w * v) / sum(w); a pixel is covered where sum(w) > 0.

    `relative`: blend v - a, a being the first value added at each pixel, and add a back:
    a + sum(w * (v - a)) / sum(w). A pixel one tile covers then gets its value exactly (w * v / w
    rounds a 64-bit integer even in a long double), and where tiles agree the rounding error
    scales with their difference, not with the values."""

    def __init__(self, shape, acc, relative: bool = False) -> None:
        super().__init__(shape, acc)
        self.total = np.zeros(shape, dtype=acc)
        self.weight = np.zeros(shape, dtype=acc)
        self.anchor = np.zeros(shape, dtype=acc) if relative else None

    def add(self, box, values, weights=None, mask=None) -> None:
        if self.anchor is not None:
            anchor = self.anchor[box]
            first = self.weight[box] == 0
            if mask is not None:
                first &= mask
            anchor[first] = values[first]
            values = np.subtract(values, anchor, out=values)
        if weights is None and mask is None:  # mean of whole regions: no weight array at all
            self.total[box] += values
            self.weight[box] += 1
            return
        w = np.ones(values.shape, dtype=self.acc) if weights is None else np.asarray(weights, dtype=self.acc)
        if mask is not None:
            w = np.where(mask, w, 0)
        values = np.multiply(values, w, out=values)  # samplers hand in arrays of their own
        self.total[box] += values
        self.weight[box] += w

    def result(self, fill, dtype) -> np.ndarray:
        self.covered = self.weight > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.divide(self.total, self.weight, out=self.total)
        if self.anchor is not None:
            values += self.anchor
        return self._final(values, fill, dtype)


class MaxFuser(_Fuser):
    def __init__(self, shape, acc) -> None:
        super().__init__(shape, acc)
        self.best = np.full(shape, -np.inf, dtype=acc)

    def add(self, box, values, weights=None, mask=None) -> None:
        if mask is not None:
            values = np.where(mask, values, -np.inf)
        np.maximum(self.best[box], values, out=self.best[box])
        self.covered[box] |= True if mask is None else mask

    def result(self, fill, dtype) -> np.ndarray:
        return self._final(self.best, fill, dtype)


class FirstFuser(_Fuser):
    def __init__(self, shape, acc) -> None:
        super().__init__(shape, acc)
        self.value = np.zeros(shape, dtype=acc)

    def add(self, box, values, weights=None, mask=None) -> None:
        free = ~self.covered[box]
        if mask is not None:
            free &= mask
        self.value[box] = np.where(free, values, self.value[box])
        self.covered[box] |= free

    def result(self, fill, dtype) -> np.ndarray:
        return self._final(self.value, fill, dtype)


FUSERS: dict[BlendMode, type[_Fuser]] = {
    BlendMode.FEATHER: WeightedFuser,
    BlendMode.LINEAR: WeightedFuser,
    BlendMode.MEAN: WeightedFuser,
    BlendMode.MAX: MaxFuser,
    BlendMode.FIRST: FirstFuser,
}


def new_fuser(blend: BlendMode, shape: tuple[int, ...], dtype: np.dtype) -> _Fuser:
    """The fuser of `blend` for a chunk of `shape` whose output is `dtype`, blending in
    `accumulator_dtype(dtype)`; 64-bit integers are averaged relative to a pixel's first value
    (see `WeightedFuser`), so where one tile covers a pixel its value comes back exactly."""
    dtype = np.dtype(dtype)
    acc = accumulator_dtype(dtype)
    if FUSERS[blend] is WeightedFuser:
        return WeightedFuser(shape, acc, relative=dtype.kind in "ui" and dtype.itemsize == 8)
    return FUSERS[blend](shape, acc)
