"""Per-tile gain and offset from the overlaps, for brightness that changes between tiles (lamp
drift, bleaching, autoexposure), as BigStitcher's intensity adjustment does.

After the flat-field, a scene point seen by tiles i and j reads a in one and b in the other;
corrected values g_i a + o_i and g_j b + o_j must agree. Gains first: per overlapping pair the
median of log b - log a is log g_i - log g_j (a median over the overlap: moving or
misregistered pixels do not move it), and all pairs are solved together by least squares.
Then offsets the same way, from the median of g_j b - g_i a = o_i - o_j. Both carry a weak
pull of every gain towards 1 and offset towards 0, which fixes the overall level and gives a
tile without neighbours the identity. Pairs that disagree with the solution by more than
`REJECT` robust spreads and `TOLERANCE` (an overlap whose content changed, a wrong position) are dropped and
the rest solved again. (Gain and offset from quantile rows solved together came out 3x
noisier: the offsets took up what belonged to the gains.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import lsqr

from ngff_fuse.illumination.estimate import (
    block_means,
    tile_pairs,
    working_factor,
    working_set,
)
from ngff_fuse.illumination.profiles import Profiles
from ngff_fuse.model import TileSet

#: Blocks along a tile's longer edge for the gains: every tile is held (4 kB a tile at 32, so
#: 10,000 tiles take 40 MB, not 640 MB at the profiles' 128); per-pair medians need no more.
GAIN_EDGE = 32
REJECT = 3.0
#: Disagreement always tolerated (2 %, in log gain or offset / level): pairs that fit to noise
#: shrank the spread until small, noisier overlaps were dropped too, isolating tiles.
TOLERANCE = 0.02
_PRIOR = 1e-3
_ROUNDS = 10


@dataclass(frozen=True)
class TileGains:
    """gain and offset (tiles, channels): a tile's flat-corrected value v becomes gain v + offset."""

    gain: np.ndarray
    offset: np.ndarray
    rejected_pairs: tuple[int, ...]  # per channel
    pairs: int

    def summary(self) -> list[dict]:
        return [{"gain_min": round(float(g.min()), 4), "gain_max": round(float(g.max()), 4),
                 "offset_min": round(float(o.min()), 3), "offset_max": round(float(o.max()), 3),
                 "pairs": self.pairs, "pairs_rejected": int(r)}
                for g, o, r in zip(self.gain.T, self.offset.T, self.rejected_pairs)]


def solve_gains(n: int, pairs: np.ndarray, a: list[np.ndarray], b: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    """Gains and offsets of n tiles from each pair's overlap values a[k], b[k]; returns
    (gain, offset, pairs rejected)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = [np.log(y) - np.log(x) for x, y in zip(a, b)]
    ratios = np.array([np.median(r[np.isfinite(r)]) if np.isfinite(r).any() else np.nan for r in logs])
    use = np.isfinite(ratios)
    log_gain, use = _pairwise(n, pairs, ratios, use, 0.0)
    gain = np.exp(log_gain - log_gain.mean())
    steps = np.array([np.median(gain[j] * y - gain[i] * x) for (i, j), x, y in zip(pairs, a, b)])
    level = float(np.median(np.abs(np.concatenate(a)))) or 1.0
    offset, use = _pairwise(n, pairs, steps / level, use, 0.0)
    return gain, (offset - offset.mean()) * level, int((~use).sum())


def _pairwise(n: int, pairs: np.ndarray, differences: np.ndarray, use: np.ndarray,
              prior: float) -> tuple[np.ndarray, np.ndarray]:
    """x (n) with x_i - x_j = differences[k] for pairs k = (i, j) in least squares, a weak pull
    of each x to `prior`; returns x and the pairs kept. Pairs are weighted down the more they
    disagree (Cauchy weights, scale `REJECT` robust spreads and at least `TOLERANCE`), which
    a far-off pair cannot drag the solution out of as it did plain least squares, whose
    first solution then condemned good pairs; those beyond the scale at the end are dropped."""
    weight = use.astype(float)
    values = np.where(use, differences, 0.0)
    for _ in range(_ROUNDS):
        root = np.sqrt(weight)
        m = len(pairs)
        matrix = coo_matrix((np.concatenate([root, -root, np.full(n, _PRIOR)]),
                             (np.concatenate([np.arange(m), np.arange(m), m + np.arange(n)]),
                              np.concatenate([pairs[:, 0], pairs[:, 1], np.arange(n)]))), shape=(m + n, n)).tocsr()
        rhs = np.concatenate([root * values, np.full(n, _PRIOR * prior)])
        x = lsqr(matrix, rhs, atol=1e-12, btol=1e-12, iter_lim=20 * n + 1000)[0]
        misfit = np.abs(x[pairs[:, 0]] - x[pairs[:, 1]] - values)
        scale = max(REJECT * 1.4826 * float(np.median(misfit[use])) if use.any() else 0.0, TOLERANCE)
        weight = np.where(use, 1.0 / (1.0 + (misfit / scale) ** 2), 0.0)
    return x, use & (misfit <= scale)


def equalize(tileset: TileSet, profiles: Profiles | None,
             progress: Callable[[], None] | None = None) -> TileGains:
    """Every tile's gain and offset per channel (each tile read once per channel, in blocks)."""
    n = len(tileset.tiles)
    pairs = tile_pairs(tileset)
    gains, offsets, rejected = [], [], []
    for c in range(tileset.n_channels):
        adjust = None
        if profiles is not None:
            p = min(c, profiles.n_channels - 1)
            k = working_factor(tileset.tiles[0].spatial_shape[1:], GAIN_EDGE)
            flat, dark = block_means(profiles.flat[p], k), block_means(profiles.dark[p], k)
            adjust = lambda image, flat=flat, dark=dark: (image - dark) / flat
        data = working_set(tileset, np.arange(n), pairs, c, progress, adjust, GAIN_EDGE)
        if not len(data.pairs):
            gains.append(np.ones(n))
            offsets.append(np.zeros(n))
            rejected.append(0)
            continue
        count = np.bincount(data.pair, minlength=len(data.pairs))
        order = np.argsort(data.pair, kind="stable")
        groups = np.split(order, np.cumsum(count)[:-1])
        gain, offset, bad = solve_gains(n, data.pairs, [data.a[g] for g in groups], [data.b[g] for g in groups])
        gains.append(gain)
        offsets.append(offset)
        rejected.append(bad)
    return TileGains(np.stack(gains, axis=1).astype(np.float32), np.stack(offsets, axis=1).astype(np.float32),
                     tuple(rejected), len(pairs[0]))

