"""How a fused mosaic treats tiles that disagree: measures shared by tests and benchmarks."""

from __future__ import annotations

import numpy as np


def ghost(fused: np.ndarray, tiles) -> float:
    """Mean distance to the nearer tile value over the mean disagreement, two-tile pixels."""
    count = np.zeros(fused.shape, int)
    for data, (y, x) in tiles:
        count[y:y + data.shape[0], x:x + data.shape[1]] += 1
    near = disagree = 0.0
    for i, (a, (ay, ax)) in enumerate(tiles):
        for b, (by, bx) in tiles[i + 1:]:
            y0, x0 = max(ay, by), max(ax, bx)
            y1, x1 = min(ay + a.shape[0], by + b.shape[0]), min(ax + a.shape[1], bx + b.shape[1])
            if y1 <= y0 or x1 <= x0:
                continue
            only = count[y0:y1, x0:x1] == 2
            va = a[y0 - ay:y1 - ay, x0 - ax:x1 - ax][only]
            vb = b[y0 - by:y1 - by, x0 - bx:x1 - bx][only]
            f = fused[y0:y1, x0:x1][only]
            near += np.minimum(abs(f - va), abs(f - vb)).sum()
            disagree += abs(va - vb).sum()
    return near / disagree
