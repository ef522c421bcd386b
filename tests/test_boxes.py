"""The one pair finder: every pair of boxes that meet (grown by a margin), as brute force finds."""

from __future__ import annotations

import numpy as np
import pytest

from ngff_fuse.boxes import meeting_pairs


@pytest.mark.parametrize("margin", [0, 3, (0, 2.5, 7)])
@pytest.mark.parametrize("seed", range(5))
def test_meeting_pairs_are_exactly_the_pairs_a_brute_force_search_finds(seed, margin):
    rng = np.random.default_rng(seed)
    low = rng.integers(-50, 50, size=(60, 3)).astype(float)
    low[:, 0] = rng.integers(0, 3, size=60) * (seed % 2)  # some sets flat in z, some not
    if seed >= 3:
        low += rng.random(low.shape)  # stage positions between pixels
    stop = low + rng.integers(1, 30, size=(60, 3))
    grow = np.broadcast_to(np.asarray(margin, dtype=float), (3,))
    expected = [
        (i, j) for i in range(60) for j in range(i + 1, 60)
        if np.all(np.minimum(stop[i], stop[j]) + grow > np.maximum(low[i], low[j]))
    ]
    a, b = meeting_pairs(low, stop, margin)
    assert list(zip(a.tolist(), b.tolist())) == expected  # each pair once, a < b, in order


def test_fewer_than_two_boxes_meet_nothing():
    for n in (0, 1):
        a, b = meeting_pairs(np.zeros((n, 3)), np.ones((n, 3)))
        assert a.size == b.size == 0
