"""Global optimisation: one position correction per tile from the accepted pairwise shifts.

Unknowns are corrections c_i (px, (z, y, x)) to the stage positions. An accepted link (a, b)
with measured deviation s_ab from its stage offset asks for c_b - c_a = s_ab, weighted by its
score. The solve runs in two rounds (BigStitcher's "two-round" global optimisation):

1. Image round: weighted least squares over the accepted links, each connected group of
   linked tiles on its own (a sparse graph-Laplacian system, grounded at one tile per group,
   so thousands of tiles solve in milliseconds). Links whose residual stays large
   (> max(MIN_RESIDUAL_PX, 3 robust sigmas)) contradict the others around a loop: they are
   dropped, the locally worst first, and the round repeats (BigStitcher's iterative removal).
2. Stage round: each group then moves rigidly, as one body, so that across every compared pair
   between two groups the stage's relative offset is kept on average. A tile without accepted
   links is a group of one, so it follows the mean correction of its neighbours, and a group
   linked only within itself keeps its stage offsets to the tiles around it: neither drifts
   nor jumps. The stage is a prior only where the images say nothing, and biases nothing else.

Tiles that no stage pair joins to the largest group (islands of the layout) move as a body
with the largest group's mean correction, keeping their stage offsets to it. Gauge: the mean
correction of all tiles is zero, so the fused mosaic stays centred where the stage put it (a
common offset is invisible to images).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import spsolve

#: Residual (px) below which a link is never called inconsistent.
MIN_RESIDUAL_PX = 2.0
#: Robust sigmas (1.4826 x median absolute residual) beyond which a link is dropped.
RESIDUAL_SIGMAS = 3.0


@dataclass(frozen=True)
class Solution:
    corrections: np.ndarray  # (n_tiles, 3) px
    kept: np.ndarray  # (n_links,) bool: accepted links that survived the consistency check
    residuals: np.ndarray  # (n_links,) px: |c_b - c_a - shift| for every link
    groups: np.ndarray  # (n_tiles,) group label of the image round (tiles linked by kept links)


def _components(n: int, edges: np.ndarray) -> np.ndarray:
    graph = sparse.coo_matrix(
        (np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)
    ) if len(edges) else sparse.coo_matrix((n, n))
    return connected_components(graph, directed=False)[1]


def solve_graph(n: int, edges: np.ndarray, values: np.ndarray, weights: np.ndarray):
    """Weighted least squares for x (n, 3) with x[b] - x[a] ~ value per edge (a, b).

    Each connected component is grounded at its lowest node (x = 0 there); returns x and the
    component label of every node.
    """
    labels = _components(n, edges)
    x = np.zeros((n, 3))
    if not len(edges):
        return x, labels
    a, b = edges[:, 0], edges[:, 1]
    laplacian = sparse.coo_matrix(
        (np.concatenate([weights, weights, -weights, -weights]),
         (np.concatenate([a, b, a, b]), np.concatenate([a, b, b, a]))),
        shape=(n, n),
    ).tocsc()
    rhs = np.zeros((n, 3))
    np.add.at(rhs, b, weights[:, None] * values)
    np.add.at(rhs, a, -weights[:, None] * values)
    _, first = np.unique(labels, return_index=True)
    free = np.setdiff1d(np.arange(n), first)
    if len(free):
        reduced = laplacian[free][:, free]
        x[free] = np.asarray(spsolve(reduced, rhs[free])).reshape(len(free), 3)
    return x, labels


def _residuals(x: np.ndarray, edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    if not len(edges):
        return np.zeros(0)
    return np.linalg.norm(x[edges[:, 1]] - x[edges[:, 0]] - values, axis=1)


def _worst_nearby(edges: np.ndarray, residual: np.ndarray, limit: float, n: int) -> np.ndarray:
    """Links over the limit that are the worst within two links of either of their tiles.

    One bad link inflates the residuals of the links around it (across a grid's square of four
    links, two hops), so only the locally worst go per round; bad links far apart go in the
    same round, so the rounds grow with the density of bad links, not their number.
    """
    a, b = edges[:, 0], edges[:, 1]
    over = np.where(residual > limit, residual, 0.0)
    near = np.zeros(n)  # worst residual of a link at each tile
    np.maximum.at(near, a, over)
    np.maximum.at(near, b, over)
    wider = near.copy()  # ... or at a tile one link away
    np.maximum.at(wider, a, near[b])
    np.maximum.at(wider, b, near[a])
    return (over > 0) & (over >= wider[a]) & (over >= wider[b])


def solve(
    n_tiles: int, links: np.ndarray, shifts: np.ndarray, weights: np.ndarray, accepted: np.ndarray
) -> Solution:
    """Corrections for every tile. `links` (m, 2) are all compared pairs, `shifts` (m, 3)
    their measured deviations (px), `accepted` which of them the pixels support."""
    links = np.asarray(links, dtype=np.int64).reshape(-1, 2)
    kept = np.asarray(accepted, dtype=bool).copy()
    while True:
        local, groups = solve_graph(n_tiles, links[kept], shifts[kept], weights[kept])
        residual = _residuals(local, links[kept], shifts[kept])
        if not len(residual):
            break
        limit = max(MIN_RESIDUAL_PX, RESIDUAL_SIGMAS * 1.4826 * float(np.median(residual)))
        if residual.max() <= limit:
            break
        kept[np.flatnonzero(kept)[_worst_nearby(links[kept], residual, limit, n_tiles)]] = False
    # Stage round: groups are bodies; across each stage pair (a in g, b in h) keep the stage's
    # relative offset, t_h - t_g ~ local_a - local_b, with equal weight per pair.
    across = links[groups[links[:, 0]] != groups[links[:, 1]]]
    n_groups = int(groups.max()) + 1 if n_tiles else 0
    body, _ = solve_graph(
        n_groups,
        groups[across],
        local[across[:, 0]] - local[across[:, 1]],
        np.ones(len(across)),
    )
    corrections = _gauge(local + body[groups], links, groups)
    return Solution(
        corrections=corrections,
        kept=kept,
        residuals=_residuals(corrections, links, shifts),
        groups=groups,
    )


def largest_group(groups: np.ndarray) -> int:
    """The label of the group with the most tiles (the lowest label among equals)."""
    return int(np.argmax(np.bincount(groups))) if len(groups) else 0


def _gauge(corrections: np.ndarray, links: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Tiles that no stage pair joins to the largest group (another island of the layout)
    take its mean correction as a body, so they keep their stage offsets to it; then the
    mean correction of all tiles is zero."""
    if not len(corrections):
        return corrections
    islands = _components(len(corrections), links)
    main = groups == largest_group(groups)
    target = corrections[main].mean(axis=0)
    out = corrections.copy()
    for island in np.unique(islands):
        members = islands == island
        if not (members & main).any():
            out[members] += target - corrections[members].mean(axis=0)
    return out - out.mean(axis=0)
