"""Per-tile gain and offset from the overlaps, for brightness that changes between tiles (lamp
drift, bleaching, autoexposure), as BigStitcher's intensity adjustment does.

After the flat-field, a scene point seen by tiles i and j reads a in one and b in the other;
corrected values g_i a + o_i and g_j b + o_j must agree. Per overlapping pair the quantiles
of a and of b over the overlap (same scene, so the same quantiles once corrected) give a few
rows g_i qa - g_j qb + o_i - o_j = 0: linear, and no regression of noisy values on noisy values
(whose slope noise would bias). All pairs are solved together by least squares, with a weak
pull of every gain towards 1 and offset towards 0 (it fixes the overall scale and gives tiles
without neighbours the identity); pairs that disagree with the solution by more than
`REJECT` robust spreads (a misregistered or moving overlap) are dropped and the rest solved
again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import lsqr

from ngff_fuse.illumination.estimate import block_means, tile_pairs, working_factor, working_set
from ngff_fuse.illumination.profiles import Profiles
from ngff_fuse.model import TileSet

QUANTILES = (0.1, 0.3, 0.5, 0.7, 0.9)
REJECT = 3.0
_PRIOR = 1e-3
_ROUNDS = 4


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


def solve_gains(n: int, pairs: np.ndarray, qa: np.ndarray, qb: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Gains and offsets of n tiles from each pair's quantiles qa, qb (pairs, quantiles);
    returns (gain, offset, pairs rejected)."""
    level = float(np.median(np.abs(qa))) or 1.0
    qa, qb = qa / level, qb / level  # offsets solved in units of the typical level
    use = np.ones(len(pairs), dtype=bool)
    for _ in range(_ROUNDS):
        gain, offset = _least_squares(n, pairs[use], qa[use], qb[use])
        misfit = np.sqrt(np.mean((gain[pairs[:, 0], None] * qa - gain[pairs[:, 1], None] * qb
                                  + (offset[pairs[:, 0]] - offset[pairs[:, 1]])[:, None]) ** 2, axis=1))
        spread = 1.4826 * float(np.median(misfit[use])) if use.any() else 0.0
        keep = misfit <= REJECT * spread + 1e-3
        if np.array_equal(keep, use):
            break
        use = keep
    scale = gain.mean()
    offset = (offset - offset.mean()) / scale
    return gain / scale, offset * level, int((~use).sum())


def _least_squares(n: int, pairs: np.ndarray, qa: np.ndarray, qb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unknowns: gains 0..n-1, offsets n..2n-1."""
    m, k = qa.shape
    rows = np.repeat(np.arange(m * k), 4)
    i, j = np.repeat(pairs[:, 0], k), np.repeat(pairs[:, 1], k)
    cols = np.stack([i, j, n + i, n + j], axis=1).ravel()
    vals = np.stack([qa.ravel(), -qb.ravel(), np.ones(m * k), -np.ones(m * k)], axis=1).ravel()
    prior_rows = m * k + np.arange(2 * n)
    matrix = coo_matrix((np.concatenate([vals, np.full(2 * n, _PRIOR)]),
                         (np.concatenate([rows, prior_rows]), np.concatenate([cols, np.arange(2 * n)]))),
                        shape=(m * k + 2 * n, 2 * n)).tocsr()
    rhs = np.concatenate([np.zeros(m * k), np.full(n, _PRIOR), np.zeros(n)])
    solution = lsqr(matrix, rhs, atol=1e-12, btol=1e-12, iter_lim=20 * n + 1000)[0]
    return solution[:n], solution[n:]


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
            k = working_factor(tileset.tiles[0].spatial_shape[1:])
            flat, dark = block_means(profiles.flat[p], k), block_means(profiles.dark[p], k)
            adjust = lambda image, flat=flat, dark=dark: (image - dark) / flat  # noqa: E731
        data = working_set(tileset, np.arange(n), pairs, c, progress, adjust)
        if not len(data.pairs):
            gains.append(np.ones(n))
            offsets.append(np.zeros(n))
            rejected.append(0)
            continue
        count = np.bincount(data.pair, minlength=len(data.pairs))
        order = np.argsort(data.pair, kind="stable")
        groups = np.split(order, np.cumsum(count)[:-1])
        qa = np.array([np.quantile(data.a[g], QUANTILES) for g in groups])
        qb = np.array([np.quantile(data.b[g], QUANTILES) for g in groups])
        gain, offset, bad = solve_gains(n, data.pairs, qa, qb)
        gains.append(gain)
        offsets.append(offset)
        rejected.append(bad)
    return TileGains(np.stack(gains, axis=1).astype(np.float32), np.stack(offsets, axis=1).astype(np.float32),
                     tuple(rejected), int(len(pairs[0])))

