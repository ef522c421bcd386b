"""Flat-field and dark offset from the tiles themselves, BaSiC-style, pinned by the overlaps.

Each sampled tile is read once (its middle plane, channel by channel) and averaged into k x k
blocks (about 128 blocks along its longer edge): the working image. Two kinds of evidence:

* statistics: at every block, the median over the sampled tiles is F(x) * m + D, with m the
  median scene brightness; sparse bright objects do not move a median (BaSiC's robustness);
* overlaps: a scene point seen at p in tile i and at q in tile j gives a = F(p) S + D and
  b = F(q) S + D, so log(a - D) - log(b - D) = log F(p) - log F(q) whatever S is. These rows
  know nothing of the scene, so they pin the profile where statistics of a few tiles are only
  the scene, and they hold only for the right D (where F(p) != F(q)): the dark offset is the
  one that best explains the overlaps.

log F is a smooth surface with a few terms (`Surface`); for a given D both kinds of rows are
linear in its coefficients, solved by iteratively re-weighted least squares (Huber weights,
each kind scaled by its own robust spread, so misregistered or moving pixels fall out), see
`FlatFit`. D is a one-dimensional search. Without overlaps D comes from the statistics alone:
a low quantile and the median over tiles are both affine in F with the same intercept D. Two
halves of the evidence must agree (`half_disagreement`), or the estimate is refused.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.polynomial import legendre
from scipy import ndimage, sparse

from ngff_fuse.boxes import meeting_pairs
from ngff_fuse.errors import InputError
from ngff_fuse.fingerprint import file_records
from ngff_fuse.fuse.pixels import TilePixels
from ngff_fuse.fuse.plan import output_grid, place
from ngff_fuse.illumination.options import MIN_TILES, IlluminationOptions
from ngff_fuse.illumination.profiles import Profiles
from ngff_fuse.model import TileSet

#: Blocks along a working image's longer edge: fine enough for any vignetting, small enough
#: that a thousand tiles' working images fit in memory (128^2 float32: 64 kB a tile).
WORKING_EDGE = 128
#: Overlap rows used in one solve (drawn evenly from all of them): more moved the 5 x 5 test
#: profile by < 0.5 % and took 6x longer.
MAX_ROWS = 40_000
_HUBER = 1.5
_ITERATIONS = 4


@dataclass(frozen=True)
class WorkingSet:
    """The sampled tiles' working images of one channel, and the overlap samples between them."""

    factor: int  # tile pixels per block edge
    images: np.ndarray  # (n, h, w) block means
    p: np.ndarray  # (m, 2) tile pixel (y, x) of each overlap sample in the first tile
    q: np.ndarray  # (m, 2) the same scene point in the second tile
    a: np.ndarray  # (m,) its value in the first tile
    b: np.ndarray  # (m,) in the second
    pair: np.ndarray  # (m,) which of `pairs` each sample belongs to
    pairs: np.ndarray  # (n_pairs, 2) the two tiles (indices into the tile set) of each pair


def working_factor(shape: tuple[int, int], edge: int = WORKING_EDGE) -> int:
    """Tile pixels per block edge for about `edge` blocks along the longer tile edge."""
    return max(1, math.ceil(max(shape) / edge))


def tile_pairs(tileset: TileSet) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of tiles whose footprints overlap."""
    placements = place(tileset, output_grid(tileset))
    low = np.array([p.low for p in placements]).reshape(-1, 3)
    stop = np.array([p.stop for p in placements]).reshape(-1, 3)
    return meeting_pairs(low, stop)


def sample_tiles(n: int, pairs: tuple[np.ndarray, np.ndarray], budget: int, seed: int = 0) -> np.ndarray:
    """At most `budget` tiles, taken a neighbouring pair at a time so that the sample keeps
    overlaps to learn from; evenly spread when no tiles overlap."""
    if n <= budget:
        return np.arange(n)
    a, b = pairs
    if not len(a):
        return np.unique(np.linspace(0, n - 1, budget).round().astype(int))
    chosen: dict[int, None] = {}
    for k in np.random.default_rng(seed).permutation(len(a)):
        chosen.update({int(a[k]): None, int(b[k]): None})
        if len(chosen) >= budget:
            break
    return np.array(sorted(chosen)[:budget])


def read_working(pixels: TilePixels, index: int, shape: tuple[int, int, int], c: int, k: int) -> np.ndarray:
    """A tile's middle plane in k x k block means (float32); the last partial blocks left out."""
    h, w = shape[1] // k, shape[2] // k
    z = shape[0] // 2
    plane = pixels.read(index, 0, c, (slice(z, z + 1), slice(0, h * k), slice(0, w * k)))[0]
    return block_means(plane.astype(np.float32), k)


def block_means(image: np.ndarray, k: int) -> np.ndarray:
    """An image in k x k block means (whole blocks only)."""
    h, w = image.shape[0] // k, image.shape[1] // k
    return image[: h * k, : w * k].reshape(h, k, w, k).mean(axis=(1, 3))


def block_centres(n: int, k: int) -> np.ndarray:
    """Tile pixel coordinate of the centre of each of n blocks of k pixels."""
    return (np.arange(n) + 0.5) * k - 0.5


def overlap_samples(tileset: TileSet, i: int, j: int, image_i: np.ndarray, image_j: np.ndarray, k: int):
    """Blocks of tile i whose centre tile j also sees: their tile pixels in i and in j, the
    value in i's block and j's (interpolated between j's blocks)."""
    ti, tj = tileset.tiles[i], tileset.tiles[j]
    h, w = image_i.shape
    yy, xx = np.meshgrid(block_centres(h, k), block_centres(w, k), indexing="ij")
    z = ti.spatial_shape[0] // 2
    points = np.stack([np.full(yy.size, float(z)), yy.ravel(), xx.ravel(), np.ones(yy.size)])
    mapped = (np.linalg.inv(tj.affine) @ ti.affine @ points)[:3]
    hj, wj = image_j.shape
    inside = ((np.abs(mapped[0] - tj.spatial_shape[0] // 2) <= 0.5)
              & (mapped[1] >= 0) & (mapped[1] <= hj * k - 1) & (mapped[2] >= 0) & (mapped[2] <= wj * k - 1))
    if not inside.any():
        return None
    q = mapped[1:, inside].T
    b = ndimage.map_coordinates(image_j, ((q - (k - 1) / 2) / k).T, order=1, mode="nearest")
    p = points[1:3, inside].T
    return p, q, image_i.ravel()[inside], b


def working_set(tileset: TileSet, indices: np.ndarray, pairs, c: int,
                progress: Callable[[], None] | None = None,
                adjust: Callable[[np.ndarray], np.ndarray] | None = None, edge: int = WORKING_EDGE) -> WorkingSet:
    """Read the sampled tiles of channel c once (`adjust`ing each working image, e.g. by a
    flat-field) and collect the overlaps among them."""
    shape = tileset.tiles[int(indices[0])].spatial_shape
    k = working_factor(shape[1:], edge)
    pixels = TilePixels(tuple(t.data.data for t in tileset.tiles), tuple(str(t.source) for t in tileset.tiles))
    images = {}
    for i in indices:
        image = read_working(pixels, int(i), shape, c, k)
        images[int(i)] = image if adjust is None else adjust(image)
        if progress is not None:
            progress()
    # each pair both ways: the second tile's values are interpolated between its blocks, and
    # the log of a smoother value is biased; one way only, that bias (always in the direction
    # of the pairs' order) looked like a tilted profile, or a brightness ramp over the grid
    found, kept = [], []
    for i, j in zip(*pairs):
        if int(i) in images and int(j) in images:
            for first, second in ((int(i), int(j)), (int(j), int(i))):
                samples = overlap_samples(tileset, first, second, images[first], images[second], k)
                if samples is not None:
                    found.append(samples)
                    kept.append((first, second))
    if found:
        p, q, a, b = (np.concatenate(parts) for parts in zip(*found))
        pair = np.repeat(np.arange(len(found)), [len(f[2]) for f in found])
    else:
        p = q = np.empty((0, 2))
        a = b = np.empty(0)
        pair = np.empty(0, dtype=int)
    return WorkingSet(k, np.stack([images[int(i)] for i in indices]), p, q, a.astype(np.float64),
                      b.astype(np.float64), pair, np.array(kept, dtype=int).reshape(-1, 2))


class Surface:
    """Smooth profiles over a tile: the constant, the Legendre polynomials P_m(u) P_n(v) with
    m + n <= 2 (a tilted, off-centre bowl) and the radial r^4, r^6 (r^2 = u^2 + v^2) that bend it
    into a lens's fall-off (cos^4 and the like), with u, v the tile pixel coordinates scaled to
    [-1, 1] edge to edge. Each non-constant term has mean 0 over the tile's pixels, so the
    constant alone sets the mean.

    A few terms on purpose: the overlaps see the profile only near the tile edges, and with
    all polynomials up to degree 4 or 6 they left terms free to wander (errors of 20-50 %
    on a 5 x 5 grid, against 1 % with these)."""

    _LEGENDRE = ((0, 1), (1, 0), (0, 2), (1, 1), (2, 0))
    _RADIAL = (2, 3)

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        u, v = self._grid()
        self._means = np.zeros(self.size)
        self._means = np.array([self._term(n, u, v).mean() for n in range(self.size)])

    @property
    def size(self) -> int:
        return len(self._LEGENDRE) + len(self._RADIAL)

    def _grid(self) -> tuple[np.ndarray, np.ndarray]:
        return (self._scaled(np.arange(self.shape[0]), self.shape[0])[:, None],
                self._scaled(np.arange(self.shape[1]), self.shape[1])[None, :])

    @staticmethod
    def _scaled(coord: np.ndarray, length: int) -> np.ndarray:
        return 2.0 * (np.asarray(coord, dtype=np.float64) + 0.5) / length - 1.0

    def _term(self, n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        if n < len(self._LEGENDRE):
            m, k = self._LEGENDRE[n]
            value = legendre.legval(u, np.eye(3)[m]) * legendre.legval(v, np.eye(3)[k])
        else:
            value = ((u**2 + v**2) / 2) ** self._RADIAL[n - len(self._LEGENDRE)]
        return value - self._means[n]

    def basis(self, yx: np.ndarray) -> np.ndarray:
        """(m, terms): every non-constant term at tile pixels yx (m, 2)."""
        u, v = self._scaled(yx[:, 0], self.shape[0]), self._scaled(yx[:, 1], self.shape[1])
        return np.stack([self._term(n, u, v) for n in range(self.size)], axis=1)

    def evaluate(self, coefficients: np.ndarray) -> np.ndarray:
        """1 + sum c_n B_n on every tile pixel: mean 1."""
        u, v = self._grid()
        out = np.ones(self.shape)
        for n, c in enumerate(coefficients):
            out += c * self._term(n, u, v)
        return out


def _spread(residuals: np.ndarray) -> float:
    scale = 1.4826 * float(np.median(np.abs(residuals))) if residuals.size else 0.0
    return scale if scale > 0 else float(np.std(residuals)) or 1.0


def _huber(residuals: np.ndarray, scale: float) -> np.ndarray:
    r = np.abs(residuals) / (scale * _HUBER)
    return np.where(r <= 1, 1.0, 1.0 / np.maximum(r, 1e-12))


class FlatFit:
    """The flat-field of one channel for a given dark level, by least squares on logs.

    A scene point seen at p in tile i and q in tile j: a - D = g_i F(p) S, b - D = g_j F(q) S,
    so log(a - D) - log(b - D) = log F(p) - log F(q) + log g_i - log g_j, linear in log F = B c
    (`Surface`) whatever S is; the median over tiles gives log(M - D) = log m + B c. Tile
    gains g are unknowns only with `tile_gains` (--equalize), else all 1. A profile tilt and a
    brightness ramp across the grid explain the overlaps equally well (a tilt of 5 % a tile is
    a ramp of 40 % over 8 tiles), so the gains are held to no mean and no linear trend over
    the tile positions: brightness that changes between tiles is taken as scattered, and
    `equalize` afterwards takes up any ramp as gains. (Fitted on values rather than logs, the
    profile came out 20 times less accurate: 2 % against 0.1 % on a 5 x 5 grid.)"""

    def __init__(self, data: WorkingSet, surface: Surface, tile_gains: bool = False,
                 positions: np.ndarray | None = None) -> None:
        self.data, self.surface, self.tile_gains = data, surface, tile_gains
        h, w = data.images.shape[1:]
        k = data.factor
        yy, xx = np.meshgrid(block_centres(h, k), block_centres(w, k), indexing="ij")
        self.stat_basis = surface.basis(np.stack([yy.ravel(), xx.ravel()], axis=1))
        self.median = np.median(data.images, axis=0).ravel().astype(np.float64)
        keep = np.arange(data.a.size)
        if keep.size > MAX_ROWS:
            keep = np.linspace(0, keep.size - 1, MAX_ROWS).astype(int)
        self.a, self.b, self.pair = data.a[keep], data.b[keep], data.pair[keep]
        self.difference = surface.basis(data.p[keep]) - surface.basis(data.q[keep])
        self.brightness = np.maximum((self.a + self.b) / 2, 1e-9)
        self.tiles, index = np.unique(data.pairs, return_inverse=True)
        self.index = index.reshape(data.pairs.shape)
        self.positions = positions

    def flat(self, dark: float) -> np.ndarray:
        """The flat-field (mean 1) on every tile pixel for dark offset D."""
        log_flat = self.surface.evaluate(self.solve(dark)[0][:self.surface.size]) - 1.0
        flat = np.exp(log_flat)
        return flat / flat.mean()

    def solve(self, dark: float) -> tuple[np.ndarray, float]:
        """The coefficients (log F = B c first) and the cost D minimises: the robust spread of
        the overlap residuals relative to the pixels' raw brightness, a D-independent scale
        (relative to a - D, the noise shrank as D fell, and the search preferred D = 0)."""
        level = self.median - dark
        a, b = self.a - dark, self.b - dark
        seen = (a > 0) & (b > 0)
        n_terms = self.surface.size
        n_gains = len(self.tiles) if self.tile_gains else 0
        columns = n_terms + n_gains + 1  # profile terms, log gains, log m
        valid = level > 0
        if not valid.any():
            return np.zeros(columns), math.inf
        stat_rows = np.zeros((int(valid.sum()), columns))
        stat_rows[:, :n_terms] = self.stat_basis[valid]
        stat_rows[:, -1] = 1.0
        groups = [(stat_rows, np.log(level[valid]))]
        overlaps = None
        if seen.any():
            m = int(seen.sum())
            # a log residual times (a + b - 2D) / (a + b) is a residual relative to raw brightness
            weight = (a[seen] + b[seen]) / (2 * self.brightness[seen])
            profile = np.hstack([self.difference[seen], np.zeros((m, 1))]) * weight[:, None]
            if n_gains:  # a column per tile: sparse, and the profile's columns around it
                i, j = self.index[self.pair[seen], 0], self.index[self.pair[seen], 1]
                gains = sparse.coo_matrix((np.concatenate([weight, -weight]),
                                           (np.tile(np.arange(m), 2), np.concatenate([i, j]))), shape=(m, n_gains))
                rows = sparse.hstack([sparse.csr_matrix(profile[:, :n_terms]), gains,
                                      sparse.csr_matrix(profile[:, n_terms:])]).tocsr()
            else:
                rows = profile
            overlaps = (rows, weight * (np.log(a[seen]) - np.log(b[seen])))
            groups.append(overlaps)
        if n_gains:
            groups.append(self._gauge(n_terms, n_gains))
        coef = _robust_solve(groups, _robust_solve(groups))
        cost = math.inf if overlaps is None else _spread(_times(overlaps[0], coef) - overlaps[1])
        return coef, cost

    def _gauge(self, n_terms: int, n_gains: int) -> tuple:
        """Log gains with no mean and no linear trend over the tiles' positions (y, x)."""
        where = self.positions[self.tiles] - self.positions[self.tiles].mean(axis=0)
        spread = np.where(np.ptp(where, axis=0) > 0, np.ptp(where, axis=0), 1.0)
        constraint = np.vstack([np.ones(n_gains), (where / spread).T])
        rows = np.zeros((3, n_terms + n_gains + 1))
        rows[:, n_terms:n_terms + n_gains] = constraint
        return sparse.csr_matrix(rows), np.zeros(3), 1e-6


def _robust_solve(groups: list[tuple], coef: np.ndarray | None = None) -> np.ndarray:
    """Least squares over groups of rows (rows, rhs[, spread]; dense or sparse), each group
    weighted by its spread (given, or robust: the residuals' MAD) and each row by Huber's
    weight (re-weighted `_ITERATIONS` times), through the normal equations (few unknowns, up
    to `MAX_ROWS` rows). Without a starting `coef`, one solve with unit weights.

    Dense products go through einsum, not BLAS: on these thin matrices a multi-threaded BLAS
    on a busy machine took 10x longer than one core (16 s against 1.5 s on a 5 x 5 grid)."""
    for _ in range(1 if coef is None else _ITERATIONS):
        size = groups[0][0].shape[1]
        normal, right = np.zeros((size, size)), np.zeros(size)
        for rows, rhs, *given in groups:
            weight = np.ones(rhs.size)
            if given:
                weight = weight / given[0] ** 2
            elif coef is not None:
                residual = _times(rows, coef) - rhs
                spread = _spread(residual)
                weight = _huber(residual, spread) / spread**2
            if sparse.issparse(rows):
                normal += (rows.T @ rows.multiply(weight[:, None])).toarray()
                right += rows.T @ (rhs * weight)
            else:
                normal += np.einsum("ij,ik->jk", rows, rows * weight[:, None])
                right += np.einsum("ij,i->j", rows, rhs * weight)
        coef = np.linalg.solve(normal + 1e-12 * np.trace(normal) * np.eye(size), right)
    return coef


def _times(rows, vector: np.ndarray) -> np.ndarray:
    return rows @ vector if sparse.issparse(rows) else np.einsum("ij,j->i", rows, vector)


def golden_minimum(cost: Callable[[float], float], low: float, high: float, steps: int = 14) -> float:
    """The minimum of a one-dimensional cost on [low, high] (golden-section search)."""
    ratio = (math.sqrt(5) - 1) / 2
    x1, x2 = high - ratio * (high - low), low + ratio * (high - low)
    f1, f2 = cost(x1), cost(x2)
    for _ in range(steps):
        if f1 <= f2:
            high, x2, f2 = x2, x1, f1
            x1 = high - ratio * (high - low)
            f1 = cost(x1)
        else:
            low, x1, f1 = x1, x2, f2
            x2 = low + ratio * (high - low)
            f2 = cost(x2)
    return (low + high) / 2


def dark_from_statistics(data: WorkingSet, surface: Surface, flat: np.ndarray | None = None) -> float:
    """The dark offset without overlaps: the median over tiles is m F(x) + D; with a known F it
    is the intercept of the median against F, else a low quantile (l F + D) against the median
    (both smoothed by the surface first: noise in a regressor biases the slope)."""
    h, w = data.images.shape[1:]
    k = data.factor
    yy, xx = np.meshgrid(block_centres(h, k), block_centres(w, k), indexing="ij")
    # the surface's terms have mean 0: the constant goes with them, or the smoothing drops the level
    basis = np.hstack([np.ones((yy.size, 1)), surface.basis(np.stack([yy.ravel(), xx.ravel()], axis=1))])

    def smooth(values: np.ndarray) -> np.ndarray:
        return basis @ np.linalg.lstsq(basis, values.ravel().astype(np.float64), rcond=None)[0]

    median = smooth(np.median(data.images, axis=0))
    if flat is not None:
        regressor, response = flat[yy.round().astype(int), xx.round().astype(int)].ravel(), median
    else:
        regressor, response = median, smooth(np.quantile(data.images, 0.1, axis=0))
    if np.ptp(regressor) <= 1e-6 * max(1.0, float(np.abs(regressor).max())):
        return 0.0  # a flat profile: dark and light cannot be told apart; take none
    slope, intercept = np.polyfit(regressor, response, 1)
    if flat is not None:
        return float(intercept)
    return float(intercept / (1 - slope)) if slope < 0.98 else 0.0


def given_flat_cost(data: WorkingSet, flat: np.ndarray, dark: float) -> float:
    """`FlatFit`'s cost with the flat-field known: how far the overlaps' log ratios, less the
    profile's, spread for dark offset D."""
    def at(yx: np.ndarray) -> np.ndarray:
        index = np.clip(np.rint(yx).astype(int), 0, np.array(flat.shape) - 1)
        return flat[index[:, 0], index[:, 1]]

    a, b = data.a - dark, data.b - dark
    seen = (a > 0) & (b > 0)
    weight = (a[seen] + b[seen]) / np.maximum(data.a[seen] + data.b[seen], 1e-9)
    residual = np.log(a[seen] / b[seen]) - np.log(at(data.p[seen]) / at(data.q[seen]))
    return _spread(weight * residual) if seen.any() else math.inf


def dark_ceiling(data: WorkingSet) -> float:
    """No dark offset exceeds the darkest blocks (every value is F S + D, F S >= 0)."""
    return max(float(np.quantile(data.images, 0.001)), 0.0)


def estimate_channel(data: WorkingSet, shape: tuple[int, int], flat_given: np.ndarray | None,
                     dark_given: np.ndarray | None, dark_auto: bool,
                     positions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """(flat, dark, half_disagreement) of one channel at full tile resolution; with the tiles'
    `positions` (n, 2) each tile may have its own gain (see `FlatFit`)."""
    surface = Surface(shape)
    if dark_given is not None:  # a dark-field image: subtract it block by block, fit F alone
        k = data.factor
        blocks = block_means(dark_given, k)
        at = lambda yx: ndimage.map_coordinates(blocks, ((yx - (k - 1) / 2) / k).T, order=1, mode="nearest")
        data = WorkingSet(k, data.images - blocks, data.p, data.q, data.a - at(data.p), data.b - at(data.q),
                          data.pair, data.pairs)
    if flat_given is not None:
        dark = 0.0
        if dark_auto and data.a.size:
            dark = golden_minimum(lambda d: given_flat_cost(data, flat_given, d), 0.0, dark_ceiling(data))
        elif dark_auto:
            dark = min(max(dark_from_statistics(data, surface, flat_given), 0.0), dark_ceiling(data))
        return flat_given, _dark_field(dark, dark_given, shape), 0.0
    fit = FlatFit(data, surface, positions is not None, positions)
    dark = 0.0
    if dark_auto:
        ceiling = dark_ceiling(data)
        if fit.a.size:
            dark = golden_minimum(lambda d: fit.solve(d)[1], 0.0, ceiling)
        else:
            dark = min(max(dark_from_statistics(data, surface), 0.0), ceiling)
    return fit.flat(dark), _dark_field(dark, dark_given, shape), half_disagreement(data, surface, dark, positions)


def half_disagreement(data: WorkingSet, surface: Surface, dark: float, positions: np.ndarray | None) -> float:
    """How far apart (largest |F_a / F_b - 1|) the profiles from two halves of the evidence are:
    alternate sampled tiles for the statistics, alternate overlapping pairs for the overlaps.
    About twice the error of the whole estimate; what says whether the tiles pin the profile
    at all (without overlaps, 64 tiles of a structured scene left it 12-39 % off)."""
    flats = []
    for half in (0, 1):
        tiles = np.arange(len(data.images)) % 2 == half
        pairs = np.arange(len(data.pairs)) % 2 == half
        rows = pairs[data.pair] if data.pair.size else np.zeros(0, dtype=bool)
        renumber = np.cumsum(pairs) - 1
        part = WorkingSet(data.factor, data.images[tiles], data.p[rows], data.q[rows], data.a[rows],
                          data.b[rows], renumber[data.pair[rows]], data.pairs[pairs])
        flats.append(FlatFit(part, surface, positions is not None, positions).flat(dark))
    return float(np.abs(flats[0] / flats[1] - 1).max())


def _dark_field(level: float, given: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    return np.full(shape, level, dtype=np.float32) if given is None else given + np.float32(level)


#: Largest `half_disagreement` accepted: the estimate is then within ~2.5 % (5 x 5 overlapping
#: tiles of the synthetic tests: 0.5-2 %).
MAX_DISAGREEMENT = 0.05

#: A flat-field below this fraction of its mean is no vignetting but a failed estimate (or a
#: profile of some other tiles); dividing by it would blow noise up more than 10x.
MIN_FLAT = 0.1


def tile_shape(tileset: TileSet) -> tuple[int, int]:
    """The (y, x) size every tile has: profiles are one image for tiles of one size."""
    shapes = {t.spatial_shape[1:] for t in tileset.tiles}
    if len(shapes) > 1:
        raise InputError(f"{tileset.name}: the tiles differ in size ({', '.join(map(str, sorted(shapes)))}); "
                         "a profile is one image for tiles of one size: convert without "
                         "--flatfield/--darkfield/--equalize")
    (shape,) = shapes
    return shape


def estimate_profiles(
    tileset: TileSet, options: IlluminationOptions, given_flat: np.ndarray | None = None,
    given_dark: np.ndarray | None = None, progress: Callable[[], None] | None = None,
) -> Profiles:
    """The tile set's profiles: estimated where `options` says "auto", `given_*` (c, y, x) else."""
    shape = tile_shape(tileset)
    auto_flat, auto_dark = options.flatfield == "auto", options.dark == "auto"
    if (auto_flat or auto_dark) and len(tileset.tiles) < MIN_TILES:
        raise InputError(f"{tileset.name}: {len(tileset.tiles)} tiles are too few to tell the vignetting from the "
                         f"scene (auto needs {MIN_TILES}); estimate the profiles on a larger acquisition with the same "
                         "microscope (ngff-fuse illumination OTHER --out profiles.ome.zarr) and give them with "
                         "--flatfield profiles.ome.zarr --darkfield profiles.ome.zarr")
    pairs = tile_pairs(tileset)
    indices = sample_tiles(len(tileset.tiles), pairs, options.max_tiles)
    positions = np.array([t.origin[1:] for t in tileset.tiles]) if options.equalize else None
    flats, darks, spreads = [], [], []
    for c in range(tileset.n_channels):
        flat = None if auto_flat else (np.ones(shape, np.float32) if given_flat is None
                                       else given_flat[min(c, len(given_flat) - 1)])
        dark = None if given_dark is None else given_dark[min(c, len(given_dark) - 1)]
        if auto_flat or auto_dark:
            data = working_set(tileset, indices, pairs, c, progress)
            flat, dark, spread = estimate_channel(data, shape, flat, dark, auto_dark, positions)
            if spread > MAX_DISAGREEMENT:
                raise InputError(
                    f"{tileset.name}: channel {tileset.channel_names[c]}: the tiles do not pin the flat-field "
                    f"(two halves of them give profiles {100 * spread:.0f} % apart; "
                    f"{'no tiles overlap' if not len(pairs[0]) else 'too few tiles or overlaps'}); estimate "
                    "the profiles on a larger acquisition with the same microscope (ngff-fuse illumination "
                    "OTHER --out profiles.ome.zarr) and give them with --flatfield/--darkfield")
            spreads.append(round(100 * spread, 2))
        elif dark is None:
            dark = np.zeros(shape, np.float32)
        if not np.min(flat) / np.mean(flat) >= MIN_FLAT:
            raise InputError(f"{tileset.name}: channel {tileset.channel_names[c]}: the flat-field falls to "
                             f"{100 * np.min(flat) / np.mean(flat):.1f} % of its mean; give a profile "
                             "made for these tiles, or --flatfield auto")
        flats.append(flat)
        darks.append(dark)
    method = {"method": "ngff-fuse BaSiC-style (median over tiles + overlap constraints)"
              if auto_flat or auto_dark else "given profiles",
              **options.to_metadata(), "tiles_sampled": len(indices),
              "overlapping_pairs": len(pairs[0]),
              **({"split_half_percent": spreads} if spreads else {})}
    return Profiles(np.stack(flats), np.stack(darks), method)
